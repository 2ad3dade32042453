// Pull-push inpainting: the cupy side of kernels/pullpush.py, which states the algorithm.
// Same float operations in the same order as NumPy; build with --fmad=false (no FMA
// contraction). Levels >= 1 are channel-major float32 (4, n, h, w): premultiplied colour, weight.
// The large levels take one launch each (`pull`, `push`); all levels from a small one up to
// the 1x1 top run in one launch (`pyramid_top`), one block per image in shared memory.

typedef unsigned char u8;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// PYRAMID_CAPACITY (generated from kernels/tables.py LAUNCH_LIMITS): pixels per channel that
// `pyramid_top` holds in shared memory (all its levels together).
// Most levels `pyramid_top` may hold (sizes halve, rounding up, down to 1x1).
#define PYRAMID_LEVELS 24

// From the 4x4 sums of one coarse pixel: colour = S_P / S_w (0 if S_w = 0), weight =
// min(1, S_w * gain_64), level = (colour * weight, weight).
__device__ void normalize_sums(const float* sums, float gain_64, float* colour, float* level) {
  float wsum = sums[3];
  float weight = fminf(wsum * gain_64, 1.0f);
  for (int c = 0; c < 3; ++c) {
    float value = wsum > 0.0f ? sums[c] / wsum : 0.0f;
    colour[c] = value;
    level[c] = value * weight;
  }
  level[3] = weight;
}

// normalize_sums, stored at pixel i of the channel-major (4, ...) level array and, when
// `with_colour` (only the 1x1 top's colour is ever read), of the (3, ...) colour array.
__device__ void store_level(const float* sums, long long i, long long plane, float gain_64, int with_colour,
                            float* colour, float* level) {
  float c[3], l[4];
  normalize_sums(sums, gain_64, c, l);
  if (with_colour)
    for (int k = 0; k < 3; ++k) colour[k * plane + i] = c[k];
  for (int k = 0; k < 4; ++k) level[k * plane + i] = l[k];
}

// Exact integer 4x4 sums of [P, w] at coarse (y, x) of level 0: `image` (H, W, 3) uint8 and its
// `hole` (H, W) (non-zero = unknown).
__device__ void level0_sums(const u8* image, const u8* hole, int H, int W, int y, int x, float* sums) {
  const int taps[4] = {1, 3, 3, 1};
  int s[4] = {0, 0, 0, 0};
  for (int dy = 0; dy < 4; ++dy) {
    int yy = 2 * y - 1 + dy;
    if (yy < 0 || yy >= H) continue;
    for (int dx = 0; dx < 4; ++dx) {
      int xx = 2 * x - 1 + dx;
      if (xx < 0 || xx >= W) continue;
      long long p = (long long)yy * W + xx;
      if (hole[p]) continue;
      int k = taps[dy] * taps[dx];
      s[0] += k * image[3 * p];
      s[1] += k * image[3 * p + 1];
      s[2] += k * image[3 * p + 2];
      s[3] += k;
    }
  }
  for (int c = 0; c < 4; ++c) sums[c] = (float)s[c];
}

