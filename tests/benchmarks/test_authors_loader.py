"""benchmarks.authors_loader: the authors-style per-sample reference, against independent oracles."""
import cv2
import numpy as np
import pytest
import torch

from attention_swap_reid.benchmarks.authors_loader import (ERASE_FILL, IMAGENET_MEAN, IMAGENET_STD,
                                                           AuthorsStyleDataset, EndlessShuffle,
                                                           authors_loader, authors_swap, authors_swap_batch,
                                                           bot_transform, donor_lists, pick_donor)
from attention_swap_reid.dali_pipes.manifest import Sample

H, W = 64, 32


def _pair():
    """Person A (green box) on a blue-ish background, donor B (red box elsewhere) on a grey ramp."""
    rng = np.random.default_rng(0)
    a = np.zeros((H, W, 3), np.uint8)
    a[..., 2] = 200
    a[20:40, 8:20] = (0, 255, 0)
    mask_a = np.zeros((H, W), np.uint8)
    mask_a[20:40, 8:20] = 1
    b = np.repeat(np.linspace(40, 90, W, dtype=np.uint8)[None, :, None], H, 0).repeat(3, 2)
    b = (b + rng.integers(0, 5, b.shape)).astype(np.uint8)
    b[30:34, 14:18] = (255, 0, 0)
    mask_b = np.zeros((H, W), np.uint8)
    mask_b[30:34, 14:18] = 1
    return a, mask_a, b, mask_b


def test_swap_keeps_person_and_donor_background_outside_the_hole():
    a, mask_a, b, mask_b = _pair()
    out = authors_swap(a, mask_a, b, mask_b)
    assert out.shape == a.shape and out.dtype == np.uint8
    person = mask_a.astype(bool)
    np.testing.assert_array_equal(out[person], a[person])
    # 7x7 ones, 5 iterations = a 31x31 square: the box grows by 15 px on each side (clipped)
    hole = np.zeros((H, W), bool)
    hole[30 - 15:34 + 15, max(14 - 15, 0):18 + 15] = True
    outside = ~hole & ~person
    np.testing.assert_array_equal(out[outside], b[outside])
    # inside the hole, away from A's person, the donor's red person is gone (filled from the grey ramp)
    filled = hole & ~person
    assert out[filled][:, 0].max() < 150
    assert filled.sum() > 0


def test_swap_with_empty_donor_mask_is_a_plain_paste():
    a, mask_a, b, _ = _pair()
    out = authors_swap(a, mask_a, b, np.zeros((H, W), np.uint8))
    expected = np.where(mask_a[..., None] > 0, a, b)
    np.testing.assert_array_equal(out, expected)


def test_bot_transform_identity_settings_equal_torchvision_normalize():
    a = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = bot_transform(a, np.random.default_rng(0), flip=0.0, pad=0, erasing=0.0)
    t = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    ref = (t - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    assert out.shape == (3, H, W) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5)
    flipped = bot_transform(a, np.random.default_rng(0), flip=1.0, pad=0, erasing=0.0)
    np.testing.assert_allclose(flipped, ref.numpy()[:, :, ::-1], rtol=1e-5, atol=1e-5)


def test_bot_transform_crop_is_a_window_of_the_zero_padded_image():
    a = np.random.default_rng(2).integers(1, 256, (H, W, 3), dtype=np.uint8)
    norm = bot_transform(a, np.random.default_rng(0), flip=0.0, pad=0, erasing=0.0)
    zero = ((0 - IMAGENET_MEAN) / IMAGENET_STD)[:, None, None]
    padded = np.pad(norm - zero, ((0, 0), (10, 10), (10, 10))) + zero
    for seed in range(5):
        out = bot_transform(a, np.random.default_rng(seed), flip=0.0, pad=10, erasing=0.0)
        matches = [(y, x) for y in range(21) for x in range(21)
                   if np.allclose(padded[:, y:y + H, x:x + W], out, atol=1e-5)]
        assert len(matches) == 1


