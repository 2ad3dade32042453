// Pull-push inpainting: the cupy side of kernels/pullpush.py, which states the algorithm.
// Same float operations in the same order as NumPy; build with --fmad=false (no FMA
// contraction). Levels >= 1 are channel-major float32 (4, n, h, w): premultiplied colour, weight.

typedef unsigned char u8;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// From the 4x4 sums of one coarse pixel: colour = S_P / S_w (0 if S_w = 0), weight =
// min(1, S_w * gain_64), level = (colour * weight, weight).
__device__ void store_level(const float* sums, long long i, long long plane, float gain_64, float* colour,
                            float* level) {
  float wsum = sums[3];
  float weight = fminf(wsum * gain_64, 1.0f);
  for (int c = 0; c < 3; ++c) {
    float value = wsum > 0.0f ? sums[c] / wsum : 0.0f;
    colour[c * plane + i] = value;
    level[c * plane + i] = value * weight;
  }
  level[3 * plane + i] = weight;
}

// Level 0 -> 1 from uint8 images (n, H, W, 3) and holes (n, H, W): exact integer 4x4 sums.
extern "C" __global__ void pull_level0(const u8* images, const u8* holes, int n, int H, int W, float gain_64,
                                       float* colour, float* level) {
  const int taps[4] = {1, 3, 3, 1};
  int h1 = (H + 1) / 2, w1 = (W + 1) / 2;
  long long plane = (long long)n * h1 * w1;
  GRID_STRIDE(i, plane) {
    int x = (int)(i % w1), y = (int)((i / w1) % h1);
    long long b = i / ((long long)h1 * w1);
    int s[4] = {0, 0, 0, 0};
    for (int dy = 0; dy < 4; ++dy) {
      int yy = 2 * y - 1 + dy;
      if (yy < 0 || yy >= H) continue;
      for (int dx = 0; dx < 4; ++dx) {
        int xx = 2 * x - 1 + dx;
        if (xx < 0 || xx >= W) continue;
        long long p = (b * H + yy) * W + xx;
        if (holes[p]) continue;
        int k = taps[dy] * taps[dx];
        s[0] += k * images[3 * p];
        s[1] += k * images[3 * p + 1];
        s[2] += k * images[3 * p + 2];
        s[3] += k;
      }
    }
    float sums[4] = {(float)s[0], (float)s[1], (float)s[2], (float)s[3]};
    store_level(sums, i, plane, gain_64, colour, level);
  }
}

// [1, 3, 3, 1] at stride 2 along a row of length w, at coarse x: 3 * (a[2x] + a[2x+1]) + a[2x-1] + a[2x+2].
__device__ float filter_row(const float* row, int w, int x) {
  float s = row[2 * x];
  if (2 * x + 1 < w) s = s + row[2 * x + 1];
  s = s * 3.0f;
  if (x >= 1) s = s + row[2 * x - 1];
  if (x + 1 < (w + 1) / 2) s = s + row[2 * x + 2];
  return s;
}

// Level l (4, n, h, w) -> l + 1 (4, n, ceil(h/2), ceil(w/2)): columns, then rows, as NumPy.
extern "C" __global__ void pull(const float* level, int n, int h, int w, float gain_64, float* colour, float* next) {
  int h2 = (h + 1) / 2, w2 = (w + 1) / 2;
  long long plane_in = (long long)n * h * w, plane = (long long)n * h2 * w2;
  GRID_STRIDE(i, plane) {
    int x = (int)(i % w2), y = (int)((i / w2) % h2);
    long long b = i / ((long long)h2 * w2);
    float sums[4];
    for (int c = 0; c < 4; ++c) {
      const float* img = level + c * plane_in + b * h * w;
      float t = filter_row(img + (long long)(2 * y) * w, w, x);
      if (2 * y + 1 < h) t = t + filter_row(img + (long long)(2 * y + 1) * w, w, x);
      t = t * 3.0f;
      if (y >= 1) t = t + filter_row(img + (long long)(2 * y - 1) * w, w, x);
      if (y + 1 < h2) t = t + filter_row(img + (long long)(2 * y + 2) * w, w, x);
      sums[c] = t;
    }
    store_level(sums, i, plane, gain_64, colour, next);
  }
}