// Level 0 -> 1 from uint8 images (n, H, W, 3) and holes (n, H, W): exact integer 4x4 sums.
extern "C" __global__ void pull_level0(const u8* images, const u8* holes, int n, int H, int W, float gain_64,
                                       int with_colour, float* colour, float* level) {
  int h1 = (H + 1) / 2, w1 = (W + 1) / 2;
  long long plane = (long long)n * h1 * w1;
  GRID_STRIDE(i, plane) {
    int x = (int)(i % w1), y = (int)((i / w1) % h1);
    long long b = i / ((long long)h1 * w1);
    float sums[4];
    level0_sums(images + b * H * W * 3, holes + b * H * W, H, W, y, x, sums);
    store_level(sums, i, plane, gain_64, with_colour, colour, level);
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

// The 4x4 filtered sums at coarse (y, x) of one image of a level: channel c is the (h, w)
// plane at img + c * plane. Columns, then rows, as NumPy.
__device__ void level_sums(const float* img, long long plane, int h, int w, int y, int x, float* sums) {
  int h2 = (h + 1) / 2;
  for (int c = 0; c < 4; ++c) {
    const float* p = img + c * plane;
    float t = filter_row(p + (long long)(2 * y) * w, w, x);
    if (2 * y + 1 < h) t = t + filter_row(p + (long long)(2 * y + 1) * w, w, x);
    t = t * 3.0f;
    if (y >= 1) t = t + filter_row(p + (long long)(2 * y - 1) * w, w, x);
    if (y + 1 < h2) t = t + filter_row(p + (long long)(2 * y + 2) * w, w, x);
    sums[c] = t;
  }
}

// Level l (4, n, h, w) -> l + 1 (4, n, ceil(h/2), ceil(w/2)), and its colour (3, n, ...) when `with_colour`.
extern "C" __global__ void pull(const float* level, int n, int h, int w, float gain_64, int with_colour, float* colour,
                                float* next) {
  int h2 = (h + 1) / 2, w2 = (w + 1) / 2;
  long long plane_in = (long long)n * h * w, plane = (long long)n * h2 * w2;
  GRID_STRIDE(i, plane) {
    int x = (int)(i % w2), y = (int)((i / w2) % h2);
    long long b = i / ((long long)h2 * w2);
    float sums[4];
    level_sums(level + b * h * w, plane_in, h, w, y, x, sums);
    store_level(sums, i, plane, gain_64, with_colour, colour, next);
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

// One pushed value: P + (1 - W) * up(coarse) at fine (y, x), coarse an (hc, wc) image.
__device__ float push_value(float premultiplied, float weight, const float* coarse, int hc, int wc, int y, int x) {
  return premultiplied + (1.0f - weight) * up_image(coarse, hc, wc, y, x);
}

// filled (3, n, h, w) = P + (1 - W) * up(coarse), coarse (3, n, ceil(h/2), ceil(w/2)), level (4, n, h, w).
extern "C" __global__ void push(const float* coarse, const float* level, int n, int h, int w, float* filled) {
  int hc = (h + 1) / 2, wc = (w + 1) / 2;
  long long plane = (long long)n * h * w, coarse_plane = (long long)n * hc * wc;
  GRID_STRIDE(i, 3 * plane) {
    long long c = i / plane, p = i % plane;
    int x = (int)(p % w), y = (int)((p / w) % h);
    long long b = p / ((long long)h * w);
    filled[i] = push_value(level[c * plane + p], level[3 * plane + p], coarse + c * coarse_plane + b * hc * wc, hc,
                           wc, y, x);
  }
}

// From level l (4, n, h, w) to the 1x1 top and back: filled (3, n, h, w) at level l. One
// block per image: the levels above l (at most PYRAMID_CAPACITY pixels together, h x w > 1x1)
// live in shared memory; the same float operations as `pull` and `push`, level by level.
extern "C" __global__ void pyramid_top(const float* level, int n, int h, int w, float gain_64, float* filled) {
  __shared__ float pyramid[4 * PYRAMID_CAPACITY];
  __shared__ float top[3];
  long long plane = (long long)n * h * w;
  int hs[PYRAMID_LEVELS], ws[PYRAMID_LEVELS], offsets[PYRAMID_LEVELS];
  int levels = 0, used = 0;
  for (int lh = h, lw = w; lh > 1 || lw > 1; ++levels) {
    lh = (lh + 1) / 2, lw = (lw + 1) / 2;
    hs[levels] = lh, ws[levels] = lw, offsets[levels] = used;
    used += 4 * lh * lw;
  }
  if (levels == 0) return;  // level l is the top: its colour is the filled level (the caller's case)
  for (long long img = blockIdx.x; img < n; img += gridDim.x) {
    const float* source = level + img * h * w;
    long long source_plane = plane;
    int sh = h, sw = w;
    for (int k = 0; k < levels; ++k) {  // pull
      int area = hs[k] * ws[k];
      float* dst = pyramid + offsets[k];
      for (int i = threadIdx.x; i < area; i += blockDim.x) {
        float sums[4], colour[3], values[4];
        level_sums(source, source_plane, sh, sw, i / ws[k], i % ws[k], sums);
        normalize_sums(sums, gain_64, colour, values);
        for (int c = 0; c < 4; ++c) dst[c * area + i] = values[c];
        if (area == 1)
          for (int c = 0; c < 3; ++c) top[c] = colour[c];
      }
      __syncthreads();
      source = dst, source_plane = area, sh = hs[k], sw = ws[k];
    }
    if (threadIdx.x == 0)  // the top's filled colour is its colour, kept in its P planes
      for (int c = 0; c < 3; ++c) pyramid[offsets[levels - 1] + c] = top[c];
    __syncthreads();
    for (int k = levels - 2; k >= 0; --k) {  // push, in place: P becomes the filled colour
      int area = hs[k] * ws[k], coarse_area = hs[k + 1] * ws[k + 1];
      float* lv = pyramid + offsets[k];
      const float* coarse = pyramid + offsets[k + 1];
      for (int i = threadIdx.x; i < 3 * area; i += blockDim.x) {
        int c = i / area, p = i % area;
        lv[c * area + p] = push_value(lv[c * area + p], lv[3 * area + p], coarse + c * coarse_area, hs[k + 1],
                                      ws[k + 1], p / ws[k], p % ws[k]);
      }
      __syncthreads();
    }
    int area = h * w, coarse_area = hs[0] * ws[0];
    for (int i = threadIdx.x; i < 3 * area; i += blockDim.x) {  // level l, to global memory
      int c = i / area, p = i % area;
      long long at = c * plane + img * area + p;
      filled[at] = push_value(level[at], level[3 * plane + img * area + p], pyramid + c * coarse_area, hs[0], ws[0],
                              p / w, p % w);
    }
    __syncthreads();
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

// The fill value at (y, x) of level 0 from one channel's (h1, w1) plane of filled level 1:
// ((fixed upsampling) + 128) >> 8.
__device__ u8 fill_value(const float* img, int h1, int w1, int y, int x) {
  int k = y >> 1;
  unsigned int s;
  unsigned int a = fixed_row(img + (long long)k * w1, w1, x);
  if (y & 1) {
    s = k == h1 - 1 ? 4u * a : 3u * a + fixed_row(img + (long long)(k + 1) * w1, w1, x);
  } else {
    s = k == 0 ? 4u * a : fixed_row(img + (long long)(k - 1) * w1, w1, x) + 3u * a;
  }
  return (u8)((s + 128u) >> 8);
}

// out (n, H, W, 3) = images outside holes, the fill value of level 1 inside.
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
    for (int c = 0; c < 3; ++c) out[3 * p + c] = fill_value(filled + c * coarse_plane + b * h1 * w1, h1, w1, y, x);
  }
}