def test_bot_transform_erasing_fills_one_rectangle_with_bot_mean():
    a = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = bot_transform(a, np.random.default_rng(4), flip=0.0, pad=0, erasing=1.0)
    erased = np.all(np.abs(out - ERASE_FILL[:, None, None]) < 1e-6, axis=0)
    ys, xs = np.nonzero(erased)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert erased.sum() == box  # a filled rectangle
    assert 0.01 * H * W <= box <= 0.45 * H * W


def test_pick_donor_respects_identity_and_viewpoint():
    pids = [1, 1, 2, 3, 4, 5]
    views = [0, 0, 0, 1, -1, 0]
    pools = donor_lists(pids, views)
    rng = np.random.default_rng(0)
    for _ in range(200):
        j = pick_donor(0, pids, views, pools, rng)
        assert pids[j] != 1 and views[j] in (0, -1)
        k = pick_donor(4, pids, views, pools, rng)  # unknown viewpoint: anyone else
        assert pids[k] != 4
    assert pick_donor(0, [7, 7], [0, 0], donor_lists([7, 7], [0, 0]), rng) == -1


def test_swap_batch_rate_and_donors():
    a, mask_a, b, mask_b = _pair()
    images = np.stack([a, b] * 8)
    masks = np.stack([mask_a, mask_b] * 8)
    pids = np.arange(16) % 2
    out, donors = authors_swap_batch(images, masks, pids, np.zeros(16, int), 1.0, np.random.default_rng(0))
    assert (donors >= 0).all() and (pids[donors] != pids).all()
    for i, j in enumerate(donors):
        np.testing.assert_array_equal(out[i], authors_swap(images[i], masks[i], images[j], masks[j]))
    part, part_donors = authors_swap_batch(images, masks, pids, np.zeros(16, int), 1.0, np.random.default_rng(0),
                                           indices=[3, 0])
    assert part.shape == (2, H, W, 3) and (pids[part_donors] != pids[[3, 0]]).all()
    np.testing.assert_array_equal(part[0], authors_swap(images[3], masks[3], images[part_donors[0]],
                                                        masks[part_donors[0]]))
    _, none = authors_swap_batch(images, masks, pids, np.zeros(16, int), 0.0, np.random.default_rng(0))
    assert (none == -1).all()


@pytest.fixture()
def disk_samples(tmp_path):
    a, mask_a, b, mask_b = _pair()
    samples = []
    for i in range(6):
        img, mask = (a, mask_a) if i % 2 == 0 else (b, mask_b)
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(tmp_path / f"{i}.png"), mask * 255)
        samples.append(Sample(str(tmp_path / f"{i}.jpg"), str(tmp_path / f"{i}.png"), pid=i // 2, camid=i % 3,
                              viewpoint=0, split="train", row=i + 2))
    return samples


def test_dataset_items_and_determinism(disk_samples):
    ds = AuthorsStyleDataset(disk_samples, (H, W), p=1.0, seed=3)
    item = ds[7]
    assert item["images"].shape == (3, H, W) and item["images"].dtype == torch.float32
    assert item["pids"] == disk_samples[1].pid and item["swapped"]
    torch.testing.assert_close(ds[7]["images"], item["images"])
    assert not any(AuthorsStyleDataset(disk_samples, (H, W), p=0.0)[i]["swapped"] for i in range(6))


def test_dataset_needs_masks_when_augmenting(disk_samples):
    no_mask = [Sample(s.image, "", s.pid, s.camid, s.viewpoint, s.split, s.row) for s in disk_samples]
    AuthorsStyleDataset(no_mask, (H, W), p=0.0)
    with pytest.raises(ValueError, match="needs masks"):
        AuthorsStyleDataset(no_mask, (H, W), p=0.5)


def test_endless_shuffle_covers_each_epoch():
    it = iter(EndlessShuffle(5, seed=1))
    draws = [next(it) for _ in range(15)]
    for e in range(3):
        assert sorted(draws[5 * e:5 * e + 5]) == list(range(5 * e, 5 * e + 5))


def test_loader_batches(disk_samples):
    batch = next(iter(authors_loader(disk_samples, (H, W), batch_size=4, workers=0, p=0.5)))
    assert batch["images"].shape == (4, 3, H, W)
    assert batch["pids"].dtype == torch.int64 and batch["swapped"].dtype == torch.bool
