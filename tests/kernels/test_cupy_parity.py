"""The cupy backend equals the numpy backend, step by step and end to end.

Each test runs twice through the `cp` fixture: on a CUDA GPU with CuPy (marked `gpu`, skipped
without one) and on the CPU emulation of the same CUDA kernels. Bit-exact: ROI masks, boxes,
areas, normalized masks, compatibility, donors, dilation, compositing, and every pixel outside
the inpainted holes. Inpainted pixels: at most 1 grey level apart (the kernels repeat NumPy's
float operations in order, so they are expected equal; the bound allows a last-bit tie).
"""
import itertools

import numpy as np
import pytest

from attention_swap_reid.kernels import (ROI_MODES, AttentionAugment, AugmentConfig, DonorKeys, compatibility,
                                         composite, dilate, draw_donors, inpaint, normalize_masks, roi_masks)

INPAINT_TOLERANCE = 1


def device_keys(cp, keys):
    return DonorKeys(*(cp.asarray(a) for a in (keys.areas, keys.normalized, keys.pids, keys.viewpoints)))


@pytest.fixture
def data(make_batch):
    d = make_batch(24, 64, 32, seed=20, ids=12, views=2)
    d["masks"][4] = 0  # an empty mask
    d["masks"][5, :, :] = 0
    d["masks"][5, 0:3, 0:2] = 1  # a tiny one in the corner
    return d


@pytest.mark.parametrize("roi, split", list(itertools.product(ROI_MODES, (0.5, 0.37))))
def test_masks_and_compatibility(cp, data, roi, split):
    host = roi_masks(data["masks"], roi, split)
    gpu = roi_masks(cp.asarray(data["masks"]), roi, split)
    for field in ("masks", "boxes", "areas"):
        assert np.array_equal(cp.asnumpy(getattr(gpu, field)), getattr(host, field)), field
    normalized = normalize_masks(host)
    assert np.array_equal(cp.asnumpy(normalize_masks(gpu)), normalized)
    keys = DonorKeys(host.areas, normalized, data["pids"], data["viewpoints"])
    pool = DonorKeys(*(np.concatenate([a, a[::-1]]) for a in (keys.areas, keys.normalized, keys.pids, keys.viewpoints)))
    for rules in (dict(min_area_ratio=0.8, min_iou=0.5, same_viewpoint=True),
                  dict(min_area_ratio=0.3, min_iou=0.2, same_viewpoint=False)):
        expected = compatibility(keys, pool, **rules)
        got = compatibility(device_keys(cp, keys), device_keys(cp, pool), **rules)
        assert np.array_equal(cp.asnumpy(got), expected)
        for p in (0.0, 0.5, 1.0):
            index = np.arange(100, 124)
            a = draw_donors(expected, index, p=p, seed=5, epoch=2)
            b = draw_donors(got, cp.asarray(index), p=p, seed=5, epoch=2)
            for field in ("donor", "wanted", "candidates"):
                assert np.array_equal(cp.asnumpy(getattr(b, field)), getattr(a, field)), field


@pytest.mark.parametrize("size", [1, 3, 7, 31, 65])
def test_dilate(cp, data, size):
    masks = data["masks"] * np.uint8(255)
    masks[:, 0, :] = masks[:, :, -1] = 0
    masks[0, 0, 0] = masks[1, -1, -1] = 7
    assert np.array_equal(cp.asnumpy(dilate(cp.asarray(masks), size)), dilate(masks, size))


def test_pullpush_and_composite(cp, data):
    holes = dilate(data["masks"], 15)
    holes[7] = 1  # a full hole: black
    holes[8] = 0  # no hole
    expected = inpaint(data["images"], holes)
    got = cp.asnumpy(inpaint(cp.asarray(data["images"]), cp.asarray(holes)))
    assert np.array_equal(got[holes == 0], expected[holes == 0])
    assert np.abs(got.astype(int) - expected).max() <= INPAINT_TOLERANCE
    mixed = composite(data["images"], data["masks"], expected)
    on_device = (cp.asarray(a) for a in (data["images"], data["masks"], expected))
    assert np.array_equal(cp.asnumpy(composite(*on_device)), mixed)


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (17, 9)])
def test_pullpush_odd_sizes(cp, size):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3,) + size + (3,), dtype=np.uint8)
    holes = (rng.random((3,) + size) < 0.6).astype(np.uint8)
    got = cp.asnumpy(inpaint(cp.asarray(images), cp.asarray(holes)))
    assert np.abs(got.astype(int) - inpaint(images, holes)).max() <= INPAINT_TOLERANCE


@pytest.mark.parametrize("config", [
    AugmentConfig(p=0.7, seed=1, min_area_ratio=0.5, min_iou=0.3),
    AugmentConfig(p=0.9, roi="upper", seed=2, dilate=9, bank_size=10, min_area_ratio=0.5, min_iou=0.3),
    AugmentConfig(p=1.0, roi="lower", seed=3, inpaint="none", same_viewpoint=False),
])
def test_attention_augment(cp, data, config):
    host, gpu = AttentionAugment(config, backend="numpy"), AttentionAugment(config, backend="cupy")
    for epoch, (start, stop) in enumerate([(0, 24), (0, 8), (8, 24)]):  # calls of different sizes
        part = {k: v[start:stop] for k, v in data.items()}
        args = [part[k] for k in ("images", "masks", "pids", "viewpoints")]
        a = host(*args, epoch=epoch)
        b = gpu(*(cp.asarray(x) for x in args), epoch=epoch)
        assert type(b.images).__module__.split(".")[0] == "cupy"
        for field in ("donor", "swapped", "donor_pids"):
            assert np.array_equal(cp.asnumpy(getattr(b, field)), getattr(a, field)), field
        images = cp.asnumpy(b.images)
        assert np.abs(images.astype(int) - a.images).max() <= INPAINT_TOLERANCE
        assert b.stats == a.stats


def test_host_labels_with_device_images(cp, data):
    config = AugmentConfig(p=1.0, seed=4, min_area_ratio=0.5, min_iou=0.3)
    a = AttentionAugment(config)(data["images"], data["masks"], data["pids"], data["viewpoints"], index=np.arange(24))
    b = AttentionAugment(config)(cp.asarray(data["images"]), cp.asarray(data["masks"]), data["pids"],
                                 data["viewpoints"].tolist(), index=np.arange(24))
    assert np.array_equal(cp.asnumpy(b.donor), a.donor)


def test_telea_is_refused_on_the_gpu(cp, data):
    with pytest.raises(ValueError, match="telea"):
        inpaint(cp.asarray(data["images"]), cp.asarray(data["masks"]), "telea")
    with pytest.raises(ValueError, match="telea"):
        args = (cp.asarray(data[k]) for k in ("images", "masks", "pids", "viewpoints"))
        AttentionAugment(AugmentConfig(inpaint="telea"))(*args)


@pytest.mark.gpu
def test_torch_cuda_tensors(data):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA")
    pytest.importorskip("cupy")
    config = AugmentConfig(p=1.0, seed=6, min_area_ratio=0.5, min_iou=0.3)
    args = [torch.from_numpy(data[k]).cuda() for k in ("images", "masks", "pids", "viewpoints")]
    out = AttentionAugment(config)(*args)
    ref = AttentionAugment(config, backend="numpy")(*(data[k] for k in ("images", "masks", "pids", "viewpoints")))
    assert out.images.is_cuda and out.donor.is_cuda
    assert np.array_equal(out.donor.cpu().numpy(), ref.donor)
    assert np.abs(out.images.cpu().numpy().astype(int) - ref.images).max() <= INPAINT_TOLERANCE
