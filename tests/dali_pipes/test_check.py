import hashlib
import shutil

import cv2
import numpy as np
import pytest

from dali_pipes.check import check_manifest, main
from tests.dali_pipes.conftest import write_csv, write_pair


def _tree_digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_good_manifest_passes_with_summary(good_manifest, capsys):
    assert check_manifest(good_manifest) == []
    assert main([str(good_manifest)]) == 0
    out = capsys.readouterr().out
    assert "train: 3 ids, 6 images, 3 cameras" in out and "query: 2 ids, 2 images" in out


def test_each_bad_row_is_reported_and_nothing_changes(tmp_path, capsys):
    rows = []
    image, mask = write_pair(tmp_path, "ok", seed=1)
    rows.append([image, mask, 1, 0, 0, "train"])                       # line 2: fine
    rows.append(["images/missing.jpg", mask, 1, 1, 0, "train"])        # line 3: missing image
    image, mask = write_pair(tmp_path, "trunc", seed=2)
    data = (tmp_path / image).read_bytes()
    (tmp_path / image).write_bytes(data[: len(data) // 2])
    rows.append([image, mask, 2, 0, 0, "train"])                        # line 4: truncated JPEG
    image, mask = write_pair(tmp_path, "size", mask_size=(30, 16), seed=3)
    rows.append([image, mask, 2, 1, 0, "train"])                        # line 5: mask of another size
    image, mask = write_pair(tmp_path, "empty", empty=True, seed=4)
    rows.append([image, mask, 3, 0, 0, "train"])                        # line 6: empty mask
    image, mask = write_pair(tmp_path, "pid", seed=5)
    rows.append([image, mask, "abc", 0, 0, "train"])                    # line 7: non-integer pid
    rows.append([image, mask, 4, 0, 0, "validation"])                   # line 8: unknown split
    image, mask = write_pair(tmp_path, "q", seed=6)
    rows.append([image, "", 9, 0, -1, "query"])                         # line 9: no gallery match
    image, mask = write_pair(tmp_path, "g", seed=7)
    rows.append([image, "", 9, 0, -1, "gallery"])                       # same camera only
    rows.append([image, "", 10, 1, -1, "train"])                        # line 11: train row without mask
    path = write_csv(tmp_path / "manifest.csv", rows)
    before = _tree_digest(tmp_path)

    problems = check_manifest(path)
    by_row = {}
    for p in problems:
        by_row.setdefault(p.row, []).append(p)
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8, 9, 11]
    assert "not found" in by_row[3][0].message and by_row[3][0].path.endswith("missing.jpg")
    assert "truncated" in by_row[4][0].message
    assert "differs" in by_row[5][0].message and "16x30" in by_row[5][0].message
    assert "empty" in by_row[6][0].message
    assert "pid" in by_row[7][0].message
    assert "split" in by_row[8][0].message
    assert "no gallery image" in by_row[9][0].message
    assert "no mask" in by_row[11][0].message

    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4: image JPEG is truncated" in out
    assert _tree_digest(tmp_path) == before


def test_undecodable_file_and_split_filter(tmp_path):
    image, mask = write_pair(tmp_path, "a")
    (tmp_path / "images" / "junk.jpg").write_bytes(b"this is not an image")
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"],
                                          ["images/junk.jpg", "", 2, 0, 0, "query"]])
    assert [p.row for p in check_manifest(path)] == [3, 3]  # undecodable + no gallery match
    assert check_manifest(path, ["train"]) == []


def test_grayscale_and_colour_masks_are_accepted(tmp_path):
    """A grayscale photo and a mask saved as RGB are valid input (decoded as RGB / GRAY)."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "g.jpg"), np.full((20, 10), 128, np.uint8))
    rgb_mask = np.zeros((20, 10, 3), np.uint8)
    rgb_mask[5:15, 2:8] = 255
    cv2.imwrite(str(tmp_path / "masks" / "g.png"), rgb_mask)
    path = write_csv(tmp_path / "m.csv", [["images/g.jpg", "masks/g.png", 1, 0, 0, "train"]])
    assert check_manifest(path) == []


def test_cli_on_missing_manifest(tmp_path, capsys):
    assert main([str(tmp_path / "none.csv")]) == 1
    assert "manifest file not found" in capsys.readouterr().out


def test_unmasked_rows_have_their_kind_and_the_cli_can_accept_them(tmp_path, capsys):
    from dali_pipes.manifest import UNMASKED
    image, mask = write_pair(tmp_path, "ok", seed=1)
    image2, empty = write_pair(tmp_path, "empty", empty=True, seed=2)
    image3, broken = write_pair(tmp_path, "size", mask_size=(30, 16), seed=3)
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"],
                                          [image2, empty, 1, 1, 0, "train"],   # line 3: empty mask
                                          [image, "", 2, 0, 0, "train"],       # line 4: no mask
                                          [image3, broken, 2, 1, 0, "train"],  # line 5: a real problem
                                          [image2, empty, 3, 0, 0, "gallery"]])  # test rows need no mask
    problems = check_manifest(path, ["train", "gallery"])
    assert [(p.row, p.kind) for p in problems] == [(3, UNMASKED), (4, UNMASKED), (5, "")]
    assert main([str(path), "--splits", "train", "--unmasked", "keep"]) == 1  # row 5 still counts
    captured = capsys.readouterr()
    assert f"{path}:5: mask size" in captured.out and ":3:" not in captured.out
    assert "note: 2 training row(s) have no person mask" in captured.err and "without the augmentation" in captured.err
    cv2.imwrite(str(tmp_path / broken), np.full((32, 16), 255, np.uint8))
    assert main([str(path), "--splits", "train", "--unmasked", "drop"]) == 0
    assert main([str(path), "--splits", "train"]) == 1
    # a loader that reads no mask checks the images only
    assert check_manifest(path, ["train"], masks=False) == []


def test_jpeg_masks_are_refused(tmp_path):
    """JPEG noise would make faint non-zero 'person' pixels all over the background."""
    image, _ = write_pair(tmp_path, "a")
    mask = np.zeros((32, 16), np.uint8)
    cv2.ellipse(mask, (8, 16), (5, 11), 0, 0, 360, 255, -1)
    cv2.imwrite(str(tmp_path / "masks" / "a.jpg"), mask)
    noisy = cv2.imread(str(tmp_path / "masks" / "a.jpg"), cv2.IMREAD_GRAYSCALE)
    assert ((noisy > 0) != (mask > 0)).any()  # why: the decoded JPEG has stray non-zero pixels
    path = write_csv(tmp_path / "m.csv", [[image, "masks/a.jpg", 1, 0, 0, "train"]])
    [problem] = check_manifest(path)
    assert "is a JPEG" in problem.message and problem.path.endswith("a.jpg")
