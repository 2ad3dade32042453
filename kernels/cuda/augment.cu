// The fused cupy path of AttentionAugment (kernels/augment.py): a few launches per batch over
// the pool (the batch's B samples, then the bank's S filled slots), built from the device
// functions of masks.cu, compat.cu, donors.cu, dilate.cu, pullpush.cu and tail.cu, which this
// file follows in one compilation unit. Pool sample d < B is batch row d, d >= B bank slot d - B.

typedef unsigned char u8;
typedef unsigned long long u64;

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// Pool sample d's data: row d of `batch`, or slot d - B of `bank`; `size` elements per sample.
__device__ const u8* pool_row(const u8* batch, const u8* bank, long long d, int B, long long size) {
  return d < B ? batch + d * size : bank + (d - B) * size;
}

// Whether pixel (y, x) of sample b lies in its ROI: non-zero in its mask, inside its row band.
__device__ bool in_roi(const u8* masks, const int* band, int H, int W, long long b, int y, int x) {
  return masks[(b * H + y) * W + x] != 0 && y >= band[2 * b] && y < band[2 * b + 1];
}

// One block per sample, after `roi_rows`: the ROI's band, box and area (band, boxes, areas)
// from the row statistics count, first, last (B, H), and its normalized mask (normalized
// (B, Hc * Wc)). The ROI masks themselves are never stored: `in_roi` reads them off the masks.
extern "C" __global__ void roi_keys(const u8* masks, const int* count, const int* first, const int* last, int B,
                                    int H, int W, int mode, double split, int Hc, int Wc, int* band, int* boxes,
                                    int* areas, float* normalized) {
  __shared__ int state[7];
  long long k = (long long)Hc * Wc;
  for (long long b = blockIdx.x; b < B; b += gridDim.x) {
    sample_roi(b, H, W, mode, split, count, first, last, state, band, boxes, areas);
    for (long long i = b * k + threadIdx.x; i < (b + 1) * k; i += blockDim.x)
      normalized[i] = normalized_value(masks, boxes, areas, H, W, Hc, Wc, i);
  }
}

// Whether pool sample j may donate to batch sample i. `inter` (B, B) and `inter_bank` (B, S) are
// the products of the normalized masks; the diagonal of `inter` counts the batch's ones.
__device__ bool pool_compatible(const float* inter, const float* inter_bank, const int* areas,
                                const long long* pids, const long long* views, const float* bank_ones,
                                const int* bank_areas, const long long* bank_pids, const long long* bank_views, int B,
                                int S, long long i, int j, double min_area_ratio, double min_iou,
                                int same_viewpoint) {
  double ones_i = (double)inter[i * B + i];
  if (j < B)
    return compatible((double)inter[i * B + j], ones_i, (double)inter[(long long)j * B + j], areas[i], areas[j],
                      pids[i], pids[j], views[i], views[j], j == i, min_area_ratio, min_iou, same_viewpoint);
  int s = j - B;
  return compatible((double)inter_bank[i * S + s], ones_i, (double)bank_ones[s], areas[i], bank_areas[s], pids[i],
                    bank_pids[s], views[i], bank_views[s], false, min_area_ratio, min_iou, same_viewpoint);
}

// One block per batch sample: the compatibility rules over the pool, the candidate count, the
// swap decision and the donor draw (the k-th candidate in pool order, as `draw_donors`).
// index: (B,) sample indices, or index_base + i when use_index is 0. At most CHOOSE_MAX_BLOCK
// threads per block (generated from kernels/tables.py LAUNCH_LIMITS).
extern "C" __global__ void choose_donors(const float* inter, const float* inter_bank, const int* areas,
                                         const long long* pids, const long long* views, const long long* index,
                                         long long index_base, int use_index, const float* bank_ones,
                                         const int* bank_areas, const long long* bank_pids,
                                         const long long* bank_views, int B, int S, u64 key, double p,
                                         double min_area_ratio, double min_iou, int same_viewpoint, long long* donor,
                                         bool* wanted, int* candidates, bool* swapped, long long* donor_pids) {
  __shared__ int count;
  __shared__ long long chosen;
  __shared__ u64 rank;
  __shared__ bool flags[CHOOSE_MAX_BLOCK];
  int N = B + S;
  for (long long i = blockIdx.x; i < B; i += gridDim.x) {
    long long idx = use_index ? index[i] : index_base + i;
    if (threadIdx.x == 0) count = 0, chosen = -1;
    __syncthreads();
    int mine = 0;
    for (int j = threadIdx.x; j < N; j += blockDim.x)
      mine += pool_compatible(inter, inter_bank, areas, pids, views, bank_ones, bank_areas, bank_pids, bank_views, B,
                              S, i, j, min_area_ratio, min_iou, same_viewpoint) ? 1 : 0;
    atomicAdd(&count, mine);
    __syncthreads();
    int n = count;
    bool want = wants_swap(key, idx, p);
    if (want && n > 0) {
      if (threadIdx.x == 0) rank = donor_rank(key, idx, n);
      for (int j0 = 0; j0 < N; j0 += blockDim.x) {
        int j = j0 + threadIdx.x;
        flags[threadIdx.x] = j < N && pool_compatible(inter, inter_bank, areas, pids, views, bank_ones, bank_areas,
                                                      bank_pids, bank_views, B, S, i, j, min_area_ratio, min_iou,
                                                      same_viewpoint);
        __syncthreads();
        if (threadIdx.x == 0) {
          for (int t = 0; t < (int)blockDim.x && j0 + t < N; ++t) {
            if (!flags[t]) continue;
            if (rank == 0) {
              chosen = j0 + t;
              break;
            }
            --rank;
          }
        }
        __syncthreads();
        if (chosen >= 0) break;
      }
    }
    if (threadIdx.x == 0) {
      long long d = chosen;
      donor[i] = d;
      wanted[i] = want;
      candidates[i] = n;
      swapped[i] = d >= 0;
      donor_pids[i] = d < 0 ? -1 : (d < B ? pids[d] : bank_pids[d - B]);
    }
    __syncthreads();
  }
}

