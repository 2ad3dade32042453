"""RAP 2.0 importer on a small RAP_annotation.mat written in the official structure.

The struct mirrors the real file (fields name, data, attribute, selected_attribute,
partition_attribute, person_identity, partition_reid; 152 attribute columns with 'viewpoint'
the 112th; 1-based MATLAB indices, column and row vectors as MATLAB scripts build them).
"""
import os

import numpy as np
import pytest
from scipy.io import savemat

from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.prepare.rap import main

STAMP = "2014-02-15_20140215161032-20140215162620"
# image (1-based index in the file): (camera, pid, viewpoint code in the annotation)
IMAGES = {
    1: ("CAM01", 1, 1), 2: ("CAM02", 1, 2), 3: ("CAM31", 3, 4),  # train; pid 3 has one image
    4: ("CAM01", -1, 1),                                       # in train_index without identity
    5: ("CAM05", 2, 3), 10: ("CAM03", -1, 2),                  # query; the second is unidentified
    6: ("CAM07", 2, 0), 7: ("CAM05", 2, 2),                    # gallery (code 0: no viewpoint)
    8: ("CAM09", -1, 1), 9: ("CAM09", -2, 3),                  # gallery distractor; no identity at all
}
PARTITION = {"train_identity": [1, 3], "test_identity": [2],
             "train_index": [1, 2, 3, 4], "query_index": [5, 10], "gallery_index": [6, 7, 8, 9]}
EXPECTED = {  # (image index, pid, camid, viewpoint class, split), by hand
    (1, 1, 0, 0, "train"), (2, 1, 1, 1, "train"), (3, 3, 30, 3, "train"),
    (5, 2, 4, 2, "query"),
    (6, 2, 6, -1, "gallery"), (7, 2, 4, 1, "gallery"), (8, -1, 8, 0, "gallery"),
}


def name(index):
    camera = IMAGES[index][0]
    return f"{camera}_{STAMP}_tarid{index}_frame{100 + index}_line1.png"


def cells(strings):
    """A MATLAB N x 1 cell array of strings."""
    array = np.empty((len(strings), 1), dtype=object)
    array[:, 0] = strings
    return array


def write_rap(root, touch_image, partition=PARTITION):
    n = max(IMAGES)
    attributes = [f"attr{i}" for i in range(152)]
    attributes[111] = "viewpoint"
    data = np.zeros((n, 152), np.uint8)
    data[:, 111] = [IMAGES[i][2] for i in range(1, n + 1)]
    reid = {"train_identity": np.array([partition["train_identity"]], np.uint16),
            "test_identity": np.array([partition["test_identity"]], np.uint16)}
    for key in ("train_index", "gallery_index"):  # built as columns by the MATLAB scripts
        if key in partition:
            reid[key] = np.array(partition[key], np.float64)[:, None]
    if "query_index" in partition:  # a row vector
        reid["query_index"] = np.array([partition["query_index"]], np.float64)
    annotation = {
        "name": cells([name(i) for i in range(1, n + 1)]),
        "data": data,
        "attribute": cells(attributes),
        "selected_attribute": np.arange(1, 55, dtype=np.float64)[None, :],
        "partition_attribute": np.empty((1, 0), dtype=object),
        "person_identity": np.array([[IMAGES[i][1]] for i in range(1, n + 1)], np.int16),
        "partition_reid": reid,
    }
    (root / "RAP_annotation").mkdir(parents=True)
    savemat(root / "RAP_annotation" / "RAP_annotation.mat", {"RAP_annotation": annotation})
    for i in range(1, n + 1):
        touch_image(root / "RAP_dataset" / name(i))


def rows(manifest):
    index = {name(i): i for i in IMAGES}
    return {(index[os.path.basename(s.image)], s.pid, s.camid, s.viewpoint, s.split)
            for s in read_manifest(manifest)}


def test_official_partition_ids_cameras_viewpoints(tmp_path, touch_image, capsys):
    write_rap(tmp_path / "RAP", touch_image)
    out = tmp_path / "rap.csv"
    assert main([str(tmp_path / "RAP"), "--out", str(out)]) == 0
    assert rows(out) == EXPECTED
    printed = capsys.readouterr().out
    assert "dropped 1 train rows without identity (pid -1)" in printed
    assert "dropped 1 query rows without identity (pid -1)" in printed
    assert "dropped 1 gallery rows with pid -2" in printed


def test_drop_distractors(tmp_path, touch_image):
    write_rap(tmp_path, touch_image)
    assert main([str(tmp_path), "--drop-distractors", "--out", str(tmp_path / "r.csv")]) == 0
    assert rows(tmp_path / "r.csv") == {r for r in EXPECTED if r[1] != -1}


def test_train_from_identities_when_no_train_index(tmp_path, touch_image):
    partition = {k: v for k, v in PARTITION.items() if k != "train_index"}
    write_rap(tmp_path, touch_image, partition)
    assert main([str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 0
    assert rows(tmp_path / "r.csv") == EXPECTED


def test_missing_partition_field_is_named(tmp_path, touch_image, capsys):
    write_rap(tmp_path, touch_image, {k: v for k, v in PARTITION.items() if k != "query_index"})
    assert main([str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    assert "partition_reid has no field 'query_index'" in capsys.readouterr().err


def test_missing_annotation_is_named(tmp_path, touch_image, capsys):
    (tmp_path / "RAP_dataset").mkdir()
    assert main([str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    assert os.path.join("RAP_annotation", "RAP_annotation.mat") in capsys.readouterr().err


@pytest.mark.parametrize("bad", [0, 11])
def test_index_out_of_range_is_named(tmp_path, touch_image, capsys, bad):
    write_rap(tmp_path, touch_image, {**PARTITION, "gallery_index": [6, bad]})
    assert main([str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    assert f"gallery_index holds index {bad} outside 1..10" in capsys.readouterr().err
