"""The block-level kernels (`roi_rows`, `roi_boxes`, `roi_keys`, `choose_donors`, `pyramid_top`)
at their real block sizes and at sizes that do not divide them, bit-exact against the numpy
backend.

Each test runs through the `cp` fixture: on a GPU, and on the CPU emulation, where these
kernels run one OS thread per CUDA thread with a real barrier (kernels/testing/emulation.py): a missing
`__syncthreads()`, a race on shared memory or code that only works with one thread per block
fails here (tests/kernels/test_mutations.py removes the barriers to check that it does).
Sizes: 97 x 45 images (rows of 45 pixels: two 32-lane passes, the second partial; 97 rows over
8 rows per block), B = 70 with a donor bank of 70 (a pool of 140 > the 128 threads of
`choose_donors`: a second chunk), a 49 x 23 first pyramid level (`pyramid_top` loops its 256
threads over 3 x 1127 values).
"""
import numpy as np
import pytest

from attention_swap_reid.kernels import AttentionAugment, AugmentConfig, ROI_MODES, normalize_masks, roi_masks

LOOSE = dict(min_area_ratio=0.3, min_iou=0.2, same_viewpoint=False)


def edge_masks(b: int, h: int, w: int, seed: int) -> np.ndarray:
    """(b, h, w) uint8 masks with the cases that break row scans: random blobs, an empty mask,
    one pixel, full rows, pixels in the first and last column, values other than 1."""
    rng = np.random.default_rng(seed)
    masks = (rng.random((b, h, w)) < 0.02).astype(np.uint8)
    for k in range(b):
        y, x = rng.integers(0, h - 20), rng.integers(0, w - 12)
        masks[k, y: y + rng.integers(8, 20), x: x + rng.integers(4, 12)] = rng.integers(1, 256)
    masks[0] = 0
    masks[1] = 0
    masks[1, h // 2, w - 1] = 1
    masks[2, 3:6, :] = 255
    masks[3, :, 0] = 7
    masks[3, :, w - 1] = 1
    masks[4, 0, :] = 1
    masks[4, h - 1, :] = 1
    return masks


@pytest.mark.parametrize("size", [(97, 45), (40, 13), (33, 64)])
@pytest.mark.parametrize("roi", list(ROI_MODES))
def test_roi_boxes_and_normalized_masks(cp, roi, size):
    masks = edge_masks(11, *size, seed=sum(size))
    host = roi_masks(masks, roi, 0.43)
    gpu = roi_masks(cp.asarray(masks), roi, 0.43)
    for field in ("masks", "boxes", "areas"):
        assert np.array_equal(cp.asnumpy(getattr(gpu, field)), getattr(host, field)), field
    assert np.array_equal(cp.asnumpy(normalize_masks(gpu)), normalize_masks(host))


def people(b: int, h: int, w: int, seed: int) -> dict:
    """A batch of one box-shaped person per image, all of similar size, so that most pairs are
    compatible (a large pool of candidates for every sample)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)
    masks = np.zeros((b, h, w), np.uint8)
    for k in range(b):
        top, left = rng.integers(2, 12), rng.integers(2, 10)
        masks[k, top: top + h - 20 + rng.integers(0, 4), left: left + w // 2 + rng.integers(0, 4)] = 1
    return dict(images=images, masks=masks, pids=np.arange(b) // 2, viewpoints=rng.integers(0, 2, b))


@pytest.mark.parametrize("roi", list(ROI_MODES))
def test_fused_path_at_97x45_with_a_batch_and_a_bank_of_70(cp, roi):
    """Two calls: the bank fills, then the pool is 70 + 70 = 140 donors for 128 threads. Some
    donors are drawn from the second chunk (pool index >= 128), so its scan and its rank count
    are exercised."""
    d = people(70, 97, 45, seed=7)
    config = AugmentConfig(p=1.0, roi=roi, dilate=7, bank_size=70, seed=11, **LOOSE)
    host, gpu = AttentionAugment(config, backend="numpy"), AttentionAugment(config, backend="cupy")
    args = [d[k] for k in ("images", "masks", "pids", "viewpoints")]
    for epoch in range(2):
        a = host(*args, epoch=epoch)
        b = gpu(*(cp.asarray(x) for x in args), epoch=epoch)
        for field in ("donor", "wanted", "candidates", "swapped", "donor_pids"):
            assert np.array_equal(cp.asnumpy(getattr(b, field)), getattr(a, field)), field
        assert np.array_equal(cp.asnumpy(b.images), a.images)
    assert (a.donor >= 128).any() and a.candidates.max() > 128


def test_choose_donors_with_blocks_smaller_than_the_pool(cp, monkeypatch):
    """`choose_donors` at 32 threads per sample: a pool of 140 is five chunks."""
    from attention_swap_reid.kernels import cupy_ops

    monkeypatch.setattr(cupy_ops, "_CHOOSE_BLOCK", 32)
    d = people(70, 48, 24, seed=8)
    config = AugmentConfig(p=1.0, inpaint="none", bank_size=70, seed=12, **LOOSE)
    host, gpu = AttentionAugment(config, backend="numpy"), AttentionAugment(config, backend="cupy")
    args = [d[k] for k in ("images", "masks", "pids", "viewpoints")]
    for epoch in range(2):
        a = host(*args, epoch=epoch)
        b = gpu(*(cp.asarray(x) for x in args), epoch=epoch)
        assert np.array_equal(cp.asnumpy(b.donor), a.donor) and np.array_equal(cp.asnumpy(b.images), a.images)
    assert len(set((a.donor // 32).tolist())) >= 4


def test_dilation_stays_in_its_row(cp):
    """A hole next to the last column must not leak into the next row's first pixels (nor into
    the row before it): the bounds of `row_max` (dilate.cu)."""
    from attention_swap_reid.kernels import dilate

    masks = np.zeros((2, 6, 9), np.uint8)
    masks[0, 2, 8] = 1  # last column
    masks[1, 3, 0] = 1  # first column
    expected = np.zeros_like(masks)
    expected[0, 0:5, 6:9] = 1
    expected[1, 1:6, 0:3] = 1
    assert np.array_equal(dilate(masks, 5), expected)  # the numpy backend (cv2.dilate)
    assert np.array_equal(cp.asnumpy(dilate(cp.asarray(masks), 5)), expected)