// Bilinear 2x upsampling of a row of length m at fine x (OpenCV INTER_LINEAR geometry).
__device__ float up_row(const float* row, int m, int x) {
  int k = x >> 1;
  if (x & 1) return k == m - 1 ? row[k] * 1.0f : row[k] * 0.75f + row[k + 1] * 0.25f;
  return k == 0 ? row[0] * 1.0f : row[k - 1] * 0.25f + row[k] * 0.75f;
}

// The same on a (hc, wc) image at fine (y, x): columns, then rows.
__device__ float up_image(const float* img, int hc, int wc, int y, int x) {
  int k = y >> 1;
  if (y & 1) {
    float a = up_row(img + (long long)k * wc, wc, x);
    return k == hc - 1 ? a * 1.0f : a * 0.75f + up_row(img + (long long)(k + 1) * wc, wc, x) * 0.25f;
  }
  float a = up_row(img + (long long)k * wc, wc, x);
  return k == 0 ? a * 1.0f : up_row(img + (long long)(k - 1) * wc, wc, x) * 0.25f + a * 0.75f;
}

// filled (3, n, h, w) = P + (1 - W) * up(coarse), coarse (3, n, ceil(h/2), ceil(w/2)), level (4, n, h, w).
extern "C" __global__ void push(const float* coarse, const float* level, int n, int h, int w, float* filled) {
  int hc = (h + 1) / 2, wc = (w + 1) / 2;
  long long plane = (long long)n * h * w, coarse_plane = (long long)n * hc * wc;
  GRID_STRIDE(i, 3 * plane) {
    long long c = i / plane, p = i % plane;
    int x = (int)(p % w), y = (int)((p / w) % h);
    long long b = p / ((long long)h * w);
    float up = up_image(coarse + c * coarse_plane + b * hc * wc, hc, wc, y, x);
    filled[i] = level[c * plane + p] + (1.0f - level[3 * plane + p]) * up;
  }
}

// 16 x a level-1 value, rounded: the fixed point of the last upsampling.
__device__ unsigned int fixed(float v) { return (unsigned int)rintf(v * 16.0f); }

// Fixed-point 2x upsampling along a row: weights 1 and 3, edges 4.
__device__ unsigned int fixed_row(const float* row, int m, int x) {
  int k = x >> 1;
  if (x & 1) return k == m - 1 ? 4u * fixed(row[k]) : 3u * fixed(row[k]) + fixed(row[k + 1]);
  return k == 0 ? 4u * fixed(row[0]) : fixed(row[k - 1]) + 3u * fixed(row[k]);
}

// out (n, H, W, 3) = images outside holes, ((fixed upsampling of level 1) + 128) >> 8 inside.
extern "C" __global__ void fill_holes(const u8* images, const u8* holes, const float* filled, int n, int H, int W,
                                      u8* out) {
  int h1 = (H + 1) / 2, w1 = (W + 1) / 2;
  long long pixels = (long long)n * H * W, coarse_plane = (long long)n * h1 * w1;
  GRID_STRIDE(p, pixels) {
    if (!holes[p]) {
      for (int c = 0; c < 3; ++c) out[3 * p + c] = images[3 * p + c];
      continue;
    }
    int x = (int)(p % W), y = (int)((p / W) % H);
    long long b = p / ((long long)H * W);
    int k = y >> 1;
    for (int c = 0; c < 3; ++c) {
      const float* img = filled + c * coarse_plane + b * h1 * w1;
      unsigned int s;
      if (y & 1) {
        unsigned int a = fixed_row(img + (long long)k * w1, w1, x);
        s = k == h1 - 1 ? 4u * a : 3u * a + fixed_row(img + (long long)(k + 1) * w1, w1, x);
      } else {
        unsigned int a = fixed_row(img + (long long)k * w1, w1, x);
        s = k == 0 ? 4u * a : fixed_row(img + (long long)(k - 1) * w1, w1, x) + 3u * a;
      }
      out[3 * p + c] = (u8)((s + 128u) >> 8);
    }
  }
}
