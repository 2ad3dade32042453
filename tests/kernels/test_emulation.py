"""The CPU emulation of the CUDA execution model (kernels/testing/emulation_runtime.h): what it must catch
in a kernel before a GPU ever runs it, shown on small kernels written for the purpose.

Real block sizes (every thread of every block runs, with its own indices), a real barrier (a
missing one shows as a race), a barrier not every thread reaches (reported with its line, not
a hang), poisoned shared memory (reading it before writing shows), real atomics,
flush-to-zero floats (as CuPy's `-ftz=true`), and which kernels of the project run threaded.
"""
import shutil

import numpy as np
import pytest

from attention_swap_reid.kernels import cuda_sources
from attention_swap_reid.kernels.testing.emulation_build import POISON, EmulationError, block_level_kernels

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="the CUDA emulation needs g++")

SOURCE = r"""
typedef unsigned char u8;

// out[4 * g + (0..3)] = blockIdx.x, threadIdx.x, blockDim.x, gridDim.x of global thread g
extern "C" __global__ void indices(int* out) {
  long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  out[4 * g] = blockIdx.x, out[4 * g + 1] = threadIdx.x, out[4 * g + 2] = blockDim.x, out[4 * g + 3] = gridDim.x;
}

// Every thread adds 1 to a block total in shared memory; thread 0 stores it: needs both barriers.
extern "C" __global__ void block_sum(int barriers, int* out) {
  __shared__ int total;
  if (threadIdx.x == 0) total = 0;
  if (barriers) __syncthreads();
  for (int k = 0; k < 200; ++k) atomicAdd(&total, 1);
  if (barriers) __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

// Threads below `cut` reach the barrier, the others return.
extern "C" __global__ void early_return(int cut, int* out) {
  if ((int)threadIdx.x >= cut) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// Even threads wait at one barrier, odd ones at another.
extern "C" __global__ void two_barriers(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

// Thread 0 reads shared memory nobody wrote.
extern "C" __global__ void uninitialized(int* out) {
  __shared__ int never_written[4];
  if (threadIdx.x == 0) out[blockIdx.x] = never_written[blockIdx.x % 4];
}

// A grid-stride kernel that calls __syncthreads() through a device function.
__device__ void wait_for_block() { __syncthreads(); }
extern "C" __global__ void hidden_barrier(int* out) {
  wait_for_block();
  out[threadIdx.x] = 1;
}

// out = a * b, in float32.
extern "C" __global__ void product(const float* a, const float* b, int n, float* out) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) out[i] = a[i] * b[i];
}
"""


@pytest.fixture
def kernels(emulated):
    module = emulated.RawModule(code=SOURCE, options=cuda_sources.NVRTC_OPTIONS)
    return module.get_function


