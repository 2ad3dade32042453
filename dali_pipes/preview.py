"""Look at what the augmentation does to your data:
`python -m attention_swap_reid.dali_pipes.preview MANIFEST_OR_CONFIG --out grid.png`.

Draws a few training samples and, for each ROI mode of `kernels.ROI_MODES`, shows
original | mask | donor | augmented, using the numpy backend of `kernels` with p = 1 and, for
a trainer config, its `data.manifest`, `data.size` and `augment` settings (validated by
`kernels.AugmentConfig.from_mapping`).
Samples without a compatible donor show the original in the last two columns (and say so).
--out is a new PNG or one this command wrote (it marks its PNGs); --force replaces any file.
A bad input stops with one line naming it (exit 2), and then nothing is written.
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np
import yaml

from attention_swap_reid.dali_pipes.manifest import OutputError, check_output, read_manifest
from attention_swap_reid.dali_pipes.outputs import encode_marked, is_marked, write_atomically
from attention_swap_reid.dali_pipes.sizes import parse_size, size_argument
from attention_swap_reid.kernels import ROI_MODES, AttentionAugment, AugmentConfig

PROGRAM = "python -m attention_swap_reid.dali_pipes.preview"
"""The mark this command puts in its PNGs, to know them again (`outputs.is_marked`)."""
COLUMNS = ("original", "mask", "donor", "augmented")
HEADER_H = 16  # the band of column headers above the grid


def _source_of(path: str) -> tuple[str, dict, tuple[int, int] | None]:
    """(manifest, augmentation options, size) of a manifest path, or of a trainer YAML config:
    its `data.manifest`, its `augment` settings checked by `AugmentConfig.from_mapping` (p and
    roi aside: the grid shows every ROI mode at p = 1) and `data.size`."""
    if not path.endswith((".yaml", ".yml")):
        return path, {}, None
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    data = config.get("data") or {}
    if not data.get("manifest"):
        raise ValueError(f"{path}: no data.manifest key")
    augment = config.get("augment") or {}
    try:
        AugmentConfig.from_mapping(augment)
    except ValueError as e:
        raise ValueError(f"{path}: augment: {e}") from None
    options = {k: v for k, v in augment.items() if k not in ("p", "roi", "seed")}
    size = parse_size(data["size"], f"{path}: data.size") if data.get("size") else None
    return data["manifest"], options, size


def _read(sample, path: str, flags: int) -> np.ndarray:
    image = cv2.imread(path, flags)
    if image is None:
        raise ValueError(f"row {sample.row}: cannot read {path!r}; "
                         "python -m attention_swap_reid.dali_pipes.check lists every bad row")
    return image


def load_batch(samples, size):
    """Decode + resize (masks nearest) with OpenCV: images (B,H,W,3) uint8 RGB, masks (B,H,W) {0,1}
    (all 0 for a row without a mask)."""
    h, w = size
    images = np.stack([cv2.resize(cv2.cvtColor(_read(s, s.image, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), (w, h),
                                  interpolation=cv2.INTER_AREA) for s in samples])
    masks = np.stack([cv2.resize(_read(s, s.mask, cv2.IMREAD_GRAYSCALE), (w, h), interpolation=cv2.INTER_NEAREST) > 0
                      if s.mask else np.zeros((h, w), bool) for s in samples]).astype(np.uint8)
    return images, masks


def column_headers(width: int) -> np.ndarray:
    """(HEADER_H, 4 * width, 3) uint8 RGB: the names of `COLUMNS`, black on white, each centred
    over its column and scaled down to fit it."""
    band = np.full((HEADER_H, len(COLUMNS) * width, 3), 255, np.uint8)
    for k, name in enumerate(COLUMNS):
        (text_w, _), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        scale = 0.45 * min(1.0, (width - 6) / text_w)  # antialiased strokes spill a pixel past text_w
        (text_w, _), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(band, name, (k * width + (width - text_w) // 2, HEADER_H - 4), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def preview_grid(manifest: str, *, rows: int = 4, batch: int = 32, size=(256, 128), seed: int = 0,
                 **augment_options) -> np.ndarray:
    """(HEADER_H + rows * len(ROI_MODES) * H, 4 * W, 3) uint8 RGB grid: the column headers,
    then rows of original | mask | donor | augmented; `augment_options` are `AugmentConfig`
    fields (dilate, min_iou, ...)."""
    train = read_manifest(manifest, ["train"])
    rng = np.random.default_rng(seed)
    chosen = [train[i] for i in rng.choice(len(train), size=min(batch, len(train)), replace=False)]
    images, masks = load_batch(chosen, size)
    pids = np.array([s.pid for s in chosen], np.int64)
    views = np.array([s.viewpoint for s in chosen], np.int64)
    blocks = []
    for mode in ROI_MODES:
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
    return np.concatenate([column_headers(size[1])] + blocks, axis=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.dali_pipes.preview",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="manifest CSV or trainer YAML config (its data.manifest)")
    parser.add_argument("--out", default="preview.png",
                        help="PNG to write: a new file, or a preview this command wrote")
    parser.add_argument("--force", action="store_true", help="replace --out even if this command did not write it")
    parser.add_argument("--rows", type=int, default=4, help="samples shown per ROI mode")
    parser.add_argument("--size", default=None, type=size_argument,
                        help="HxW the images are resized to, e.g. 256x128 or [256, 128] "
                        "(default: the config's data.size, else 256x128)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if not args.out.lower().endswith(".png"):
            raise OutputError(f"--out {args.out} must be a .png file")
        check_output(args.out, force=args.force, ours=lambda p: is_marked(p, PROGRAM),
                     what="a preview this command wrote")
        manifest, options, size = _source_of(args.source)
        if not os.path.isfile(manifest):
            made_by = (" (the synthetic world is made by python -m attention_swap_reid.prepare.synthetic, "
                       "or by the trainer's first run)")
            raise ValueError(f"manifest not found: {manifest}{made_by if args.source != manifest else ''}")
        size = args.size or size
        grid = preview_grid(manifest, rows=args.rows, size=size or (256, 128), seed=args.seed, **options)
        write_atomically(args.out, encode_marked(cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), ".png", PROGRAM))
    except (ValueError, OSError) as e:  # ManifestError and OutputError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 2
    except yaml.YAMLError as e:
        print(f"error: {args.source} is not a readable YAML config: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}): columns original | mask | donor | augmented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
