"""MSMT17 importer on a miniature release with the official list files."""
import os

import pytest

from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.prepare.msmt17 import main

LISTS = {  # list file -> lines "<dir>/<name> <pid>"; the camera is the name's third field
    "list_train.txt": ["0000/0000_000_01_0303morning_0015_0.jpg 0",
                       "0000/0000_001_14_0303morning_0016_1.jpg 0",
                       "0001/0001_000_07_0303noon_0021_0.jpg 1"],
    "list_val.txt": ["0002/0002_000_15_0303afternoon_0102_0.jpg 2"],
    "list_query.txt": ["0000/0000_000_05_0303morning_0093_0.jpg 0"],
    "list_gallery.txt": ["0000/0000_003_11_0303morning_0111_1.jpg 0",
                         "0003/0003_000_02_0303noon_0560_0.jpg 3"],
}
EXPECTED = {  # (image folder/path, pid, camid, split), by hand
    ("train/0000/0000_000_01_0303morning_0015_0.jpg", 0, 0, "train"),
    ("train/0000/0000_001_14_0303morning_0016_1.jpg", 0, 13, "train"),
    ("train/0001/0001_000_07_0303noon_0021_0.jpg", 1, 6, "train"),
    ("test/0000/0000_000_05_0303morning_0093_0.jpg", 0, 4, "query"),
    ("test/0000/0000_003_11_0303morning_0111_1.jpg", 0, 10, "gallery"),
    ("test/0003/0003_000_02_0303noon_0560_0.jpg", 3, 1, "gallery"),
}
VAL = ("train/0002/0002_000_15_0303afternoon_0102_0.jpg", 2, 14, "train")


def make_msmt(root, touch_image, folders=("train", "test")):
    for list_name, lines in LISTS.items():
        folder = folders[0] if list_name in ("list_train.txt", "list_val.txt") else folders[1]
        for line in lines:
            touch_image(root / folder / line.split()[0])
        (root / list_name).write_text("\n".join(lines) + "\n")


def read_rows(manifest, root):
    return {(os.path.relpath(s.image, root).replace(os.sep, "/"), s.pid, s.camid, s.split)
            for s in read_manifest(manifest)}


def test_lists_give_ids_cameras_splits(tmp_path, touch_image, capsys):
    root = tmp_path / "MSMT17_V1"
    make_msmt(root, touch_image)
    out = tmp_path / "msmt.csv"
    assert main([str(root), "--out", str(out)]) == 0
    assert read_rows(out, root) == EXPECTED
    assert "train: 2 ids, 3 images, 3 cameras" in capsys.readouterr().out


def test_with_val_adds_the_validation_list_to_train(tmp_path, touch_image):
    root = tmp_path / "MSMT17_V1"
    make_msmt(root, touch_image)
    assert main([str(root), "--with-val", "--out", str(tmp_path / "m.csv")]) == 0
    assert read_rows(tmp_path / "m.csv", root) == EXPECTED | {VAL}


def test_v2_folder_names(tmp_path, touch_image):
    root = tmp_path / "MSMT17_V2"
    make_msmt(root, touch_image, folders=("mask_train_v2", "mask_test_v2"))
    assert main([str(root), "--out", str(tmp_path / "m.csv")]) == 0
    got = {(path.split("/", 1)[1], *rest) for path, *rest in read_rows(tmp_path / "m.csv", root)}
    assert got == {(path.split("/", 1)[1], *rest) for path, *rest in EXPECTED}


@pytest.mark.parametrize("line, message", [
    ("0000/0000_000_01_0303morning_0015_0.jpg", "list_query.txt:2: expected"),
    ("0000/0000_000_16_0303morning_0015_0.jpg 0", "list_query.txt:2: camera 16 outside 1..15"),
])
def test_bad_list_lines_are_named(tmp_path, touch_image, capsys, line, message):
    make_msmt(tmp_path, touch_image)
    with open(tmp_path / "list_query.txt", "a") as f:
        f.write(line + "\n")
    assert main([str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 2
    assert message in capsys.readouterr().err


def test_missing_list_and_folders_are_named(tmp_path, touch_image, capsys):
    make_msmt(tmp_path, touch_image)
    os.remove(tmp_path / "list_gallery.txt")
    assert main([str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 2
    assert "has no file 'list_gallery.txt'" in capsys.readouterr().err
    (tmp_path / "list_gallery.txt").write_text("")
    os.rename(tmp_path / "test", tmp_path / "testing")
    assert main([str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 2
    assert "expected train/ + test/ or mask_train_v2/ + mask_test_v2/" in capsys.readouterr().err


def test_a_list_in_another_encoding_is_one_line(tmp_path, touch_image, capsys):
    root = tmp_path / "MSMT17_V1"
    make_msmt(root, touch_image)
    (root / "list_query.txt").write_bytes("0000/0000_000_05_caf\xe9.jpg 0\n".encode("latin-1"))
    assert main([str(root), "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "list_query.txt: not UTF-8 text (byte 0xe9" in err
    assert not (tmp_path / "m.csv").exists()


def test_test_pids_repeat_training_pids_so_the_check_is_told(tmp_path, touch_image):
    """MSMT17's test pids restart at 0: pid 0 in train and query/gallery is two people."""
    from attention_swap_reid.dali_pipes.check import check_manifest
    root = tmp_path / "MSMT17_V1"
    make_msmt(root, touch_image)
    assert main([str(root), "--out", str(tmp_path / "m.csv")]) == 0
    shared = [p for p in check_manifest(tmp_path / "m.csv", masks=False) if "training identity" in p.message]
    assert [p.message.split(" is ")[0] for p in shared] == ["query pid 0"]
    assert not [p for p in check_manifest(tmp_path / "m.csv", masks=False, separate_test_ids=True)
                if "training identity" in p.message]
