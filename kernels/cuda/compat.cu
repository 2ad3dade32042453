// All-pairs donor compatibility: the cupy side of kernels/compat.py, which states the rules.
// `inter` is the float32 matrix product of the normalized masks (exact counts).

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// The rules for batch sample i and pool sample j: `common` ones shared by their normalized
// masks, `ones_*` ones of each, `same` whether j is i itself. Float64 comparisons.
__device__ bool compatible(double common, double ones_i, double ones_j, int area_i, int area_j, long long pid_i,
                           long long pid_j, long long view_i, long long view_j, bool same, double min_area_ratio,
                           double min_iou, int same_viewpoint) {
  double uni = ones_i + ones_j - common;
  double ai = (double)area_i, aj = (double)area_j;
  bool ok = ai > 0.0 && aj > 0.0 && fmin(ai, aj) >= min_area_ratio * fmax(ai, aj);
  ok = ok && uni > 0.0 && common >= min_iou * uni;
  ok = ok && pid_i != pid_j && !same;
  if (same_viewpoint) ok = ok && (view_i < 0 || view_j < 0 || view_i == view_j);
  return ok;
}

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
    out[t] = compatible((double)inter[t], (double)batch_ones[i], (double)pool_ones[j], batch_areas[i], pool_areas[j],
                        batch_pids[i], pool_pids[j], batch_views[i], pool_views[j], j == i, min_area_ratio, min_iou,
                        same_viewpoint);
  }
}
