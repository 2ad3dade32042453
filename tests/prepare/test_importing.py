"""The importers' shared plumbing: mask layout, path checks, summary line."""
import os

import pytest

from attention_swap_reid.dali_pipes.manifest import Sample, summarize
from attention_swap_reid.prepare.importing import DatasetError, image_root, mask_path, require_paths


def sample(image, split="train", pid=1, camid=0):
    return Sample(image=image, mask="", pid=pid, camid=camid, viewpoint=-1, split=split)


def test_mask_layout_is_the_image_path_below_the_common_folder():
    samples = [sample("/d/M/bounding_box_train/0002_c1s1_000451_03.jpg"), sample("/d/M/query/0002_c2s1_000301_00.jpg")]
    root = image_root(samples)
    assert root == os.path.normpath("/d/M")
    assert mask_path(samples[0].image, root, "/masks") == os.path.normpath(
        "/masks/bounding_box_train/0002_c1s1_000451_03.png")
    # One folder of images (RAP): the masks sit directly in the mask folder.
    rap = [sample("/d/RAP/RAP_dataset/CAM01_a.png"), sample("/d/RAP/RAP_dataset/CAM02_b.png")]
    assert mask_path(rap[1].image, image_root(rap), "/m") == os.path.normpath("/m/CAM02_b.png")


def test_require_paths_names_the_missing_one(tmp_path):
    (tmp_path / "a").mkdir()
    require_paths(str(tmp_path), "X", ["a"])
    with pytest.raises(DatasetError, match=r"has no folder 'b' \(expected a, b\)"):
        require_paths(str(tmp_path), "X", ["a", "b"])
    with pytest.raises(DatasetError, match="is not a folder"):
        require_paths(str(tmp_path / "nope"), "X", ["a"])


def test_summary_counts_ids_images_cameras_per_split():
    samples = [sample("/a", pid=1, camid=0), sample("/b", pid=1, camid=2), sample("/c", pid=4, camid=2),
               sample("/d", "query", pid=4, camid=1)]
    assert summarize(samples) == ("train: 2 ids, 3 images, 2 cameras; query: 1 ids, 1 images, 1 cameras; "
                                 "gallery: 0 ids, 0 images, 0 cameras")
