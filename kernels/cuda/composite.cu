// Compositing: the cupy side of kernels/composite.py.

typedef unsigned char u8;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// out = rois ? images : backgrounds, per pixel of (pixels, 3) uint8 arrays.
extern "C" __global__ void composite(const u8* images, const u8* rois, const u8* backgrounds, long long pixels,
                                     u8* out) {
  GRID_STRIDE(p, pixels) {
    const u8* src = (rois[p] ? images : backgrounds) + 3 * p;
    out[3 * p] = src[0];
    out[3 * p + 1] = src[1];
    out[3 * p + 2] = src[2];
  }
}
