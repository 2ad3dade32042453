"""Look at what the augmentation does to your data:
`python -m dali_pipes.preview MANIFEST_OR_CONFIG --out grid.png`.

Draws a few training samples and, for each ROI mode (full / upper / lower), shows
original | mask | donor | augmented, using the numpy backend of `kernels` with p = 1.
Samples without a compatible donor show the original in the last two columns (and say so).
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np
import yaml

from dali_pipes.manifest import read_manifest

MODES = ("full", "upper", "lower")


def _manifest_of(path: str) -> str:
    """A manifest path, or the `data.manifest` of a trainer YAML config."""
    if path.endswith((".yaml", ".yml")):
        with open(path) as f:
            config = yaml.safe_load(f) or {}
        manifest = (config.get("data") or {}).get("manifest")
        if not manifest:
            raise SystemExit(f"{path}: no data.manifest key")
        return manifest
    return path


def load_batch(samples, size):
    """Decode + resize (masks nearest) with OpenCV: images (B,H,W,3) uint8 RGB, masks (B,H,W) {0,1}."""
    h, w = size
    images = np.stack([cv2.resize(cv2.cvtColor(cv2.imread(s.image), cv2.COLOR_BGR2RGB), (w, h),
                                  interpolation=cv2.INTER_AREA) for s in samples])
    masks = np.stack([(cv2.resize(cv2.imread(s.mask, cv2.IMREAD_GRAYSCALE), (w, h),
                                  interpolation=cv2.INTER_NEAREST) > 0).astype(np.uint8) for s in samples])
    return images, masks


def preview_grid(manifest: str, *, rows: int = 4, batch: int = 32, size=(256, 128), seed: int = 0,
                 **augment_options) -> np.ndarray:
    """(rows * 3 modes * H, 4 * W, 3) uint8 RGB grid of original | mask | donor | augmented."""
    from kernels import AttentionAugment, AugmentConfig

    train = read_manifest(manifest, ["train"])
    rng = np.random.default_rng(seed)
    chosen = [train[i] for i in rng.choice(len(train), size=min(batch, len(train)), replace=False)]
    images, masks = load_batch(chosen, size)
    pids = np.array([s.pid for s in chosen], np.int64)
    views = np.array([s.viewpoint for s in chosen], np.int64)
    blocks = []
    for mode in MODES:
        out = AttentionAugment(AugmentConfig(p=1.0, roi=mode, seed=seed, **augment_options), backend="numpy")(
            images, masks, pids, views, epoch=0, index=np.arange(len(chosen)))
        for i in range(min(rows, len(chosen))):
            donor = int(out.donor[i])
            tiles = [images[i], np.repeat(masks[i][..., None] * 255, 3, axis=2),
                     images[donor] if 0 <= donor < len(chosen) else np.zeros_like(images[i]), out.images[i]]
            row = np.concatenate(tiles, axis=1)
            cv2.putText(row, f"{mode} pid {pids[i]}" + ("" if donor >= 0 else " no donor"), (2, 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
            blocks.append(row)
    return np.concatenate(blocks, axis=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dali_pipes.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="manifest CSV or trainer YAML config (its data.manifest)")
    parser.add_argument("--out", default="preview.png", help="PNG to write")
    parser.add_argument("--rows", type=int, default=4, help="samples shown per ROI mode")
    parser.add_argument("--size", default="256x128", help="HxW the images are resized to")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = _manifest_of(args.source)
    if not os.path.isfile(manifest):
        print(f"error: manifest not found: {manifest}", file=sys.stderr)
        return 1
    h, w = (int(v) for v in args.size.lower().split("x"))
    grid = preview_grid(manifest, rows=args.rows, size=(h, w), seed=args.seed)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}): columns original | mask | donor | augmented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
