// Donor draws: the cupy side of kernels/donors.py. The hash repeats kernels/rng.py exactly
// (splitmix64 finalizer, uint64 arithmetic wrapping), so both backends draw the same donors.

typedef unsigned long long u64;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

#define GOLDEN 0x9E3779B97F4A7C15ull

__device__ u64 mix(u64 z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

__device__ u64 sample_hash(u64 key, long long index, u64 stream) {
  u64 h = mix((key ^ (u64)index) + GOLDEN);
  return mix((h ^ stream) + GOLDEN);
}

// The swap decision of a sample (stream 0): u < p with u uniform in [0, 1) from 53 bits.
__device__ bool wants_swap(u64 key, long long index, double p) {
  double u = (double)(sample_hash(key, index, 0) >> 11) * (1.0 / 9007199254740992.0);
  return u < p;
}

// Which of n > 0 candidates is the donor (stream 1): k = hash % n.
__device__ u64 donor_rank(u64 key, long long index, int n) { return sample_hash(key, index, 1) % (u64)n; }

// Per sample i: wanted = u < p (stream 0); donor = the k-th compatible pool sample in index
// order, k = hash % candidates (stream 1), or -1 when not wanted or without candidates.
extern "C" __global__ void draw_donors(const bool* compat, const long long* index, int B, int N, u64 key,
                                       double p, long long* donor, bool* wanted, int* candidates) {
  GRID_STRIDE(i, B) {
    const bool* row = compat + i * N;
    int n = 0;
    for (int j = 0; j < N; ++j) n += row[j] ? 1 : 0;
    bool want = wants_swap(key, index[i], p);
    long long chosen = -1;
    if (want && n > 0) {
      u64 k = donor_rank(key, index[i], n);
      for (int j = 0; j < N; ++j) {
        if (!row[j]) continue;
        if (k == 0) {
          chosen = j;
          break;
        }
        --k;
      }
    }
    donor[i] = chosen;
    wanted[i] = want;
    candidates[i] = n;
  }
}
