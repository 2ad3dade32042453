"""prepare.masks: instance selection on hand-made detections, weight-file errors, and an end-to-end run.

The end-to-end tests use a *randomly initialised* Mask R-CNN saved to a temporary weights
file, with its person logits biased up so that it "finds" a person in every image. They only
exercise the plumbing (weights loading, batching, PNG layout, the new manifest, resuming,
the no-person report); they say nothing about mask quality, which needs the real COCO weights.
"""
import csv
import os

import cv2
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes.check import check_manifest
from attention_swap_reid.dali_pipes.manifest import read_manifest, write_manifest
from attention_swap_reid.prepare.market1501 import main as import_market
from attention_swap_reid.prepare.masks import WEIGHTS_NAME, WeightsError, load_maskrcnn, main, select_person

H, W = 40, 20  # the test images (H x W)


def box_mask(x1, y1, x2, y2):
    mask = np.zeros((H, W), np.float32)
    mask[y1:y2, x1:x2] = 0.9
    return mask


def detections(*instances):
    """(label, score, box) instances -> the arrays select_person takes; masks fill the boxes."""
    boxes = np.array([box for _, _, box in instances], np.float32).reshape(-1, 4)
    masks = np.stack([box_mask(*box) for _, _, box in instances]) if instances else np.zeros((0, H, W))
    labels = np.array([label for label, _, _ in instances])
    scores = np.array([score for _, score, _ in instances], np.float32)
    return boxes, labels, scores, masks


def test_select_person_prefers_area_times_centrality():
    # A: 10x20 box centred: area 200/800 = 0.25, centrality 1 -> 0.25.
    # B: 20x30 box at the top-left, centre (10, 15) vs (10, 20): area 0.75,
    #    offset (0, 5/20) -> centrality 1 - 0.25/sqrt(2) = 0.823 -> 0.617: B wins.
    a, b = (5, 10, 15, 30), (0, 0, 20, 30)
    assert select_person(*detections((1, 0.9, a), (1, 0.8, b)), score_threshold=0.5) == 1
    # C: same area as B but in a corner quadrant: centre (5, 10), offset (0.5, 0.5) ->
    #    centrality 1 - 0.5 = 0.5; area 200/800 -> 0.125 < A's 0.25: A wins.
    c = (0, 0, 10, 20)
    assert select_person(*detections((1, 0.9, c), (1, 0.9, a)), score_threshold=0.5) == 1


def test_select_person_ignores_other_classes_low_scores_and_empty_masks():
    big = (0, 0, 20, 40)
    assert select_person(*detections((3, 0.99, big), (1, 0.6, (5, 10, 15, 30))), score_threshold=0.5) == 1
    assert select_person(*detections((1, 0.4, big)), score_threshold=0.5) == -1
    assert select_person(*detections((1, 0.9, (5, 5, 5, 5))), score_threshold=0.5) == -1  # empty mask
    assert select_person(*detections(), score_threshold=0.5) == -1


def test_missing_weights_name_the_file_and_the_official_weights(tmp_path):
    with pytest.raises(WeightsError, match=f"not found.*{WEIGHTS_NAME}"):
        load_maskrcnn(str(tmp_path / "nope.pth"))


def test_wrong_weights_are_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(WeightsError, match="is not a maskrcnn_resnet50_fpn COCO state dict"):
        load_maskrcnn(str(path))


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A randomly initialised Mask R-CNN whose person class (1) always wins, saved as a state dict."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1] = 20.0  # person score ~1 for every box
        model.roi_heads.mask_predictor.mask_fcn_logits.bias[1] = 20.0  # person mask = its box
    path = tmp_path_factory.mktemp("weights") / "random_maskrcnn.pth"
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.fixture
def manifest(tmp_path, touch_image):
    """A Market-1501 style manifest made by the importer, plus an extra column to keep."""
    root = tmp_path / "market"
    for name in ("bounding_box_train/0002_c1s1_000451_03.jpg", "bounding_box_train/0002_c3s1_000551_01.jpg",
                 "bounding_box_train/0007_c2s3_070952_01.jpg", "query/0003_c2s1_000301_00.jpg",
                 "bounding_box_test/0003_c4s1_000001_01.jpg"):
        touch_image(root / name, size=(H, W))
    path = tmp_path / "data" / "market.csv"
    assert import_market([str(root), "--out", str(path)]) == 0
    samples = [s.__class__(**{**s.__dict__, "extra": {"note": f"n{i}"}}) for i, s in enumerate(read_manifest(path))]
    write_manifest(path, samples, extra_columns=["note"])
    return path


