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


# ---- CUDA tensors: torch's memory and stream (on the CPU emulation) ----------------------------

@pytest.fixture
def cuda_tensors(emulated, monkeypatch):
    """CPU tensors posing as CUDA tensors of device "cpu" whose current stream is 0x5EED: what
    the cupy backend does with CUDA tensors, run on the CPU emulation (kernels/testing/emulation.py)."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from attention_swap_reid.kernels import arrays, augment

    for module in (arrays, augment):
        monkeypatch.setattr(module, "torch_on_gpu", lambda t: True)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: SimpleNamespace(cuda_stream=0x5EED))
    return torch


def test_cuda_tensors_are_augmented_in_torchs_memory_on_torchs_stream(emulated, cuda_tensors, make_batch,
                                                                     monkeypatch):
    """Every device allocation of a call goes through torch's caching allocator (so torch counts
    and reuses it), every device operation is queued on torch's current stream, the images come
    back as a view of a tensor torch allocated (so `record_stream` applies to it), and the
    caller's own CuPy allocator is left as it was. Bit-exact with the numpy backend."""
    torch = cuda_tensors
    from attention_swap_reid.kernels import AttentionAugment, AugmentConfig, Tail, arrays
    from attention_swap_reid.kernels.testing.emulation_device import POOL

    monkeypatch.setattr(arrays, "_TORCH_OWNED", {})  # every tensor torch's allocator makes, kept
    d = make_batch(12, 64, 32, seed=3, ids=6)
    config = AugmentConfig(p=1.0, bank_size=8, dilate=9, min_area_ratio=0.5, min_iou=0.3)
    rng = np.random.default_rng(0)
    tail = dict(flip=rng.integers(0, 2, 12).astype(np.int32), crop_anchor=np.zeros((12, 2), np.float32),
                erase_anchor=np.zeros((12, 2), np.float32), erase_shape=np.zeros((12, 2), np.float32))
    users_allocator = object()
    emulated.cuda.set_allocator(users_allocator)  # a caller's process-wide choice: never used, never replaced
    try:
        gpu = AttentionAugment(config, backend="cupy")
        with emulated.counting() as recorder:
            out = gpu(*(torch.from_numpy(d[k]) for k in ("images", "masks", "pids", "viewpoints")),
                      index=torch.arange(12), tail=Tail(**{k: torch.from_numpy(v) for k, v in tail.items()}))
        assert emulated.cuda.get_allocator() is users_allocator
    finally:
        emulated.cuda.set_allocator(None)
    allocator = arrays.torch_allocator(torch.device("cpu"))
    assert recorder.allocations and all(a is allocator for _, a in recorder.allocations), \
        {a for _, a in recorder.allocations} - {allocator}
    assert POOL not in {a for _, a in recorder.allocations}
    assert recorder.ops and set(recorder.streams) == {0x5EED} and recorder.syncs == []
    owners = {t.untyped_storage().data_ptr() for t in arrays._TORCH_OWNED.values()}
    for name in ("images", "donor", "swapped", "donor_pids"):
        assert getattr(out, name).untyped_storage().data_ptr() in owners, name
    ref = AttentionAugment(config, backend="numpy")(*(d[k] for k in ("images", "masks", "pids", "viewpoints")),
                                                      index=np.arange(12), tail=Tail(**tail))
    assert np.array_equal(out.images.numpy(), ref.images) and np.array_equal(out.donor.numpy(), ref.donor)


def test_cupy_arrays_keep_the_callers_allocator_and_stream(emulated, make_batch):
    """Without torch tensors the backend allocates from the current CuPy allocator and queues
    on the current CuPy stream: the caller's choice."""
    from attention_swap_reid.kernels import AttentionAugment, AugmentConfig

    d = make_batch(8, 64, 32, seed=4)
    args = [emulated.asarray(d[k]) for k in ("images", "masks", "pids", "viewpoints")]
    served = []

    def users_allocator(nbytes):
        memory = np.empty(nbytes, np.uint8)
        served.append(memory)
        return emulated.cuda.MemoryPointer(emulated.cuda.UnownedMemory(memory.ctypes.data, nbytes, memory), 0)

    with emulated.cuda.using_allocator(users_allocator), emulated.cuda.ExternalStream(0xCAFE):
        with emulated.counting() as recorder:
            AttentionAugment(AugmentConfig(p=1.0), backend="cupy")(*args)
    assert {a for _, a in recorder.allocations} == {users_allocator} and len(served) == len(recorder.allocations)
    assert set(recorder.streams) == {0xCAFE}


def test_to_torch_of_torch_memory_is_a_view_of_the_owning_tensor(emulated):
    """A cupy array in memory from `torch_allocator` comes back as a view of the tensor that owns
    the memory, at its offset, with its strides and dtype (torch's memory rules then apply);
    other memory goes through DLPack."""
    torch = pytest.importorskip("torch")
    from attention_swap_reid.kernels import arrays

    with emulated.cuda.using_allocator(arrays.torch_allocator(torch.device("cpu"))):
        a = emulated.empty((4, 6), np.float32)
    a[...] = emulated.asarray(np.arange(24, dtype=np.float32).reshape(4, 6))
    view = a[1:, ::2].T  # an offset, strides, a transpose
    t = arrays.to_torch(view)
    owner = arrays._TORCH_OWNED[a.data.mem.ptr]
    assert t.untyped_storage().data_ptr() == owner.untyped_storage().data_ptr()
    assert t.dtype == torch.float32 and t.tolist() == emulated.asnumpy(view).tolist()
    t[0, 0] = -1.0
    assert float(a[1, 0]) == -1.0
    plain = emulated.asarray(np.arange(3, dtype=np.int64))
    assert arrays.to_torch(plain).tolist() == [0, 1, 2]