def test_every_thread_of_every_block_runs_with_its_own_indices(emulated, kernels):
    grid, block = 3, 96
    out = emulated.asarray(np.full(4 * grid * block, -1, np.int32))
    kernels("indices")((grid,), (block,), (out,))
    got = emulated.asnumpy(out).reshape(grid * block, 4)
    g = np.arange(grid * block)
    assert np.array_equal(got, np.stack([g // block, g % block, np.full_like(g, block), np.full_like(g, grid)], 1))


def test_shared_memory_atomics_and_barriers_make_a_block_total(emulated, kernels):
    out = emulated.asarray(np.zeros(4, np.int32))
    kernels("block_sum")((4,), (128,), (np.int32(1), out))
    assert emulated.asnumpy(out).tolist() == [128 * 200] * 4


def test_without_barriers_the_block_total_is_wrong(emulated, kernels):
    """The race a missing __syncthreads() opens: thread 0 reads the total before the others add
    to it (or zeroes it after they did). Real threads interleave, so it shows within a few tries."""
    wrong = 0
    for _ in range(5):
        out = emulated.asarray(np.zeros(4, np.int32))
        kernels("block_sum")((4,), (128,), (np.int32(0), out))
        wrong += sum(v != 128 * 200 for v in emulated.asnumpy(out).tolist())
    assert wrong > 0


def test_a_barrier_some_threads_skip_is_reported_with_its_line(emulated, kernels):
    out = emulated.asarray(np.zeros(64, np.int32))
    with pytest.raises(EmulationError, match=r"early_return <<<1, 64>>>: block 0: __syncthreads\(\) at \S+:\d+ reached "
                                             r"by 40 of 64 threads \(the others returned"):
        kernels("early_return")((1,), (64,), (np.int32(40), out))
    kernels("early_return")((1,), (64,), (np.int32(64), out))  # everyone: fine
    assert emulated.asnumpy(out).tolist() == [1] * 64


def test_threads_at_different_barriers_are_reported(emulated, kernels):
    with pytest.raises(EmulationError, match=r"threads wait at different barriers, __syncthreads\(\) at \S+:\d+ and "
                                             r"at \S+:\d+"):
        kernels("two_barriers")((1,), (32,), (emulated.asarray(np.zeros(32, np.int32)),))


def test_shared_memory_starts_poisoned_in_every_block(emulated, kernels):
    out = emulated.asarray(np.zeros(6, np.int32))
    kernels("uninitialized")((6,), (32,), (out,))
    poison = np.frombuffer(bytes([POISON] * 4), np.int32)[0]
    assert emulated.asnumpy(out).tolist() == [poison] * 6


def test_new_device_arrays_start_poisoned(emulated):
    assert emulated.asnumpy(emulated.empty((3, 2), np.uint8)).tolist() == [[POISON] * 2] * 3


def test_a_barrier_in_a_kernel_classified_as_grid_stride_is_an_error(emulated, kernels):
    """`hidden_barrier` reaches its barrier through a device function: it is block-level, so it
    runs threaded; if the classification missed it, running it thread after thread says so."""
    assert "hidden_barrier" in block_level_kernels(SOURCE)
    out = emulated.asarray(np.zeros(32, np.int32))
    kernels("hidden_barrier")((1,), (32,), (out,))
    assert emulated.asnumpy(out).tolist() == [1] * 32
    from attention_swap_reid.kernels.testing import emulation_build

    library = emulation_build.Library(SOURCE, emulated.RawModule.keywords["build_dir"])
    sequential = library.launcher("product")  # a grid-stride kernel, run thread after thread
    library.block_level = frozenset()
    with pytest.raises(EmulationError, match=r"__syncthreads\(\) at \S+:\d+ in a kernel run thread after thread"):
        library.launcher("hidden_barrier")(1, 32, [out.ctypes.data], False)
    a = np.ones(4, np.float32)
    result = np.zeros(4, np.float32)
    sequential(1, 32, [a.ctypes.data, a.ctypes.data, np.int32(4), result.ctypes.data], False)
    assert result.tolist() == [1.0] * 4


def test_floats_flush_denormals_to_zero_as_cupy_compiles_them(emulated, kernels):
    """CuPy compiles with -ftz=true: a float32 result below 2^-126 is 0, and so is a denormal
    input. The emulation runs its threads so; NumPy (the calling thread) keeps denormals."""
    a = np.array([1e-20, 1e-30, 2.0, np.float32(1e-40)], np.float32)  # the last one is a denormal
    b = np.array([1e-20, 1e-10, 3.0, 1e10], np.float32)
    out = emulated.asarray(np.zeros(4, np.float32))
    kernels("product")((1,), (32,), (emulated.asarray(a), emulated.asarray(b), np.int32(4), out))
    assert emulated.asnumpy(out).tolist() == [0.0, 0.0, 6.0, 0.0]
    assert (a * b)[1] > 0 and (a * b)[3] > 0  # NumPy's own result, unchanged by the emulation


def test_the_block_level_kernels_of_the_program():
    """The kernels whose threads cooperate (barriers, shared memory): run threaded at their real
    block size by the emulation; every other kernel runs thread after thread."""
    assert block_level_kernels(cuda_sources.program()) == {"roi_rows", "roi_boxes", "roi_keys", "choose_donors",
                                                           "pyramid_top"}


TRACED = r"""
// Reads every other float of `a` (n of them), writes the first n / 4 floats of `out`.
extern "C" __global__ void strided(const float* a, int n, float* out) {
  __shared__ float staged[256];
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    staged[threadIdx.x] = a[2 * i];
    __syncthreads();
    if (i < n / 4) out[i] = staged[threadIdx.x] + 1.0f;
    __syncthreads();
  }
}
"""


def test_a_traced_launch_counts_the_sectors_it_touched(tmp_path):
    """The "trace" build (benchmarks/bytes_moved.py): the 32-byte sectors of a launch's arrays
    read and written, not the shared memory nor the stack; threaded kernels included."""
    from attention_swap_reid.kernels.testing.emulation import installed, make_module

    with installed(make_module(tmp_path, sanitizer="trace")) as cp:
        kernel = cp.RawModule(code=TRACED, options=cuda_sources.NVRTC_OPTIONS).get_function("strided")
        a = cp.asarray(np.arange(4096, dtype=np.float32))  # 16 KB: 512 sectors, every one read
        out = cp.asarray(np.zeros(2048, np.float32))  # 512 floats written: 64 sectors
        with cp.counting() as recorder:
            kernel((4,), (256,), (a, np.int32(2048), out))
    def sectors(address: int, nbytes: int) -> int:  # of 32 bytes, spanned by [address, address + nbytes)
        return ((address + nbytes - 1) >> 5) - (address >> 5) + 1

    assert recorder.traffic == [("strided", 32 * sectors(a.ctypes.data, 4096 * 4), 32 * sectors(out.ctypes.data, 2048))]
    assert cp.asnumpy(out)[:512].tolist() == (np.arange(512) * 2 + 1.0).tolist()