// Row pass of the dilation of each sample's donor ROI (from the batch's masks and bands, or
// the bank's ROI masks): out (B, H, W) = max over [x - r, x + r], non-zero where the dilated
// ROI is; 0 (no hole) for samples without a donor.
extern "C" __global__ void dilate_donor_rows(const u8* masks, const int* band, const u8* bank_rois,
                                             const long long* donor, int B, int H, int W, int r, u8* out) {
  long long hw = (long long)H * W, n = (long long)B * hw;
  GRID_STRIDE(i, n) {
    long long b = i / hw, d = donor[b];
    int x = (int)(i % W), y = (int)((i / W) % H);
    u8 m = 0;
    if (d >= B)
      m = row_max(bank_rois + (d - B) * hw + (long long)y * W, W, x, r);
    else if (d >= 0 && y >= band[2 * d] && y < band[2 * d + 1])
      m = row_max(masks + d * hw + (long long)y * W, W, x, r);
    out[i] = m;
  }
}

// Pull-push level 0 -> 1 of each sample's donor image (gathered; its own image without donor)
// with the hole `holes` (B, H, W).
extern "C" __global__ void pull_donor_level0(const u8* images, const u8* bank_images, const long long* donor,
                                             const u8* holes, int B, int H, int W, float gain_64, int with_colour,
                                             float* colour, float* level) {
  int h1 = (H + 1) / 2, w1 = (W + 1) / 2;
  long long hw = (long long)H * W, plane = (long long)B * h1 * w1;
  GRID_STRIDE(i, plane) {
    int x = (int)(i % w1), y = (int)((i / w1) % h1);
    long long b = i / ((long long)h1 * w1), d = donor[b];
    const u8* image = pool_row(images, bank_images, d < 0 ? b : d, B, hw * 3);
    float sums[4];
    level0_sums(image, holes + b * hw, H, W, y, x, sums);
    store_level(sums, i, plane, gain_64, with_colour, colour, level);
  }
}

// out (B, H, W, 3): each sample's donor image (gathered from the batch or the bank), its own
// image where it has no donor: what an inpainting method without a fused form fills.
extern "C" __global__ void gather_donors(const u8* images, const u8* bank_images, const long long* donor, int B,
                                         int H, int W, u8* out) {
  long long hw = (long long)H * W, n = (long long)B * hw * 3;
  GRID_STRIDE(i, n) {
    long long b = i / (hw * 3), d = donor[b];
    out[i] = pool_row(images, bank_images, d < 0 ? b : d, B, hw * 3)[i - b * hw * 3];
  }
}

// How `swapped_pixel` fills the donor's hole (FILL_<FILL>, generated from kernels/tables.py
// HOLE_FILLS): not at all (FILL_NONE: the donor's own pixels), from the filled level 1 of the
// pull-push pyramid (FILL_PYRAMID), or from whole inpainted donor images (FILL_BACKGROUNDS).

// Pixel (y, x) of sample b after the swap: its own where it has no donor or inside its ROI;
// else its donor's background: with FILL_PYRAMID inside the hole the fill value of `filled`
// (3, B, ceil(H/2), ceil(W/2)), with FILL_BACKGROUNDS `backgrounds` (B, H, W, 3), else the
// donor's pixel.
__device__ void swapped_pixel(const u8* images, const u8* masks, const int* band, const u8* bank_images,
                              const long long* donor, const u8* holes, const float* filled, const u8* backgrounds,
                              int fill, int B, int H, int W, long long b, int y, int x, u8* rgb) {
  long long hw = (long long)H * W, p = b * hw + (long long)y * W + x, d = donor[b];
  const u8* src;
  if (d < 0 || in_roi(masks, band, H, W, b, y, x)) {
    src = images + 3 * p;
  } else if (fill == FILL_PYRAMID && holes[p]) {
    int h1 = (H + 1) / 2, w1 = (W + 1) / 2;
    long long plane = (long long)B * h1 * w1;
    for (int c = 0; c < 3; ++c) rgb[c] = fill_value(filled + c * plane + b * h1 * w1, h1, w1, y, x);
    return;
  } else if (fill == FILL_BACKGROUNDS) {
    src = backgrounds + 3 * p;
  } else {
    src = pool_row(images, bank_images, d, B, hw * 3) + 3 * ((long long)y * W + x);
  }
  rgb[0] = src[0], rgb[1] = src[1], rgb[2] = src[2];
}

