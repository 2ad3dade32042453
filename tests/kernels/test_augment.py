"""AttentionAugment on the numpy backend (kernels/augment.py): the swap's semantics and rules."""
import cv2
import numpy as np
import pytest

from attention_swap_reid.kernels import INPAINTERS, ROI_MODES, AttentionAugment, AugmentConfig, roi_masks

LOOSE = dict(min_area_ratio=0.5, min_iou=0.3)


def augment(data, epoch=0, index=None, backend="numpy", **config):
    aug = AttentionAugment(AugmentConfig(**config), backend=backend)
    return aug(data["images"], data["masks"], data["pids"], data["viewpoints"], epoch=epoch, index=index)


@pytest.fixture
def designed():
    """Samples 0-5: same shape, distinct pids, viewpoint 0: each a candidate of the others.
    6: empty mask. 7: alone in viewpoint 2. 8: much smaller. 9, 10: viewpoint 3, same pid."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (11, 48, 24, 3), dtype=np.uint8)
    masks = np.zeros((11, 48, 24), np.uint8)
    masks[:, 6:42, 6:18] = 1
    masks[6] = 0
    masks[8] = 0
    masks[8, 20:30, 10:14] = 1
    pids = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9])
    viewpoints = np.array([0, 0, 0, 0, 0, 0, 0, 2, 0, 3, 3])
    return dict(images=images, masks=masks, pids=pids, viewpoints=viewpoints)


def test_output_types(designed):
    out = augment(designed, p=0.5)
    assert out.images.shape == designed["images"].shape and out.images.dtype == np.uint8
    for a, dtype in ((out.donor, np.int64), (out.swapped, bool), (out.donor_pids, np.int64)):
        assert a.shape == (11,) and a.dtype == dtype
    assert set(out.stats) >= {"swapped", "no_donor", "candidates_mean", "wanted", "from_bank", "batch_size"}


def test_p0_leaves_the_batch_as_it_is(designed):
    before = {k: v.copy() for k, v in designed.items()}
    out = augment(designed, p=0.0)
    assert np.array_equal(out.images, designed["images"]) and out.images is not designed["images"]
    assert (out.donor == -1).all() and not out.swapped.any() and (out.donor_pids == -1).all()
    assert out.stats["swapped"] == 0 and out.stats["no_donor"] == 0
    assert all(np.array_equal(before[k], designed[k]) for k in before)  # inputs, labels included, untouched


def test_p1_swaps_exactly_the_samples_with_a_candidate(designed):
    before = {k: v.copy() for k, v in designed.items()}
    for seed in range(5):
        out = augment(designed, p=1.0, seed=seed)
        assert out.swapped.tolist() == [True] * 6 + [False] * 5
        assert set(out.donor[:6]) <= set(range(6)) and all(out.donor[i] != i for i in range(6))
        assert np.array_equal(out.donor_pids[:6], designed["pids"][out.donor[:6]])
        assert np.array_equal(out.images[6:], designed["images"][6:])
        assert out.stats == dict(swapped=6, no_donor=5, wanted=11, from_bank=0, candidates_mean=30 / 11, batch_size=11)
    assert all(np.array_equal(before[k], designed[k]) for k in before)  # labels and inputs untouched


@pytest.mark.parametrize("roi", list(ROI_MODES))
@pytest.mark.parametrize("inpaint", list(INPAINTERS))
def test_composite_semantics(make_batch, roi, inpaint):
    data = make_batch(16, 64, 32, seed=8, ids=16)
    size = 7
    out = augment(data, p=1.0, roi=roi, dilate=size, inpaint=inpaint, seed=1, **LOOSE)
    assert out.swapped.sum() >= 8
    rois = roi_masks(data["masks"], roi).masks.astype(bool)
    for i in np.flatnonzero(out.swapped):
        j = out.donor[i]
        image, donor = data["images"][i], data["images"][j]
        hole = cv2.dilate(rois[j].astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
        assert np.array_equal(out.images[i][rois[i]], image[rois[i]])  # the ROI is the source's
        keep = ~rois[i] & ~hole
        assert np.array_equal(out.images[i][keep], donor[keep])  # the rest is the donor's
        if INPAINTERS[inpaint].fills:
            fill = ~rois[i] & hole
            assert (out.images[i][fill] != donor[fill]).any(axis=1).mean() > 0.5  # the donor's ROI is gone
        if ROI_MODES[roi].band != ("top", "bottom"):  # a band: the donor keeps the rest (where the hole does not reach)
            other = data["masks"][j].astype(bool) & ~hole & ~rois[i]
            assert other.sum() > 0 and np.array_equal(out.images[i][other], donor[other])
    assert np.array_equal(out.images[~out.swapped], data["images"][~out.swapped])


def test_no_candidate_means_no_swap(make_batch):
    data = make_batch(8, seed=9)
    data["pids"][:] = 3  # one identity: nobody can donate
    out = augment(data, p=1.0)
    assert not out.swapped.any() and np.array_equal(out.images, data["images"])
    assert out.stats["no_donor"] == 8 and out.stats["candidates_mean"] == 0.0


def test_same_seed_same_output_other_seed_other_donors(make_batch):
    data = make_batch(24, seed=10, ids=24)
    a, b = augment(data, seed=3, **LOOSE), augment(data, seed=3, **LOOSE)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.donor, b.donor)
    others = [augment(data, seed=s, **LOOSE).donor for s in (4, 5)]
    assert any(not np.array_equal(o, a.donor) for o in others)
    later = augment(data, seed=3, epoch=1, **LOOSE)
    assert not np.array_equal(later.donor, a.donor)


def test_swap_rate_is_p_when_candidates_exist(designed):
    p = 0.4
    aug = AttentionAugment(AugmentConfig(p=p, seed=11), backend="numpy")
    first6 = {k: v[:6] for k, v in designed.items()}
    swapped = [aug(first6["images"], first6["masks"], first6["pids"], first6["viewpoints"]).swapped for _ in range(300)]
    n = 6 * 300
    assert abs(np.mean(swapped) - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_index_keys_the_draws(designed):
    aug = AttentionAugment(AugmentConfig(p=0.5, seed=2), backend="numpy")
    args = (designed["images"], designed["masks"], designed["pids"], designed["viewpoints"])
    first, second = aug(*args), aug(*args)
    assert not np.array_equal(first.swapped, second.swapped)  # the internal counter moves on
    replay = AttentionAugment(AugmentConfig(p=0.5, seed=2), backend="numpy")(*args)
    assert np.array_equal(replay.donor, first.donor)
    explicit = aug(*args, index=np.arange(11, 22))
    assert np.array_equal(explicit.donor, second.donor)  # call 2 had indices 11..21


def test_bank_donors_raise_the_acceptance_of_small_batches(make_batch):
    data = make_batch(64, seed=12, ids=64)
    counts = {}
    for size in (0, 32):
        aug = AttentionAugment(AugmentConfig(p=1.0, bank_size=size, seed=0), backend="numpy")
        outs = [aug(*(data[k][s: s + 4] for k in ("images", "masks", "pids", "viewpoints"))) for s in range(0, 64, 4)]
        counts[size] = sum(o.stats["swapped"] for o in outs)
        if size:
            bank_pids = np.concatenate([data["pids"][s: s + 4] for s in range(0, 64, 4)])
            for step, o in enumerate(outs):
                from_bank = o.donor >= 4
                assert o.stats["from_bank"] == from_bank.sum()
                # sample t of the stream went to slot t % 32; slot s holds the latest one before this step
                slots = o.donor[from_bank] - 4
                latest = slots + 32 * ((step * 4 - 1 - slots) // 32)
                assert np.array_equal(o.donor_pids[from_bank], bank_pids[latest])
    assert counts[32] > counts[0]


def test_torch_tensors_in_torch_tensors_out(designed):
    torch = pytest.importorskip("torch")
    t = {k: torch.from_numpy(v) for k, v in designed.items()}
    out = AttentionAugment(AugmentConfig(p=1.0, seed=0))(t["images"], t["masks"], t["pids"], t["viewpoints"])
    ref = augment(designed, p=1.0, seed=0)
    assert isinstance(out.images, torch.Tensor) and isinstance(out.donor, torch.Tensor)
    assert np.array_equal(out.images.numpy(), ref.images) and np.array_equal(out.donor.numpy(), ref.donor)
    assert out.swapped.dtype == torch.bool and out.stats == ref.stats


def test_host_labels_are_accepted_as_lists(designed):
    out = AttentionAugment(AugmentConfig(p=1.0))(designed["images"], designed["masks"], designed["pids"].tolist(),
                                                 designed["viewpoints"].tolist(), index=list(range(11)))
    assert out.swapped.sum() == 6


def test_empty_batch():
    out = AttentionAugment(AugmentConfig(p=1.0))(np.zeros((0, 8, 4, 3), np.uint8), np.zeros((0, 8, 4), np.uint8),
                                                 np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert out.images.shape == (0, 8, 4, 3) and out.stats["swapped"] == 0


@pytest.mark.parametrize("change, message", [
    (dict(images=np.zeros((11, 48, 24), np.uint8)), r"images must be \(B, H, W, 3\) uint8"),
    (dict(images=np.zeros((11, 48, 24, 3), np.float32)), "float32"),
    (dict(masks=np.zeros((11, 48, 23), np.uint8)), r"masks must be \(11, 48, 24\) or \(11, 48, 24, 1\) with"),
    (dict(pids=np.zeros(10, np.int64)), r"pids must be \(11,\) integers"),
    (dict(viewpoints=np.zeros(11, np.float64)), "viewpoints must be"),
])
def test_bad_inputs(designed, change, message):
    with pytest.raises(ValueError, match=message):
        augment(designed | change)


def test_bad_construction_and_backend_mismatch(designed):
    with pytest.raises(ValueError, match="backend='gpu'.*'numpy', 'cupy', 'auto'"):
        AttentionAugment(AugmentConfig(), backend="gpu")
    with pytest.raises(ValueError, match="telea.*numpy backend only"):
        AttentionAugment(AugmentConfig(inpaint="telea"), backend="cupy")
    with pytest.raises(TypeError, match="AugmentConfig"):
        AttentionAugment(dict(p=0.5))
    with pytest.raises(ValueError, match="backend='cupy' got numpy arrays on the host"):
        augment(designed, backend="cupy")
    with pytest.raises(ValueError, match=r"index must be \(11,\) integers"):
        augment(designed, index=np.arange(11.0))


def test_a_tail_is_applied_after_the_swap(make_batch):
    from attention_swap_reid.kernels import Tail, bot_tail

    data = make_batch(8, 32, 16, seed=13, ids=8)
    rng = np.random.default_rng(0)
    tail = Tail(rng.integers(0, 2, 8).astype(np.int32), rng.integers(-4, 5, (8, 2)).astype(np.float32),
                rng.integers(0, 16, (8, 2)).astype(np.float32), rng.integers(0, 8, (8, 2)).astype(np.float32),
                channels_last=True)
    plain = augment(data, p=1.0, seed=2, **LOOSE)
    out = AttentionAugment(AugmentConfig(p=1.0, seed=2, **LOOSE), backend="numpy")(
        data["images"], data["masks"], data["pids"], data["viewpoints"], tail=tail)
    assert out.images.dtype == np.float32 and out.images.shape == (8, 3, 32, 16)
    assert np.array_equal(out.images, bot_tail(plain.images, tail))
    assert np.array_equal(out.donor, plain.donor) and out.stats == plain.stats
    torch = pytest.importorskip("torch")
    t = Tail(*(torch.from_numpy(getattr(tail, n)) for n in ("flip", "crop_anchor", "erase_anchor", "erase_shape")),
             channels_last=True)
    got = AttentionAugment(AugmentConfig(p=1.0, seed=2, **LOOSE))(
        *(torch.from_numpy(data[k]) for k in ("images", "masks", "pids", "viewpoints")), tail=t)
    assert isinstance(got.images, torch.Tensor) and got.images.is_contiguous(memory_format=torch.channels_last)
    assert np.array_equal(got.images.numpy(), out.images)


def test_channels_first_and_float_images_come_back_as_they_came(make_batch):
    """(B, 3, H, W) float in [0, 1] (torchvision's ToTensor) gives the uint8 result, in that form."""
    d = make_batch(8, 32, 16, seed=3, ids=4)
    config = AugmentConfig(p=1.0, min_iou=0.0, min_area_ratio=0.0, dilate=3, seed=1)
    reference = AttentionAugment(config)(d["images"], d["masks"], d["pids"], d["viewpoints"])
    floats = d["images"].transpose(0, 3, 1, 2).astype(np.float32) / 255
    out = AttentionAugment(config)(floats, d["masks"][:, None], d["pids"], d["viewpoints"], layout="BCHW",
                                   value_range=1.0)
    assert out.images.shape == floats.shape and out.images.dtype == np.float32
    assert np.array_equal(out.donor, reference.donor)
    assert np.array_equal(np.rint(out.images * 255).astype(np.uint8), reference.images.transpose(0, 3, 1, 2))


def test_wrong_layouts_and_ranges_say_which_argument_to_pass(make_batch):
    d = make_batch(4, 32, 16, seed=3)
    aug = AttentionAugment(AugmentConfig(p=1.0))
    with pytest.raises(ValueError, match="layout='BCHW'"):
        aug(d["images"].transpose(0, 3, 1, 2).copy(), d["masks"], d["pids"], d["viewpoints"])
    with pytest.raises(ValueError, match="value_range=1.0"):
        aug(d["images"] / 255.0, d["masks"], d["pids"], d["viewpoints"])
    with pytest.raises(ValueError, match="layout="):
        aug(d["images"], d["masks"], d["pids"], d["viewpoints"], layout="NCHW")
    with pytest.raises(TypeError, match="AugmentConfig"):
        AttentionAugment({"p": 0.5})


def test_viewpoints_none_means_unknown(make_batch):
    d = make_batch(8, 32, 16, seed=4, ids=4, views=3)
    config = AugmentConfig(p=1.0, min_iou=0.0, min_area_ratio=0.0, dilate=3, seed=2)
    unknown = AttentionAugment(config)(d["images"], d["masks"], d["pids"], np.full(8, -1))
    none = AttentionAugment(config)(d["images"], d["masks"], d["pids"])
    assert np.array_equal(none.donor, unknown.donor) and np.array_equal(none.images, unknown.images)
