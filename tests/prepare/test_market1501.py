"""Market-1501 importer on a miniature tree in the official layout (real file-name format)."""
import os

import cv2
import numpy as np
import pytest

from attention_swap_reid.dali_pipes.check import check_manifest
from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.prepare.market1501 import main

FILES = {
    "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c3s1_000551_01.jpg",
                           "0007_c2s3_070952_01.jpg",  # a single-image identity: kept
                           "-1_c1s1_000401_03.jpg"],   # junk: dropped
    "query": ["0003_c2s1_000301_00.jpg", "0008_c6s1_000001_00.jpg",  # test identities: none trains
              "0000_c1s1_000151_01.jpg"],              # a distractor outside the gallery: dropped
    "bounding_box_test": ["0003_c4s1_000001_01.jpg", "0008_c5s1_000002_01.jpg",
                          "0000_c1s1_000151_01.jpg",   # distractor: kept in the gallery
                          "-1_c3s2_000123_02.jpg"],    # junk: dropped
}
EXPECTED = {  # (folder/file, pid, camid, split), written out by hand
    ("bounding_box_train/0002_c1s1_000451_03.jpg", 2, 0, "train"),
    ("bounding_box_train/0002_c3s1_000551_01.jpg", 2, 2, "train"),
    ("bounding_box_train/0007_c2s3_070952_01.jpg", 7, 1, "train"),
    ("query/0003_c2s1_000301_00.jpg", 3, 1, "query"),
    ("query/0008_c6s1_000001_00.jpg", 8, 5, "query"),
    ("bounding_box_test/0003_c4s1_000001_01.jpg", 3, 3, "gallery"),
    ("bounding_box_test/0008_c5s1_000002_01.jpg", 8, 4, "gallery"),
    ("bounding_box_test/0000_c1s1_000151_01.jpg", 0, 0, "gallery"),
}


@pytest.fixture
def market(tmp_path, touch_image):
    root = tmp_path / "Market-1501-v15.09.15"
    for folder, names in FILES.items():
        for name in names:
            touch_image(root / folder / name)
    (root / "bounding_box_train" / "Thumbs.db").write_bytes(b"not an image")  # shipped with the dataset
    return root


def rows(manifest):
    root = os.path.dirname(os.path.abspath(manifest))
    return {(os.path.relpath(s.image, root).replace(os.sep, "/").split("/", 1)[1], s.pid, s.camid, s.split)
            for s in read_manifest(manifest)}


def test_ids_cameras_splits_and_junk(market, tmp_path, capsys):
    out = tmp_path / "market.csv"
    assert main([str(market), "--out", str(out)]) == 0
    assert rows(out) == EXPECTED
    samples = read_manifest(out)
    assert all(s.viewpoint == -1 and s.mask == "" for s in samples)
    captured = capsys.readouterr()
    assert "train: 2 ids, 3 images, 3 cameras" in captured.out
    assert "gallery: 3 ids, 3 images, 3 cameras" in captured.out
    assert "dropped 2 junk (pid -1)" in captured.out
    assert "dropped 1 distractors (pid 0) outside the gallery" in captured.out
    assert "3 train rows have no mask" in captured.err


def test_masks_are_looked_up_by_split_folder_and_stem(market, tmp_path, capsys):
    masks = tmp_path / "masks"
    for name in FILES["bounding_box_train"][:3]:
        path = masks / "bounding_box_train" / name.replace(".jpg", ".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), np.full((16, 8), 255, np.uint8))
    out = tmp_path / "market.csv"
    assert main([str(market), "--masks", str(masks), "--out", str(out)]) == 0
    for s in read_manifest(out):
        expected = masks / "bounding_box_train" / (os.path.splitext(os.path.basename(s.image))[0] + ".png")
        assert s.mask == (str(expected) if s.split == "train" else "")
    assert "no mask" not in capsys.readouterr().err
    assert check_manifest(out) == []  # files decode, masks fit, every query has a cross-camera match


def test_missing_split_folder_is_named(market, tmp_path, capsys):
    os.rename(market / "query", market / "queries")
    assert main([str(market), "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert "has no folder 'query'" in err and err.count("\n") == 1
    assert not (tmp_path / "m.csv").exists()


def test_parent_folder_gets_a_hint(market, tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 2
    assert f"did you mean '{market}'" in capsys.readouterr().err


@pytest.mark.parametrize("name, message", [
    ("img_0001.jpg", "expected names like '0002_c1s1_000451_03.jpg'"),
    ("0002_c7s1_000451_03.jpg", "camera c7; allowed c1..c6"),
])
def test_bad_file_names_are_named(market, tmp_path, touch_image, capsys, name, message):
    touch_image(market / "query" / name)
    assert main([str(market), "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert name in err and message in err


def test_out_refuses_a_file_that_is_not_a_manifest(market, tmp_path, capsys):
    photo = market / "bounding_box_train" / FILES["bounding_box_train"][0]
    before = photo.read_bytes()
    assert main([str(market), "--out", str(photo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{photo} exists and is not a manifest: not replaced" in err and "--force" in err
    assert photo.read_bytes() == before
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    assert main([str(market), "--out", str(other), "--force"]) == 0 and rows(other) == EXPECTED
    assert main([str(market), "--out", str(other)]) == 0  # a manifest now: replaced without --force


def test_out_folder_is_refused_without_a_stray_temporary_file(market, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main([str(market), "--out", str(folder), "--force"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path / "out.tmp").exists() and not any(folder.iterdir())


def test_an_unreadable_split_folder_is_one_line(market, tmp_path, capsys, monkeypatch):
    real_listdir = os.listdir

    def listdir(path="."):  # as for a folder without read permission (chmod does not stop root)
        if str(path).endswith("query"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)
    monkeypatch.setattr(os, "listdir", listdir)
    assert main([str(market), "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err and "query" in err
    assert not (tmp_path / "m.csv").exists()


def test_a_full_disk_is_one_line_and_keeps_the_earlier_manifest(market, tmp_path, capsys, full_disk):
    out = tmp_path / "out" / "market.csv"
    assert main([str(market), "--out", str(out)]) == 0
    before = out.read_bytes()
    full_disk(out.parent, free=10)
    assert main([str(market), "--out", str(out)]) == 2
    assert capsys.readouterr().err.endswith(f"error: {out}: cannot write: No space left on device\n")
    assert out.read_bytes() == before and sorted(p.name for p in out.parent.iterdir()) == ["market.csv"]