// out (B, H, W, 3) uint8: the swapped images.
extern "C" __global__ void finish(const u8* images, const u8* masks, const int* band, const u8* bank_images,
                                  const long long* donor, const u8* holes, const float* filled,
                                  const u8* backgrounds, int fill, int B, int H, int W, u8* out) {
  long long pixels = (long long)B * H * W;
  GRID_STRIDE(i, pixels) {
    int x = (int)(i % W), y = (int)((i / W) % H);
    long long b = i / ((long long)H * W);
    swapped_pixel(images, masks, band, bank_images, donor, holes, filled, backgrounds, fill, B, H, W, b, y, x,
                  out + 3 * i);
  }
}

// out (B, 3, H, W) of `out_type`: the BoT tail (tail.cu) of the swapped images, computed per
// output pixel.
extern "C" __global__ void finish_tail(const u8* images, const u8* masks, const int* band, const u8* bank_images,
                                       const long long* donor, const u8* holes, const float* filled,
                                       const u8* backgrounds, int fill, int B, int H, int W, const int* flip,
                                       const float* crop_anchor, const float* erase_anchor, const float* erase_shape,
                                       float mean0, float mean1, float mean2, float std0, float std1, float std2,
                                       float fill0, float fill1, float fill2, int channels_last, int out_type,
                                       void* out) {
  long long pixels = (long long)B * H * W;
  GRID_STRIDE(i, pixels) {
    int x = (int)(i % W), y = (int)((i / W) % H);
    long long b = i / ((long long)H * W);
    u8 rgb[3] = {0, 0, 0};
    bool erased = tail_erased(erase_anchor, erase_shape, b, y, x);
    int sy, sx;
    if (!erased && tail_source(flip, crop_anchor, b, H, W, y, x, &sy, &sx))
      swapped_pixel(images, masks, band, bank_images, donor, holes, filled, backgrounds, fill, B, H, W, b, sy, sx,
                    rgb);
    tail_store(rgb, erased, b, y, x, H, W, mean0, mean1, mean2, std0, std1, std2, fill0, fill1, fill2,
               channels_last, out_type, out);
  }
}

// Stores the last `count` batch rows in bank slots (next + k) % size, k < count, and clears
// the never-filled slots clear_from .. size - 1: images, ROI masks (read off the masks and
// bands), boxes, normalized masks, their ones (the diagonal of `inter`), areas, pids, viewpoints.
extern "C" __global__ void bank_push(const u8* images, const u8* masks, const int* band, const int* boxes,
                                     const float* normalized, const float* inter, const int* areas,
                                     const long long* pids, const long long* views, int B, int H, int W, int K,
                                     int size, int next, int count, int clear_from, u8* bank_images, u8* bank_rois,
                                     int* bank_boxes, float* bank_normalized, float* bank_ones, int* bank_areas,
                                     long long* bank_pids, long long* bank_views) {
  long long hw = (long long)H * W, per = hw > K ? hw : (long long)K;
  long long n = (long long)(count + size - clear_from) * per;
  GRID_STRIDE(e, n) {
    int k = (int)(e / per);
    long long t = e % per;
    bool copy = k < count;
    long long slot = copy ? (next + k) % size : clear_from + (k - count);
    long long r = B - count + k;
    if (t < hw) {
      for (int c = 0; c < 3; ++c) bank_images[(slot * hw + t) * 3 + c] = copy ? images[(r * hw + t) * 3 + c] : 0;
      bank_rois[slot * hw + t] = copy && in_roi(masks, band, H, W, r, (int)(t / W), (int)(t % W)) ? 1 : 0;
    }
    if (t < K) bank_normalized[slot * K + t] = copy ? normalized[r * K + t] : 0.0f;
    if (t == 0) {
      for (int c = 0; c < 4; ++c) bank_boxes[4 * slot + c] = copy ? boxes[4 * r + c] : 0;
      bank_ones[slot] = copy ? inter[r * B + r] : 0.0f;
      bank_areas[slot] = copy ? areas[r] : 0;
      bank_pids[slot] = copy ? pids[r] : 0;
      bank_views[slot] = copy ? views[r] : 0;
    }
  }
}
