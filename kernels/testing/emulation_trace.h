// Counting the global memory a kernel launch touches, for the bytes-moved model of the fused
// path (benchmarks/bytes_moved.py). The CUDA program is compiled with GCC's ThreadSanitizer
// instrumentation, which calls a hook on every memory access; the hooks here (not TSan's
// runtime) mark the 32-byte sectors of the launch's arrays that were read and written, in one
// bitmap per array range the Python side registers before the launch (emu_trace_ranges) and
// reads after it (emu_trace_counts). Accesses outside those ranges (the stack, __shared__
// memory, the runtime's own data) are not counted. The hooks are thread-safe (atomic ORs): the
// block-level kernels run threaded here too.
#include <cstdint>
#include <cstdlib>
#include <cstring>

// No code these functions run may be instrumented (it would call them back): no templates from
// the standard library, only plain C.
#define EMU_UNTRACED __attribute__((no_sanitize("thread"), noinline))

namespace emu_trace {
struct Range {
  uintptr_t start, end;          // first byte, one past the last
  uint64_t *read, *written;      // one bit per 32-byte sector from start >> 5
  size_t words;
};
static const int MAX_RANGES = 64;
static Range ranges[MAX_RANGES];  // sorted, disjoint; set between launches only
static int count = 0;

EMU_UNTRACED static void mark(uintptr_t address, size_t size, bool write) {
  int lo = 0, hi = count;
  while (lo < hi) {  // the last range starting at or before `address`
    int mid = (lo + hi) / 2;
    if (ranges[mid].start <= address) lo = mid + 1; else hi = mid;
  }
  if (lo == 0) return;
  Range* range = &ranges[lo - 1];
  if (address >= range->end) return;
  uintptr_t last = address + size - 1 < range->end ? address + size - 1 : range->end - 1;
  for (uintptr_t sector = address >> 5; sector <= last >> 5; ++sector) {
    uintptr_t bit = sector - (range->start >> 5);
    uint64_t* word = (write ? range->written : range->read) + bit / 64;
    __atomic_fetch_or(word, uint64_t(1) << (bit % 64), __ATOMIC_RELAXED);
  }
}
}  // namespace emu_trace

// Register the `n` (at most 64) byte ranges [starts[k], starts[k] + sizes[k]) of the next
// launch (merged where they overlap); clears every count.
extern "C" EMU_UNTRACED void emu_trace_ranges(int n, const uint64_t* starts, const uint64_t* sizes) {
  using emu_trace::count;
  using emu_trace::ranges;
  for (int k = 0; k < count; ++k) free(ranges[k].read), free(ranges[k].written);
  count = 0;
  for (int k = 0; k < n && count < emu_trace::MAX_RANGES; ++k) {  // insertion by start
    if (!sizes[k]) continue;
    int at = count++;
    while (at > 0 && ranges[at - 1].start > starts[k]) ranges[at] = ranges[at - 1], --at;
    ranges[at] = {starts[k], starts[k] + sizes[k], nullptr, nullptr, 0};
  }
  int merged = 0;
  for (int k = 0; k < count; ++k) {
    if (merged && ranges[k].start <= ranges[merged - 1].end) {
      if (ranges[k].end > ranges[merged - 1].end) ranges[merged - 1].end = ranges[k].end;
      continue;
    }
    ranges[merged++] = ranges[k];
  }
  count = merged;
  for (int k = 0; k < count; ++k) {
    ranges[k].words = ((ranges[k].end - 1) / 32 - ranges[k].start / 32) / 64 + 1;
    ranges[k].read = (uint64_t*)calloc(ranges[k].words, sizeof(uint64_t));
    ranges[k].written = (uint64_t*)calloc(ranges[k].words, sizeof(uint64_t));
  }
}

// The sectors of the registered ranges read and written since: counts[0], counts[1].
extern "C" EMU_UNTRACED void emu_trace_counts(uint64_t* counts) {
  counts[0] = counts[1] = 0;
  for (int k = 0; k < emu_trace::count; ++k)
    for (size_t w = 0; w < emu_trace::ranges[k].words; ++w) {
      counts[0] += __builtin_popcountll(emu_trace::ranges[k].read[w]);
      counts[1] += __builtin_popcountll(emu_trace::ranges[k].written[w]);
    }
}

