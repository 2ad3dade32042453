"""Helpers for hand-made manifests (independent of the synthetic world)."""
import csv

import cv2
import numpy as np
import pytest


def write_pair(folder, name, size=(32, 16), mask_size=None, empty=False, seed=0):
    """Write images/<name>.jpg and masks/<name>.png; returns their relative paths."""
    rng = np.random.default_rng(seed)
    h, w = size
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    cv2.imwrite(str(folder / "images" / f"{name}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    mh, mw = mask_size or size
    mask = np.zeros((mh, mw), np.uint8)
    if not empty:
        mask[mh // 4: 3 * mh // 4, mw // 4: 3 * mw // 4] = 255
    cv2.imwrite(str(folder / "masks" / f"{name}.png"), mask)
    return f"images/{name}.jpg", f"masks/{name}.png"


def write_csv(path, rows, header=("image", "mask", "pid", "camid", "viewpoint", "split")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def good_manifest(tmp_path):
    """6 train rows (3 ids), 2 query + 2 gallery rows with cross-camera matches."""
    rows = []
    for i, (pid, cam, split) in enumerate([(1, 0, "train"), (1, 1, "train"), (2, 0, "train"), (2, 1, "train"),
                                          (3, 0, "train"), (3, 2, "train"), (7, 0, "query"), (7, 1, "gallery"),
                                          (8, 1, "query"), (8, 2, "gallery")]):
        image, mask = write_pair(tmp_path, f"{i:02d}", seed=i)
        rows.append([image, mask, pid, cam, i % 3, split])
    return write_csv(tmp_path / "manifest.csv", rows)
