// The CUDA execution model on the CPU, for the kernels of kernels/cuda/*.cu compiled as plain C++
// (kernels/testing/emulation_build.py puts this header, then the CUDA program, then one launcher per
// kernel into one translation unit).
//
// A launch runs its blocks one after another, each with its real blockDim:
// - threaded: one OS thread per CUDA thread of the block; __syncthreads() is a real barrier
//   that every live thread of the block must reach at the same call site. A barrier that not
//   every thread reaches (some returned, or wait at another __syncthreads()) stops the launch
//   with a message instead of hanging; so does a barrier nobody leaves within a minute.
// - sequential: the threads of a block one after another on the calling thread, for kernels
//   without barriers or shared memory (the same result, without the cost of OS threads); a
//   __syncthreads() there is an error.
// - serial: one thread, blockDim = gridDim = 1: the kernels' thread- and block-stride loops do
//   all the work (fast; only for kernels that need no block size: emulation_build.py runs the
//   block-level ones threaded in any case).
// Before each block, the block's __shared__ memory (every __shared__ variable lives in section
// "emu_shared") is filled with a poison byte, so reading it before writing gives garbage.
// Floats run with flush-to-zero and denormals-are-zero (x86 MXCSR), as CuPy's -ftz=true does
// on the GPU. Atomics are real atomics (relaxed, as CUDA's).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>
#include <xmmintrin.h>

struct EmulatedDim {
  unsigned int x, y, z;
};
static thread_local EmulatedDim threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0};
static EmulatedDim blockDim = {1, 1, 1}, gridDim = {1, 1, 1};

#define __global__
#define __device__
#define __shared__ static __attribute__((section("emu_shared")))
#define __syncthreads() emu_syncthreads(__FILE__, __LINE__)

using std::max;
using std::min;

template <class T> static T atomicAdd(T* address, T value) {
  return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}
