// Square dilation, separable: the cupy side of kernels/dilate.py. Pixels outside the image
// are ignored, as in cv2.dilate's default border.

typedef unsigned char u8;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// Max of row[x - r .. x + r] (clipped to [0, W)).
__device__ u8 row_max(const u8* row, int W, int x, int r) {
  u8 m = 0;
  for (int k = max(x - r, 0); k <= min(x + r, W - 1); ++k) m = row[k] > m ? row[k] : m;
  return m;
}

// dst = max of src over [x - r, x + r] along each row of a (B, H, W) uint8 array.
extern "C" __global__ void max_rows(const u8* src, u8* dst, int B, int H, int W, int r) {
  long long n = (long long)B * H * W;
  GRID_STRIDE(i, n) {
    int x = (int)(i % W);
    dst[i] = row_max(src + (i - x), W, x, r);
  }
}

// dst = max of src over [y - r, y + r] along each column of a (B, H, W) uint8 array.
extern "C" __global__ void max_cols(const u8* src, u8* dst, int B, int H, int W, int r) {
  long long n = (long long)B * H * W;
  GRID_STRIDE(i, n) {
    int y = (int)((i / W) % H);
    const u8* col = src + (i - (long long)y * W);
    u8 m = 0;
    for (int k = max(y - r, 0); k <= min(y + r, H - 1); ++k) m = col[(long long)k * W] > m ? col[(long long)k * W] : m;
    dst[i] = m;
  }
}
