// ROI masks, their boxes and areas, and normalized masks: the cupy side of kernels/masks.py,
// which states the semantics. Compiled without FMA contraction (--fmad=false) so that the
// float64 index arithmetic rounds exactly as NumPy's does.

typedef unsigned char u8;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// Per mask row (rows = B * H): number of non-zero pixels, first and last non-zero column.
extern "C" __global__ void row_stats(const u8* masks, long long rows, int W, int* count, int* first, int* last) {
  GRID_STRIDE(r, rows) {
    const u8* row = masks + r * W;
    int c = 0, lo = W, hi = -1;
    for (int x = 0; x < W; ++x) {
      if (row[x]) {
        ++c;
        if (lo == W) lo = x;
        hi = x;
      }
    }
    count[r] = c;
    first[r] = lo;
    last[r] = hi;
  }
}

// Per sample: the ROI's row band [lo, hi) (mode 0 full, 1 upper, 2 lower), its bounding box
// (y0, y1, x0, x1) -- (0, -1, 0, -1) when empty -- and its area.
extern "C" __global__ void roi_boxes(const int* count, const int* first, const int* last, int B, int H, int W,
                                     int mode, double split, int* band, int* boxes, int* areas) {
  GRID_STRIDE(b, B) {
    const int* c = count + b * H;
    int y0 = -1, y1 = -1;
    for (int y = 0; y < H; ++y) {
      if (c[y] > 0) {
        if (y0 < 0) y0 = y;
        y1 = y;
      }
    }
    int lo = 0, hi = 0;
    if (y0 >= 0) {
      int cut = y0 + (int)floor(split * (double)(y1 - y0 + 1) + 0.5);
      lo = mode == 2 ? cut : y0;
      hi = mode == 1 ? cut : y1 + 1;
    }
    int area = 0, ry0 = 0, ry1 = -1, rx0 = W, rx1 = -1;
    for (int y = lo; y < hi; ++y) {
      int r = b * H + y;
      if (count[r] > 0) {
        if (area == 0) ry0 = y;
        ry1 = y;
        area += count[r];
        rx0 = min(rx0, first[r]);
        rx1 = max(rx1, last[r]);
      }
    }
    if (area == 0) {
      ry0 = 0, ry1 = -1, rx0 = 0, rx1 = -1;
    }
    band[2 * b] = lo;
    band[2 * b + 1] = hi;
    int* box = boxes + 4 * b;
    box[0] = ry0, box[1] = ry1, box[2] = rx0, box[3] = rx1;
    areas[b] = area;
  }
}

// Pixel i of (B, H, W): 1 where masks[i] != 0 inside its sample's row band, else 0.
__device__ u8 roi_pixel(const u8* masks, const int* band, int H, int W, long long i) {
  int y = (int)((i / W) % H);
  long long b = i / ((long long)H * W);
  return (masks[i] != 0 && y >= band[2 * b] && y < band[2 * b + 1]) ? 1 : 0;
}

// Entry i of the (B, Hc * Wc) normalized masks: crop to the box, nearest resize to width Wc
// keeping the aspect ratio (OpenCV INTER_NEAREST index rule), top-aligned, clipped or
// zero-padded. `rois` may be the ROI masks or the raw masks: the pixels read lie inside the
// box, hence inside the row band, where both agree on non-zero.
__device__ float normalized_value(const u8* rois, const int* boxes, const int* areas, int H, int W, int Hc, int Wc,
                                  long long i) {
  int u = (int)(i % Wc);
  int v = (int)((i / Wc) % Hc);
  long long b = i / ((long long)Hc * Wc);
  const int* box = boxes + 4 * b;
  if (areas[b] <= 0) return 0.0f;
  int h = box[1] - box[0] + 1, w = box[3] - box[2] + 1;
  double hn = fmax(rint((double)((long long)h * Wc) / (double)w), 1.0);
  if ((double)v >= hn) return 0.0f;
  int sx = min((int)floor((double)u * (1.0 / ((double)Wc / (double)w))), w - 1);
  int sy = min((int)floor((double)v * (1.0 / (hn / (double)h))), h - 1);
  return rois[(b * H + box[0] + sy) * W + box[2] + sx] ? 1.0f : 0.0f;
}

// rois = (masks != 0) restricted to each sample's row band; all (B, H, W) uint8.
extern "C" __global__ void roi_masks(const u8* masks, const int* band, int B, int H, int W, u8* rois) {
  long long n = (long long)B * H * W;
  GRID_STRIDE(i, n) rois[i] = roi_pixel(masks, band, H, W, i);
}

// (B, Hc * Wc) float32 normalized masks of the ROI masks `rois` (B, H, W).
extern "C" __global__ void normalize_masks(const u8* rois, const int* boxes, const int* areas, int B, int H, int W,
                                           int Hc, int Wc, float* out) {
  long long n = (long long)B * Hc * Wc;
  GRID_STRIDE(i, n) out[i] = normalized_value(rois, boxes, areas, H, W, Hc, Wc, i);
}
