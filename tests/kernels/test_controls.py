"""The mechanism controls of the augmentation (kernels/controls.py): a same-identity donor, and
backgrounds without donor (pictures from a folder, noise); numpy only, refused by name on cupy.
Oracles: a splitmix64 written here from its definition in plain Python integers, cv2.resize,
and the batches' known pixels."""
import cv2
import numpy as np
import pytest

from attention_swap_reid.kernels import (BACKGROUNDS, DONORS, AttentionAugment, AugmentConfig, backend_problems,
                                         roi_masks)
from attention_swap_reid.kernels.controls import backend_problem, load_pictures

M64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15


def mix(z: int) -> int:
    """splitmix64's finalizer (Steele, Lea, Flood 2014), on Python integers."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def draws(seed: int, epoch: int, index: int, stream: int) -> int:
    key = mix((mix((seed + G) & M64) ^ epoch) + G & M64)
    return mix((mix(((key ^ index) + G) & M64) ^ stream) + G & M64)


def swap_wanted(seed, epoch, index, p) -> bool:
    return (draws(seed, epoch, index, 0) >> 11) * 2.0 ** -53 < p


@pytest.fixture
def folder(tmp_path):
    """Five 32x16 pictures, each one flat colour (so a background tells which picture it is)."""
    colours = [(10, 20, 30), (200, 30, 40), (50, 220, 60), (70, 80, 230), (250, 250, 250)]
    for k, rgb in enumerate(colours):
        cv2.imwrite(str(tmp_path / f"b{k}.png"), np.full((32, 16, 3), rgb[::-1], np.uint8))
    return tmp_path, np.array(colours, np.uint8)


def run(data, epoch=0, index=None, **config):
    aug = AttentionAugment(AugmentConfig(**config), backend="numpy")
    return aug(data["images"], data["masks"], data["pids"], data["viewpoints"], epoch=epoch, index=index)


@pytest.mark.parametrize("size", [(32, 16), (48, 24)])
def test_pictures_replace_exactly_the_background_of_the_drawn_samples(make_batch, folder, size):
    path, colours = folder
    data = make_batch(12, *size, seed=3)
    data["masks"][4] = 0
    index = np.arange(100, 112)
    for p in (1.0, 0.5):
        out = run(data, epoch=2, index=index, p=p, seed=7, background="images", background_dir=str(path))
        wanted = np.array([swap_wanted(7, 2, int(i), p) for i in index])
        assert out.swapped.tolist() == (wanted & (data["masks"].reshape(12, -1).any(1))).tolist()
        assert (out.donor == -1).all() and (out.donor_pids == -1).all()
        assert out.stats["swapped"] == out.swapped.sum() and out.stats["no_donor"] == int(wanted[4])
        for i in range(12):
            person = data["masks"][i] > 0
            assert np.array_equal(out.images[i][person], data["images"][i][person])
            if out.swapped[i]:   # a flat picture stays flat when resized (area)
                k = draws(7, 2, int(index[i]), 1) % 5
                expected = cv2.resize(np.full((32, 16, 3), colours[k], np.uint8), size[::-1], interpolation=cv2.INTER_AREA)
                assert np.array_equal(out.images[i][~person], expected[~person])
            else:
                assert np.array_equal(out.images[i], data["images"][i])
    assert 0 < out.swapped.sum() < 11   # p 0.5 swaps some, not all


def test_noise_is_uniform_outside_the_person_and_replays(make_batch):
    data = make_batch(8, seed=1)
    first = run(data, p=1.0, seed=3, background="noise")
    again = run(data, p=1.0, seed=3, background="noise")
    later = run(data, epoch=1, p=1.0, seed=3, background="noise")
    assert np.array_equal(first.images, again.images) and not np.array_equal(first.images, later.images)
    outside = first.images[data["masks"] == 0].astype(float)
    assert abs(outside.mean() - 127.5) < 3 and abs(outside.std() - 73.9) < 3   # uniform on 0..255
    inside = data["masks"] > 0
    assert np.array_equal(first.images[inside], data["images"][inside]) and first.swapped.all()


def test_same_identity_donors_are_the_sample_s_own_other_images(make_batch):
    data = make_batch(16, seed=2, ids=4)
    out = run(data, p=1.0, min_area_ratio=0.0, min_iou=0.0, donor="same")
    swapped = np.flatnonzero(out.swapped)
    assert swapped.size > 8
    assert np.array_equal(out.donor_pids[swapped], data["pids"][swapped])
    assert all(out.donor[i] != i for i in swapped)
    rois = roi_masks(data["masks"]).masks > 0
    for i in swapped:   # the person kept; outside the donor's dilated hole, the donor's own pixels
        assert np.array_equal(out.images[i][rois[i]], data["images"][i][rois[i]])
    other = run(data, p=1.0, min_area_ratio=0.0, min_iou=0.0)
    assert (other.donor_pids[other.swapped] != data["pids"][other.swapped]).all()


def test_controls_run_on_numpy_only_and_are_refused_by_name_on_cupy(folder):
    assert [name for name, rule in DONORS.items() if "cupy" in rule.backends] == ["other"]
    assert [name for name, b in BACKGROUNDS.items() if "cupy" in b.backends] == ["donor"]
    assert backend_problem(DONORS, "same", "cupy") == "'same' runs on the numpy backend only; on cupy use 'other'"
    config = AugmentConfig(background="images", background_dir=str(folder[0]), inpaint="telea")
    assert backend_problems(config, "numpy") == []
    assert backend_problems(config, "cupy") == [
        "inpaint='telea' runs on the numpy backend only; on cupy use 'pullpush' or 'none'",
        "background='images' runs on the numpy backend only; on cupy use 'donor'"]
    for bad in (AugmentConfig(donor="same"), AugmentConfig(background="noise")):
        with pytest.raises(ValueError, match="runs on the numpy backend only; on cupy use"):
            AttentionAugment(bad, backend="cupy")
    AttentionAugment(AugmentConfig(), backend="cupy")   # the paper's choices run there (nothing is launched)


@pytest.mark.parametrize("config, match", [
    (dict(background="images"), "background_dir=''"),
    (dict(background_dir="somewhere"), "background_dir='somewhere'"),
    (dict(donor="same", background="noise"), "donor='same'"),
    (dict(donor="mine"), r"donor='mine': expected one of \['other', 'same'\]"),
    (dict(background_dir=3), "expected a string"),
])
def test_bad_combinations_name_the_fields(config, match):
    with pytest.raises(ValueError, match=match):
        AugmentConfig(**config)


def test_picture_folder_problems_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        load_pictures(tmp_path / "missing")
    with pytest.raises(ValueError, match="holds no picture"):
        load_pictures(tmp_path)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 4, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((8, 6, 3), np.uint8))
    with pytest.raises(ValueError, match=r"b.png is 6x8, the first picture 4x8"):
        load_pictures(tmp_path)
    (tmp_path / "b.png").write_bytes(b"not a picture")
    with pytest.raises(ValueError, match="cannot read"):
        load_pictures(tmp_path)
    (tmp_path / "b.png").unlink()
    pictures = load_pictures(tmp_path)
    assert pictures.shape == (1, 8, 4, 3) and pictures.dtype == np.uint8


def test_stats_count_the_swapped_samples_of_torch_outputs_too(make_batch):
    import torch
    data = make_batch(8, seed=1)
    aug = AttentionAugment(AugmentConfig(p=1.0, background="noise"), backend="numpy")
    out = aug(torch.from_numpy(data["images"]), torch.from_numpy(data["masks"]), data["pids"], data["viewpoints"])
    assert isinstance(out.swapped, torch.Tensor) and out.stats["swapped"] == 8 == int(out.swapped.sum())
