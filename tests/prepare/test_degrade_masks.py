"""prepare.degrade_masks: training masks degraded as a detector errs; nothing else changes."""
import cv2
import numpy as np
import pytest

from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.prepare.degrade_masks import KINDS, degrade, degrade_manifest, figure, main


def person(h=120, w=60):
    mask = np.zeros((h, w), np.uint8)
    mask[10:110, 20:40] = 1  # a 100 x 20 box
    return mask


def rng(seed=0):
    return np.random.default_rng(seed)


def test_erode_and_dilate_move_the_boundary_by_the_level():
    mask = person()
    r = round(0.3 * 0.1 * 100)  # 3 pixels
    assert np.array_equal(degrade(mask, "erode", 0.3, rng()), cv2.erode(mask, cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))))
    grown = degrade(mask, "dilate", 0.3, rng())
    assert grown[10:110, 20:40].all() and grown[10:110, 17].all() and not grown[10:110, 16].any()


def test_holes_and_blobs_change_about_the_asked_share_of_the_area():
    mask = person()
    holed = degrade(mask, "holes", 0.4, rng())
    lost = (mask.sum() - holed.sum()) / mask.sum()
    assert 0.2 <= lost <= 0.3 and not (holed & (1 - mask)).any()
    blobbed = degrade(mask, "blobs", 0.4, rng())
    added = (blobbed & (1 - mask)).sum() / mask.sum()
    assert 0.2 <= added <= 0.3 and (blobbed >= mask).all()


def test_shift_moves_the_mask_diagonally():
    moved = degrade(person(), "shift", 0.4, rng())
    ys, xs = np.nonzero(moved)
    assert moved.sum() == person().sum()
    assert abs(ys.min() - 10) == 10 and abs(xs.min() - 20) == 2  # 0.4 * 0.25 * (100, 20)


def test_drop_parts_removes_one_part_at_level_one():
    mask = person()
    dropped = degrade(mask, "drop_parts", 1.0, rng())
    assert 0 < dropped.sum() < mask.sum() and (dropped <= mask).all()


@pytest.mark.parametrize("kind", list(KINDS))
def test_level_zero_is_the_identity_and_the_seed_decides(kind):
    mask = person() * 255
    assert np.array_equal(degrade(mask, kind, 0.0, rng()), mask // 255)
    a, b = degrade(mask, kind, 0.8, rng(1)), degrade(mask, kind, 0.8, rng(1))
    assert np.array_equal(a, b) and a.dtype == np.uint8 and set(np.unique(a)) <= {0, 1}


def test_bad_kind_and_level_are_refused():
    with pytest.raises(ValueError, match="kind"):
        degrade(person(), "blur", 0.5, rng())
    with pytest.raises(ValueError, match="level"):
        degrade(person(), "erode", 1.5, rng())


def test_manifest_keeps_images_and_test_rows_and_degrades_training_masks(tiny_world, tmp_path):
    before = read_manifest(tiny_world)
    out = degrade_manifest(tiny_world, tmp_path / "eroded", "erode", 0.5, seed=3, progress=False)
    after = read_manifest(out)
    assert len(after) == len(before)
    changed = 0
    for a, b in zip(before, after):
        assert (a.image, a.pid, a.camid, a.viewpoint, a.split) == (b.image, b.pid, b.camid, b.viewpoint, b.split)
        if a.split != "train":
            assert b.mask == a.mask
            continue
        old = cv2.imread(a.mask, cv2.IMREAD_GRAYSCALE) != 0
        new = cv2.imread(b.mask, cv2.IMREAD_GRAYSCALE) != 0
        assert (new <= old).all()  # eroded
        changed += int((new != old).any())
    assert changed > 0
    again = degrade_manifest(tiny_world, tmp_path / "again", "erode", 0.5, seed=3, progress=False)
    for a, b in zip(read_manifest(out), read_manifest(again)):
        if a.split == "train":
            assert np.array_equal(cv2.imread(a.mask), cv2.imread(b.mask))


def test_cli_refuses_to_overwrite_and_draws_the_figure(tiny_world, tmp_path, capsys):
    assert main([str(tiny_world), "--out", str(tmp_path / "d"), "--kind", "holes", "--level", "0.3"]) == 0
    with pytest.raises(SystemExit) as e:
        main([str(tiny_world), "--out", str(tmp_path / "d"), "--kind", "holes", "--level", "0.3"])
    assert e.value.code == 2 and "--force" in capsys.readouterr().err
    png = figure(tiny_world, tmp_path / "kinds.png")
    grid = cv2.imread(str(png))
    assert grid is not None and grid.shape[0] > len(KINDS) * 64
