"""DukeMTMC-reID importer on a miniature tree in the official layout (real file-name format)."""
import os

from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.prepare.dukemtmc import main

FILES = {
    "bounding_box_train": ["0005_c2_f0046985.jpg", "0005_c5_f0051341.jpg", "0008_c8_f0124580.jpg"],
    "query": ["0005_c1_f0043280.jpg"],
    "bounding_box_test": ["0005_c3_f0090612.jpg", "0000_c6_f0030102.jpg", "7140_c8_f0197550.jpg"],
}
EXPECTED = {  # (file, pid, camid, split): camera c<k> -> camid k-1, every identity kept
    ("0005_c2_f0046985.jpg", 5, 1, "train"), ("0005_c5_f0051341.jpg", 5, 4, "train"),
    ("0008_c8_f0124580.jpg", 8, 7, "train"), ("0005_c1_f0043280.jpg", 5, 0, "query"),
    ("0005_c3_f0090612.jpg", 5, 2, "gallery"), ("0000_c6_f0030102.jpg", 0, 5, "gallery"),
    ("7140_c8_f0197550.jpg", 7140, 7, "gallery"),
}


def make_duke(root, touch_image):
    for folder, names in FILES.items():
        for name in names:
            touch_image(root / folder / name)


def test_ids_cameras_splits(tmp_path, touch_image, capsys):
    make_duke(tmp_path / "DukeMTMC-reID", touch_image)
    out = tmp_path / "duke.csv"
    assert main([str(tmp_path / "DukeMTMC-reID"), "--out", str(out)]) == 0
    got = {(os.path.basename(s.image), s.pid, s.camid, s.split) for s in read_manifest(out)}
    assert got == EXPECTED
    assert "train: 2 ids, 3 images, 3 cameras; query: 1 ids, 1 images, 1 cameras" in capsys.readouterr().out


def test_camera_9_is_rejected(tmp_path, touch_image, capsys):
    make_duke(tmp_path, touch_image)
    touch_image(tmp_path / "query" / "0005_c9_f0000001.jpg")
    assert main([str(tmp_path), "--out", str(tmp_path / "d.csv")]) == 2
    assert "camera c9; allowed c1..c8" in capsys.readouterr().err
