// All-pairs donor compatibility: the cupy side of kernels/compat.py, which states the rules.
// `inter` is the float32 matrix product of the normalized masks (exact counts).

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// out[i * N + j]: pool sample j (the batch's B samples first) may donate to batch sample i.
extern "C" __global__ void compatibility(const float* inter, const float* batch_ones, const float* pool_ones,
                                         const int* batch_areas, const int* pool_areas,
                                         const long long* batch_pids, const long long* pool_pids,
                                         const long long* batch_views, const long long* pool_views,
                                         int B, int N, double min_area_ratio, double min_iou, int same_viewpoint,
                                         bool* out) {
  long long n = (long long)B * N;
  GRID_STRIDE(t, n) {
    int i = (int)(t / N), j = (int)(t % N);
    double common = (double)inter[t];
    double uni = (double)batch_ones[i] + (double)pool_ones[j] - common;
    double ai = (double)batch_areas[i], aj = (double)pool_areas[j];
    bool ok = ai > 0.0 && aj > 0.0 && fmin(ai, aj) >= min_area_ratio * fmax(ai, aj);
    ok = ok && uni > 0.0 && common >= min_iou * uni;
    ok = ok && batch_pids[i] != pool_pids[j] && j != i;
    if (same_viewpoint) {
      long long vi = batch_views[i], vj = pool_views[j];
      ok = ok && (vi < 0 || vj < 0 || vi == vj);
    }
    out[t] = ok;
  }
}
