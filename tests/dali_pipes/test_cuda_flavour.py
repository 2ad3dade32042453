"""The CUDA-major check of torch against DALI and CuPy: one warning naming the extra, from
version metadata alone (faked here: no GPU needed)."""
import subprocess
import sys
import warnings

import pytest

from attention_swap_reid.dali_pipes import cuda_flavour
from attention_swap_reid.dali_pipes.cuda_flavour import CudaFlavourWarning, mismatch

CUDA12 = {"DALI": ("nvidia-dali-cuda120", 12), "CuPy": ("cupy-cuda12x", 12)}


def test_matching_majors_and_cpu_torch_say_nothing():
    assert mismatch("2.9.1", "12.8", CUDA12) is None
    assert mismatch("2.13.0+cpu", None, CUDA12) is None
    assert mismatch("2.14.1", "13.0", {}) is None  # neither installed: the import of DALI says so


def test_a_mismatch_names_the_packages_and_the_extra():
    assert mismatch("2.14.1", "13.0", CUDA12) == (
        "torch 2.14.1 is built for CUDA 13.0, but cupy-cuda12x for CUDA 12, nvidia-dali-cuda120 for CUDA 12: the "
        "process would load two CUDA runtimes; install the [cuda13] extra instead: pip uninstall cupy-cuda12x "
        "nvidia-dali-cuda120, then pip install -e '.[cuda13]' from the project's checkout (or make setup CUDA=13)")
    only_dali = mismatch("2.9.1", "12.8", {"DALI": ("nvidia-dali-cuda130", 13), "CuPy": ("cupy-cuda12x", 12)})
    assert "but nvidia-dali-cuda130 for CUDA 13: " in only_dali and "[cuda12]" in only_dali
    assert "install a torch built for one of them" in mismatch("2.1.0", "11.8", CUDA12)


def test_installed_builds_reads_the_distribution_names(monkeypatch):
    class Dist:
        def __init__(self, name):
            self.metadata = {"Name": name}
    names = ["numpy", "nvidia_dali_cuda120", "cupy-cuda13x", "nvidia-dali-tf-plugin-cuda120", "cupy"]
    monkeypatch.setattr(cuda_flavour.importlib.metadata, "distributions", lambda: [Dist(n) for n in names])
    assert cuda_flavour.installed_builds() == {"DALI": ("nvidia-dali-cuda120", 12), "CuPy": ("cupy-cuda13x", 13)}


def test_warn_on_mismatch_is_one_warning(monkeypatch):
    import torch
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(cuda_flavour, "installed_builds", lambda: {"DALI": ("nvidia-dali-cuda130", 13),
                                                                   "CuPy": ("cupy-cuda13x", 13)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cuda_flavour.warn_on_mismatch()
    assert len(caught) == 1 and caught[0].category is CudaFlavourWarning
    assert "install the [cuda12] extra instead" in str(caught[0].message)


@pytest.mark.slow
@pytest.mark.parametrize("same", [False, True])
def test_importing_the_loader_warns_once_on_a_mismatch(same):
    """This environment's DALI and CuPy against a torch that says it is built for their CUDA
    major (`same`) or for the other extra's."""
    majors = {cuda for _, cuda in cuda_flavour.installed_builds().values()}
    if len(majors) != 1 or not majors <= set(cuda_flavour.EXTRAS):
        pytest.skip(f"needs DALI and CuPy of one of the extras' CUDA majors, found {majors}")
    major = majors.pop()
    torch_major = major if same else next(m for m in cuda_flavour.EXTRAS if m != major)
    script = ("import warnings, torch; warnings.simplefilter('always'); "
              f"torch.version.cuda = '{torch_major}.0'; import attention_swap_reid.dali_pipes.loader")
    err = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stderr
    assert err.count("CudaFlavourWarning") == (0 if same else 1), err
    if not same:
        assert f"[cuda{torch_major}] extra" in err and f"for CUDA {major}" in err