// The instrumentation's entry points.
#define EMU_ACCESS(kind, bytes, write) \
  extern "C" EMU_UNTRACED void __tsan_##kind##bytes(void* p) { emu_trace::mark((uintptr_t)p, bytes, write); }
EMU_ACCESS(read, 1, false)
EMU_ACCESS(read, 2, false)
EMU_ACCESS(read, 4, false)
EMU_ACCESS(read, 8, false)
EMU_ACCESS(read, 16, false)
EMU_ACCESS(write, 1, true)
EMU_ACCESS(write, 2, true)
EMU_ACCESS(write, 4, true)
EMU_ACCESS(write, 8, true)
EMU_ACCESS(write, 16, true)
EMU_ACCESS(unaligned_read, 2, false)
EMU_ACCESS(unaligned_read, 4, false)
EMU_ACCESS(unaligned_read, 8, false)
EMU_ACCESS(unaligned_read, 16, false)
EMU_ACCESS(unaligned_write, 2, true)
EMU_ACCESS(unaligned_write, 4, true)
EMU_ACCESS(unaligned_write, 8, true)
EMU_ACCESS(unaligned_write, 16, true)
extern "C" EMU_UNTRACED void __tsan_read_range(void* p, unsigned long n) { emu_trace::mark((uintptr_t)p, n, false); }
extern "C" EMU_UNTRACED void __tsan_write_range(void* p, unsigned long n) { emu_trace::mark((uintptr_t)p, n, true); }
extern "C" EMU_UNTRACED void __tsan_init() {}
extern "C" EMU_UNTRACED void __tsan_func_entry(void*) {}
extern "C" EMU_UNTRACED void __tsan_func_exit() {}
extern "C" EMU_UNTRACED void __tsan_vptr_update(void**, void*) {}
extern "C" EMU_UNTRACED void __tsan_vptr_read(void**) {}

// Atomics: the operation itself (sequentially consistent), and the access it makes.
#define EMU_ATOMICS(bits, T)                                                                                   \
  extern "C" EMU_UNTRACED T __tsan_atomic##bits##_load(const volatile T* a, int) {                           \
    emu_trace::mark((uintptr_t)a, sizeof(T), false);                                                         \
    return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                             \
  }                                                                                                          \
  extern "C" EMU_UNTRACED void __tsan_atomic##bits##_store(volatile T* a, T v, int) {                        \
    emu_trace::mark((uintptr_t)a, sizeof(T), true);                                                          \
    __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                                                \
  }                                                                                                          \
  extern "C" EMU_UNTRACED T __tsan_atomic##bits##_fetch_add(volatile T* a, T v, int) {                       \
    emu_trace::mark((uintptr_t)a, sizeof(T), false);                                                         \
    emu_trace::mark((uintptr_t)a, sizeof(T), true);                                                          \
    return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);                                                       \
  }                                                                                                          \
  extern "C" EMU_UNTRACED T __tsan_atomic##bits##_fetch_sub(volatile T* a, T v, int) {                       \
    emu_trace::mark((uintptr_t)a, sizeof(T), false);                                                         \
    emu_trace::mark((uintptr_t)a, sizeof(T), true);                                                          \
    return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST);                                                       \
  }                                                                                                          \
  extern "C" EMU_UNTRACED int __tsan_atomic##bits##_compare_exchange_weak(volatile T* a, T* c, T v, int, int) { \
    emu_trace::mark((uintptr_t)a, sizeof(T), false);                                                         \
    emu_trace::mark((uintptr_t)a, sizeof(T), true);                                                          \
    return __atomic_compare_exchange_n(a, c, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                   \
  }                                                                                                          \
  extern "C" EMU_UNTRACED int __tsan_atomic##bits##_compare_exchange_strong(volatile T* a, T* c, T v, int, int) { \
    emu_trace::mark((uintptr_t)a, sizeof(T), false);                                                         \
    emu_trace::mark((uintptr_t)a, sizeof(T), true);                                                          \
    return __atomic_compare_exchange_n(a, c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                  \
  }
EMU_ATOMICS(8, unsigned char)
EMU_ATOMICS(16, unsigned short)
EMU_ATOMICS(32, int)
EMU_ATOMICS(64, long long)
