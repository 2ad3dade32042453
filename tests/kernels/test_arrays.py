"""Array-library plumbing (kernels/arrays.py): detection without imports, DLPack round trips."""
import sys

import numpy as np
import pytest

from attention_swap_reid.kernels.arrays import array_module, from_torch, is_cupy, library_of, to_torch


def test_numpy_detection():
    a = np.zeros(3)
    assert library_of(a) == "numpy" and not is_cupy(a) and array_module(a) is np
    with pytest.raises(TypeError, match="got list"):
        library_of([1, 2])


def test_importing_kernels_touches_no_gpu_library():
    code = "import sys, kernels; print('cupy' in sys.modules, 'torch' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_torch_round_trip_shares_memory():
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.int64)
    assert library_of(t) == "torch"
    a = from_torch(t)
    assert isinstance(a, np.ndarray) and a.tolist() == list(range(6))
    back = to_torch(a)
    back[0] = 42
    assert t[0].item() == 42