template <class T> static T atomicMin(T* address, T value) {
  T old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (value < old && !__atomic_compare_exchange_n(address, &old, value, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T> static T atomicMax(T* address, T value) {
  T old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (value > old && !__atomic_compare_exchange_n(address, &old, value, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
static inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

extern char __start_emu_shared[] __attribute__((weak));
extern char __stop_emu_shared[] __attribute__((weak));

enum EmuMode { EMU_SERIAL = 0, EMU_SEQUENTIAL = 1, EMU_THREADED = 2 };

struct EmuAbort {};  // unwinds an emulated thread after the launch has failed

// Launch state. The counters threads wait on are atomics (futex words: a wake-up does not
// queue every thread of the block on a mutex); `mutex` guards the barrier's bookkeeping.
static struct {
  std::mutex launch;  // one launch at a time (Python may call from several threads)
  std::mutex mutex;
  int mode = EMU_SERIAL;
  int poison = 0xA5;
  unsigned int block = 0;  // the block that runs
  int live = 0;            // threads of the block that have not returned
  int arrived = 0;         // threads waiting at the current barrier
  const char* site_file = nullptr;
  int site_line = 0;
  std::atomic<unsigned int> started{0};  // threaded mode: blocks 0 .. started - 1 have been started
  std::atomic<unsigned int> done{0};     // blocks every thread has returned from
  std::atomic<unsigned long> round{0};   // completed barriers
  std::atomic<bool> failed{false};
  char message[512] = "";
} emu;

// Record the launch's first failure (emu.mutex held) and wake every waiting thread.
static void emu_fail_locked(const char* message) {
  if (!emu.failed.load()) std::snprintf(emu.message, sizeof emu.message, "%s", message);
  emu.failed.store(true);
  for (auto* counter : {&emu.started, &emu.done}) {
    counter->fetch_add(1);
    counter->notify_all();
  }
  emu.round.fetch_add(1);
  emu.round.notify_all();
}

// Block until `counter` moves off `seen` (a few yields first: the other threads may be about
// to move it).
template <class T> static void emu_wait_change(std::atomic<T>& counter, T seen) {
  for (int spin = 0; spin < 8 && counter.load(std::memory_order_acquire) == seen; ++spin) std::this_thread::yield();
  counter.wait(seen, std::memory_order_acquire);
}

// The barrier is complete when every thread that has not returned waits at it; if some
// returned, the barrier can never complete: the launch fails (emu.mutex held).
static void emu_check_barrier_locked() {
  if (emu.arrived == 0 || emu.arrived < emu.live) return;
  if (emu.live < (int)blockDim.x) {
    char message[512];
    std::snprintf(message, sizeof message,
                  "block %u: __syncthreads() at %s:%d reached by %d of %d threads (the others returned without it)",
                  emu.block, emu.site_file, emu.site_line, emu.arrived, (int)blockDim.x);
    emu_fail_locked(message);
    return;
  }
  emu.arrived = 0;
  emu.round.fetch_add(1, std::memory_order_release);
  emu.round.notify_all();
}

static void emu_syncthreads(const char* file, int line) {
  if (emu.mode != EMU_THREADED) {
    if (emu.mode == EMU_SERIAL) return;  // one thread: nothing to wait for
    std::lock_guard<std::mutex> lock(emu.mutex);
    char message[512];
    std::snprintf(message, sizeof message, "__syncthreads() at %s:%d in a kernel run thread after thread", file, line);
    emu_fail_locked(message);
    throw EmuAbort();
  }
  unsigned long round;
  {
    std::lock_guard<std::mutex> lock(emu.mutex);
    if (emu.failed.load()) throw EmuAbort();
    if (emu.arrived == 0) {
      emu.site_file = file;
      emu.site_line = line;
    } else if (line != emu.site_line || std::strcmp(file, emu.site_file) != 0) {
      char message[512];
      std::snprintf(message, sizeof message,
                    "block %u: threads wait at different barriers, __syncthreads() at %s:%d and at %s:%d", emu.block,
                    emu.site_file, emu.site_line, file, line);
      emu_fail_locked(message);
      throw EmuAbort();
    }
    ++emu.arrived;
    round = emu.round.load(std::memory_order_relaxed);
    emu_check_barrier_locked();
  }
  while (emu.round.load(std::memory_order_acquire) == round) emu_wait_change(emu.round, round);
  if (emu.failed.load()) throw EmuAbort();
}

static void emu_poison_shared() {
  if (__start_emu_shared != nullptr && __stop_emu_shared > __start_emu_shared)
    std::memset(__start_emu_shared, emu.poison, (size_t)(__stop_emu_shared - __start_emu_shared));
}

// Run one emulated thread's body; a C++ exception other than EmuAbort fails the launch.
static void emu_run_thread(const std::function<void()>& body) {
  try {
    body();
  } catch (const EmuAbort&) {
  } catch (...) {
    std::lock_guard<std::mutex> lock(emu.mutex);
    emu_fail_locked("a C++ exception in an emulated thread");
  }
}

// The threaded mode: blockDim.x OS threads for the whole launch; thread t plays thread t of
// every block, one block after another (the calling thread poisons the shared memory and
// starts each block once every thread has returned from the previous one).
static void emu_run_threaded(unsigned int grid, const std::function<void()>& body) {
  auto worker = [grid, &body](unsigned int t) {
    _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ | DAZ in this (new) thread
    threadIdx = {t, 0, 0};
    for (unsigned int b = 0; b < grid; ++b) {
      for (unsigned int s; (s = emu.started.load(std::memory_order_acquire)) <= b;) emu_wait_change(emu.started, s);
      if (emu.failed.load()) return;
      blockIdx = {b, 0, 0};
      emu_run_thread(body);
      std::lock_guard<std::mutex> lock(emu.mutex);
      if (--emu.live == 0) {
        emu.done.fetch_add(1, std::memory_order_release);
        emu.done.notify_all();
      } else {
        emu_check_barrier_locked();
      }
    }
  };
  emu.started = emu.done = 0;
  std::vector<std::thread> threads;
  threads.reserve(blockDim.x);
  for (unsigned int t = 0; t < blockDim.x; ++t) threads.emplace_back(worker, t);
  for (unsigned int b = 0; b < grid && !emu.failed.load(); ++b) {
    {
      std::lock_guard<std::mutex> lock(emu.mutex);
      emu_poison_shared();
      emu.block = b;
      emu.live = (int)blockDim.x;
      emu.arrived = 0;
    }
    emu.started.store(b + 1, std::memory_order_release);
    emu.started.notify_all();
    for (unsigned int d; (d = emu.done.load(std::memory_order_acquire)) <= b;) emu_wait_change(emu.done, d);
  }
  if (emu.failed.load()) {  // release the threads still waiting for a block
    emu.started.store(grid + 1);
    emu.started.notify_all();
  }
  for (auto& thread : threads) thread.join();
}

// Run `body` (one CUDA thread's work) over a grid of `grid` blocks of `block` threads.
// Returns 0, or 1 with the reason in emu_error().
static int emu_launch(unsigned int grid, unsigned int block, int mode, int poison,
                      const std::function<void()>& body) {
  std::lock_guard<std::mutex> launch(emu.launch);
  emu.mode = mode;
  emu.poison = poison;
  emu.failed = false;
  emu.message[0] = 0;
  if (mode == EMU_SERIAL) grid = block = 1;
  blockDim = {block, 1, 1};
  gridDim = {grid, 1, 1};
  unsigned int csr = _mm_getcsr();
  if (mode == EMU_THREADED) {
    emu_run_threaded(grid, body);
  } else {
    _mm_setcsr(csr | 0x8040);
    for (unsigned int b = 0; b < grid && !emu.failed.load(); ++b) {
      emu_poison_shared();
      blockIdx = {b, 0, 0};
      for (unsigned int t = 0; t < block && !emu.failed.load(); ++t) {
        threadIdx = {t, 0, 0};
        emu_run_thread(body);
      }
    }
    _mm_setcsr(csr);  // the calling (Python) thread gets its own float mode back
  }
  blockIdx = threadIdx = {0, 0, 0};
  return emu.failed.load() ? 1 : 0;
}

extern "C" const char* emu_error() { return emu.message; }
