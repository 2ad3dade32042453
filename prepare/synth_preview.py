"""A picture of a synthetic world: sample images and masks, one identity per column.

Rows: a training image in the identity's own scene, its mask, another training image of the
same identity (other viewpoint), then for a test identity: a query, a gallery match from
another camera, and the query's robustness re-render on a training identity's scene.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from attention_swap_reid.dali_pipes.manifest import Sample, read_manifest

ROWS = ("train\n(own scene)", "its mask", "train\n(other view)", "query", "gallery\n(other camera)",
        "robustness\n(query, swapped scene)")


def _load(path: str, gray: bool = False) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read {path}")
    return image if gray else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _column(samples: list[Sample], robust: dict[str, Sample], train_pid: int, test_pid: int) -> list[np.ndarray]:
    train = [s for s in samples if s.pid == train_pid]
    home = Counter(s.extra["scene"] for s in train).most_common(1)[0][0]
    first = next(s for s in train if s.extra["scene"] == home)
    other = next((s for s in train if s.viewpoint != first.viewpoint), train[-1])
    query = next(s for s in samples if s.pid == test_pid and s.split == "query")
    gallery = next(s for s in samples if s.pid == test_pid and s.split == "gallery" and s.camid != query.camid)
    swapped = robust[os.path.basename(query.mask)]
    return [_load(first.image), _load(first.mask, gray=True), _load(other.image), _load(query.image),
            _load(gallery.image), _load(swapped.image)]


def make_preview(world_dir: str | os.PathLike, out_png: str | os.PathLike, columns: int = 8) -> Path:
    """Write a PNG grid of `columns` identities of the world in `world_dir`; returns its path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    world_dir, out_png = Path(world_dir), Path(out_png)
    samples = read_manifest(world_dir / "manifest.csv")
    robust = {os.path.basename(s.mask): s for s in read_manifest(world_dir / "robustness.csv")}
    train_pids = sorted({s.pid for s in samples if s.split == "train"})
    test_pids = sorted({s.pid for s in samples if s.split == "query"})
    columns = min(columns, len(train_pids), len(test_pids))
    grid = [_column(samples, robust, train_pids[c], test_pids[c]) for c in range(columns)]
    height, width = grid[0][0].shape[:2]
    fig, axes = plt.subplots(len(ROWS), columns, figsize=(1.1 + columns * 0.75 * width / height * 2.2,
                                                          len(ROWS) * 1.65), squeeze=False)
    for c, column in enumerate(grid):
        for r, image in enumerate(column):
            ax = axes[r][c]
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(ROWS[r], fontsize=8)
    fig.suptitle("synthetic world: identity per column (top: training identity; bottom: test identity)", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
