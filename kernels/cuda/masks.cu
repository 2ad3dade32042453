// ROI masks, their boxes and areas, and normalized masks: the cupy side of kernels/masks.py,
// which states the semantics. Compiled without FMA contraction (--fmad=false) so that the
// float64 index arithmetic rounds exactly as NumPy's does.

typedef unsigned char u8;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// ROW_LANES (generated from kernels/tables.py): threads of `roi_rows` that read one mask row
// together; blockDim.x is a multiple of it. Rows one block of `roi_rows` holds in shared
// memory at most (1024 threads / ROW_LANES):
#define ROW_GROUPS_MAX (1024 / ROW_LANES)

// Per row r of `rows` mask rows of W pixels ((B * H, W) uint8): count[r] non-zero pixels,
// first[r] and last[r] non-zero column (W and -1 when none). Block-level: each group of
// ROW_LANES consecutive threads reads one row, consecutive threads consecutive bytes
// (coalesced), and merges its lanes' counts in shared memory.
extern "C" __global__ void roi_rows(const u8* masks, long long rows, int W, int* count, int* first, int* last) {
  __shared__ int stats[3 * ROW_GROUPS_MAX];
  int group = threadIdx.x / ROW_LANES, lane = threadIdx.x % ROW_LANES, groups = blockDim.x / ROW_LANES;
  int* mine = stats + 3 * group;
  for (long long base = (long long)blockIdx.x * groups; base < rows; base += (long long)gridDim.x * groups) {
    long long r = base + group;
    if (lane == 0) mine[0] = 0, mine[1] = W, mine[2] = -1;
    __syncthreads();
    if (r < rows) {
      const u8* row = masks + r * W;
      int c = 0, lo = W, hi = -1;
      for (int x = lane; x < W; x += ROW_LANES) {
        if (row[x]) {
          ++c;
          lo = min(lo, x);
          hi = x;
        }
      }
      if (c > 0) {
        atomicAdd(mine, c);
        atomicMin(mine + 1, lo);
        atomicMax(mine + 2, hi);
      }
    }
    __syncthreads();
    if (lane == 0 && r < rows) count[r] = mine[0], first[r] = mine[1], last[r] = mine[2];
  }
}

// Edge k (BAND_EDGE_<EDGE>, generated from kernels/tables.py BAND_EDGES) of the rows y0..y1 of
// a mask.
__device__ int band_edge(int k, int y0, int y1, double split) {
  if (k == BAND_EDGE_TOP) return y0;
  if (k == BAND_EDGE_CUT) return y0 + (int)floor(split * (double)(y1 - y0 + 1) + 0.5);
  return y1 + 1;  // BAND_EDGE_BOTTOM
}

// Block-level (every thread of the block calls it): the ROI of sample b from its row
// statistics count, first, last ((B, H), `roi_rows`) -- its row band [lo, hi) (between the
// edges ROI_BAND_EDGES gives for ROI mode `mode`), its bounding box (y0, y1, x0, x1),
// EMPTY_BOX_* when empty, and its area -- into band (B, 2), boxes (B, 4), areas (B,),
// visible to the block on return. state: 7 ints of shared memory.
__device__ void sample_roi(long long b, int H, int W, int mode, double split, const int* count, const int* first,
                           const int* last, int* state, int* band, int* boxes, int* areas) {
  int *y0 = state, *y1 = state + 1, *area = state + 2, *ry0 = state + 3, *ry1 = state + 4, *rx0 = state + 5,
      *rx1 = state + 6;
  if (threadIdx.x == 0) *y0 = H, *y1 = -1, *area = 0, *ry0 = H, *ry1 = -1, *rx0 = W, *rx1 = -1;
  __syncthreads();
  for (int y = threadIdx.x; y < H; y += blockDim.x) {  // the rows of the mask
    if (count[b * H + y] > 0) {
      atomicMin(y0, y);
      atomicMax(y1, y);
    }
  }
  __syncthreads();
  int lo = 0, hi = 0;
  if (*y1 >= 0) {
    lo = band_edge((ROI_BAND_EDGES >> (4 * mode)) & 3, *y0, *y1, split);
    hi = band_edge((ROI_BAND_EDGES >> (4 * mode + 2)) & 3, *y0, *y1, split);
  }
  for (int y = lo + threadIdx.x; y < hi; y += blockDim.x) {  // the rows of the ROI
    long long r = b * H + y;
    if (count[r] > 0) {
      atomicAdd(area, count[r]);
      atomicMin(ry0, y);
      atomicMax(ry1, y);
      atomicMin(rx0, first[r]);
      atomicMax(rx1, last[r]);
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    band[2 * b] = lo;
    band[2 * b + 1] = hi;
    int* box = boxes + 4 * b;
    bool empty = *area == 0;
    box[0] = empty ? EMPTY_BOX_Y0 : *ry0, box[1] = empty ? EMPTY_BOX_Y1 : *ry1;
    box[2] = empty ? EMPTY_BOX_X0 : *rx0, box[3] = empty ? EMPTY_BOX_X1 : *rx1;
    areas[b] = *area;
  }
  __syncthreads();
}

// One block per sample: band (B, 2), boxes (B, 4), areas (B,) of the ROIs, from the row
// statistics of the masks (`roi_rows`).
extern "C" __global__ void roi_boxes(const int* count, const int* first, const int* last, int B, int H, int W,
                                     int mode, double split, int* band, int* boxes, int* areas) {
  __shared__ int state[7];
  for (long long b = blockIdx.x; b < B; b += gridDim.x)
    sample_roi(b, H, W, mode, split, count, first, last, state, band, boxes, areas);
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