FAST = ["--device", "cpu", "--min-size", "32", "--max-size", "64", "--proposals", "8", "--batch-size", "2"]


@pytest.mark.slow
def test_end_to_end_writes_masks_and_a_manifest_that_passes_the_check(manifest, random_weights, capsys):
    assert main([str(manifest), "--weights", random_weights, *FAST]) == 0
    out = manifest.parent / "market_masked.csv"
    assert "3/3 train rows have a mask (3 new, 0 from an earlier run)" in capsys.readouterr().out
    samples = read_manifest(out)
    assert [s.extra["note"] for s in samples] == [f"n{i}" for i in range(5)]
    for s in samples:
        if s.split != "train":
            assert s.mask == ""
            continue
        expected = manifest.parent / "masks" / "bounding_box_train" / os.path.basename(s.image).replace(".jpg", ".png")
        assert s.mask == str(expected)
        mask = cv2.imread(s.mask, cv2.IMREAD_UNCHANGED)
        assert mask.shape == (H, W) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255} and mask.any()
    assert check_manifest(out) == []

    # Resume: nothing left to compute; a deleted mask is computed again.
    assert main([str(manifest), "--weights", random_weights, *FAST]) == 0
    assert "(0 new, 3 from an earlier run)" in capsys.readouterr().out
    os.remove(samples[0].mask)
    assert main([str(manifest), "--weights", random_weights, *FAST]) == 0
    assert "(1 new, 2 from an earlier run)" in capsys.readouterr().out


def test_rows_without_a_person_are_reported_not_invented(manifest, random_weights, tmp_path, capsys):
    out = tmp_path / "new.csv"
    # No score can reach 1.0, so nothing is a person.
    assert main([str(manifest), "--weights", random_weights, "--out", str(out), "--score-threshold", "1.0",
                 "--splits", "train", "query", *FAST]) == 0
    assert "warning: 4 rows without a person mask" in capsys.readouterr().err
    assert all(s.mask == "" for s in read_manifest(out))
    with open(tmp_path / "new_no_person.csv", newline="") as f:
        report = list(csv.DictReader(f))
    assert [r["row"] for r in report] == ["2", "3", "4", "5"]
    assert all(r["reason"] == "no person with score >= 1.0" for r in report)
    assert not (tmp_path / "masks").exists()


def test_cli_errors_are_one_line(manifest, tmp_path, capsys):
    assert main([str(manifest), "--weights", str(tmp_path / "missing.pth"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.pth" in err and WEIGHTS_NAME in err


def test_out_refuses_a_file_that_is_not_a_manifest(manifest, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    assert main([str(manifest), "--weights", str(tmp_path / "missing.pth"), "--device", "cpu",
                 "--out", str(notes)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notes.txt exists and is not a manifest" in err
    assert notes.read_text() == "my notes\n" and not (tmp_path / "data" / "masks").exists()
    assert main([str(manifest), "--weights", str(tmp_path / "missing.pth"), "--device", "cpu",
                 "--out-masks", str(notes)]) == 2
    assert "is a file; choose another --out-masks" in capsys.readouterr().err


def test_a_mask_on_a_full_disk_is_one_line_and_no_partial_png(tmp_path, full_disk):
    from attention_swap_reid.prepare.masks import MaskError, _write_png

    target = tmp_path / "masks" / "a.png"
    mask = np.zeros((64, 32), np.uint8)
    mask[10:50, 8:24] = 255
    _write_png(str(target), mask)
    assert np.array_equal(cv2.imread(str(target), cv2.IMREAD_GRAYSCALE), mask)  # what imwrite wrote before
    full_disk(tmp_path / "masks", free=20)
    with pytest.raises(MaskError, match=rf"^{tmp_path / 'masks' / 'b.png'}: cannot write the mask: No space left"):
        _write_png(str(tmp_path / "masks" / "b.png"), mask)
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a.png"]
