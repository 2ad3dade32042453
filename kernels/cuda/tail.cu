// The BoT tail on uint8 (B, H, W, 3) images: horizontal flip, pad + crop, normalization and
// random erasing, to float32, float16 or bfloat16 (B, 3, H, W) -- the cupy side of kernels/tail.py, which states
// the semantics. The device functions here also serve the fused augmentation (augment.cu).

typedef unsigned char u8;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// Whether output (y, x) of sample b lies in its erase rectangle (float32 comparisons, as torch).
__device__ bool tail_erased(const float* erase_anchor, const float* erase_shape, long long b, int y, int x) {
  float ay = erase_anchor[2 * b], ax = erase_anchor[2 * b + 1];
  float fy = (float)y, fx = (float)x;
  return fy >= ay && fy < ay + erase_shape[2 * b] && fx >= ax && fx < ax + erase_shape[2 * b + 1];
}

// The input pixel (sy, sx) that output (y, x) of sample b shows after the flip and the crop at
// its anchor (truncated to integers); false where the window reaches into the zero padding.
__device__ bool tail_source(const int* flip, const float* crop_anchor, long long b, int H, int W, int y, int x,
                            int* sy, int* sx) {
  long long yy = (long long)crop_anchor[2 * b] + y, xx = (long long)crop_anchor[2 * b + 1] + x;
  if (yy < 0 || yy >= H || xx < 0 || xx >= W) return false;
  *sy = (int)yy;
  *sx = flip[b] ? W - 1 - (int)xx : (int)xx;
  return true;
}

// Offset of element (b, c, y, x) of the (B, 3, H, W) output: NCHW memory, or NHWC when channels_last.
__device__ long long tail_offset(long long b, int c, int y, int x, int H, int W, int channels_last) {
  if (channels_last) return ((b * H + y) * W + x) * 3 + c;
  return ((b * 3 + c) * H + y) * (long long)W + x;
}

// IEEE binary16 bits of f, rounded to nearest even (overflow to infinity, subnormals kept).
__device__ unsigned short half_bits(float f) {
  unsigned int x = __float_as_uint(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (unsigned short)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));  // inf, NaN
  if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // >= 65520: rounds to infinity
  if (ax < 0x38800000u) {  // below 2^-14: a subnormal half (or zero), in units of 2^-24
    if (ax <= 0x33000000u) return (unsigned short)sign;  // at most 2^-25: rounds to zero
    unsigned int mantissa = (ax & 0x7fffffu) | 0x800000u, shift = 126u - (ax >> 23);
    unsigned int q = mantissa >> shift, rest = mantissa & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (q & 1u))) ++q;
    return (unsigned short)(sign | q);
  }
  unsigned int h = (ax >> 13) - (112u << 10), rest = ax & 0x1fffu;  // exponent rebiased from 127 to 15
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return (unsigned short)(sign | h);
}

// bfloat16 bits of f, rounded to nearest even (NaN -> 0x7fc0, as torch).
__device__ unsigned short bfloat16_bits(float f) {
  unsigned int x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (unsigned short)0x7fc0u;
  return (unsigned short)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Output element types of the tail: OUT_FLOAT32, OUT_FLOAT16, OUT_BFLOAT16 (generated from
// kernels/tables.py OUT_TYPES).

// Writes output pixel (b, y, x): the fill value where erased, else (float(rgb) - mean) / std per
// channel, as float32, or as float16 / bfloat16 bits (out_type).
__device__ void tail_store(const u8* rgb, bool erased, long long b, int y, int x, int H, int W, float mean0,
                           float mean1, float mean2, float std0, float std1, float std2, float fill0, float fill1,
                           float fill2, int channels_last, int out_type, void* out) {
  const float mean[3] = {mean0, mean1, mean2}, std[3] = {std0, std1, std2}, fill[3] = {fill0, fill1, fill2};
  for (int c = 0; c < 3; ++c) {
    float v = erased ? fill[c] : ((float)rgb[c] - mean[c]) / std[c];
    long long o = tail_offset(b, c, y, x, H, W, channels_last);
    if (out_type == OUT_FLOAT32)
      ((float*)out)[o] = v;
    else
      ((unsigned short*)out)[o] = out_type == OUT_FLOAT16 ? half_bits(v) : bfloat16_bits(v);
  }
}

// out (B, 3, H, W) of `out_type` = the tail of images (B, H, W, 3) uint8.
extern "C" __global__ void bot_tail(const u8* images, const int* flip, const float* crop_anchor,
                                    const float* erase_anchor, const float* erase_shape, int B, int H, int W,
                                    float mean0, float mean1, float mean2, float std0, float std1, float std2,
                                    float fill0, float fill1, float fill2, int channels_last, int out_type, void* out) {
  long long pixels = (long long)B * H * W;
  GRID_STRIDE(i, pixels) {
    int x = (int)(i % W), y = (int)((i / W) % H);
    long long b = i / ((long long)H * W);
    u8 rgb[3] = {0, 0, 0};
    bool erased = tail_erased(erase_anchor, erase_shape, b, y, x);
    int sy, sx;
    if (!erased && tail_source(flip, crop_anchor, b, H, W, y, x, &sy, &sx)) {
      const u8* src = images + ((b * H + sy) * W + sx) * 3;
      rgb[0] = src[0], rgb[1] = src[1], rgb[2] = src[2];
    }
    tail_store(rgb, erased, b, y, x, H, W, mean0, mean1, mean2, std0, std1, std2, fill0, fill1, fill2,
               channels_last, out_type, out);
  }
}
