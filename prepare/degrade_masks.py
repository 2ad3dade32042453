"""Degrade a manifest's training masks the ways a person detector errs, to measure how much the
augmentation depends on mask quality (yours or the synthetic world's exact masks).

    python -m attention_swap_reid.prepare.degrade_masks MANIFEST --out DIR --kind KIND --level L [--seed S] [--force]
    python -m attention_swap_reid.prepare.degrade_masks MANIFEST --figure PNG [--seed S]

Writes DIR/manifest.csv: the same rows (extra columns kept), images untouched, query/gallery
rows as they were; every training row with a mask gets DIR/masks/<row>.png, its mask degraded.
`--level` runs from 0 (the mask as it is) to 1 (bad); sizes are relative to the person's
bounding box (height h, width w), so a level means the same at any resolution:

  erode       boundary too tight: erosion by a disc of radius level * 0.1 * h
  dilate      boundary too loose: dilation by a disc of radius level * 0.1 * h
  holes       missed pixels inside: random discs (radius 0.05 * h) removed until
              level * 0.5 of the person's area is gone
  blobs       false positives on the background: random ellipses (about 0.15 * h across)
              added outside the person until they cover level * 0.5 of the person's area
  shift       a misaligned mask: moved by level * 0.25 * (h, w) in a random diagonal direction
  drop_parts  a missed head or limb: with probability `level` the mask loses one part
              (head = top 18 % of the box, or the left or right leg, or the left or right arm)

Each mask's randomness comes from (seed, manifest row), so a run is reproducible and a mask's
degradation does not depend on the others. `--figure` draws one training mask under every kind
at levels 0.1, 0.3 and 0.8. A level is not calibrated against a real segmenter; what it does to
a mask is measured by its IoU to the exact one (`python -m attention_swap_reid.sweeps.world_checks`:
at 0.3 from 0.44 for erode to 0.95 for drop_parts on the synthetic world).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from attention_swap_reid.dali_pipes.manifest import ManifestError, Sample, read_manifest, write_manifest

FIGURE_LEVELS = (0.1, 0.3, 0.8)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) inclusive bounds of the non-zero pixels."""
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def erode(mask, level, rng, h, w):
    radius = round(level * 0.1 * h)
    return cv2.erode(mask, _disc(radius)) if radius else mask


def dilate(mask, level, rng, h, w):
    radius = round(level * 0.1 * h)
    return cv2.dilate(mask, _disc(radius)) if radius else mask


def holes(mask, level, rng, h, w):
    out, target = mask.copy(), level * 0.5 * mask.sum()
    ys, xs = np.nonzero(mask)
    radius = max(1, round(0.05 * h))
    for _ in range(1000):
        if mask.sum() - out.sum() >= target:
            break
        k = rng.integers(len(ys))
        cv2.circle(out, (int(xs[k]), int(ys[k])), radius, 0, -1)
    return out


def blobs(mask, level, rng, h, w):
    out, target = mask.copy(), level * 0.5 * mask.sum()
    height, width = mask.shape
    axes = max(1, round(0.075 * h))
    for _ in range(1000):
        if (out & ~mask.astype(bool)).sum() >= target:
            break
        blob = np.zeros_like(mask)
        centre = (int(rng.integers(width)), int(rng.integers(height)))
        size = (int(axes * rng.uniform(0.5, 1.5)), int(axes * rng.uniform(0.5, 1.5)))
        cv2.ellipse(blob, centre, size, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        out |= blob & (1 - mask)
    return out


def shift(mask, level, rng, h, w):
    dy, dx = (round(level * 0.25 * s) * int(rng.choice([-1, 1])) for s in (h, w))
    height, width = mask.shape  # a whole-pixel translation; what moves out is lost, what moves in is 0
    return cv2.warpAffine(mask, np.float32([[1, 0, dx], [0, 1, dy]]), (width, height), flags=cv2.INTER_NEAREST)


def drop_parts(mask, level, rng, h, w):
    if rng.random() >= level:
        return mask
    y0, y1, x0, x1 = _box(mask)
    mid_x = (x0 + x1 + 1) // 2
    legs_y, arms = y0 + round(0.55 * h), (y0 + round(0.18 * h), y0 + round(0.55 * h))
    parts = {"head": (slice(y0, y0 + round(0.18 * h)), slice(x0, x1 + 1)),
             "left leg": (slice(legs_y, y1 + 1), slice(x0, mid_x)),
             "right leg": (slice(legs_y, y1 + 1), slice(mid_x, x1 + 1)),
             "left arm": (slice(*arms), slice(x0, x0 + round(0.25 * w))),
             "right arm": (slice(*arms), slice(x1 + 1 - round(0.25 * w), x1 + 1))}
    out = mask.copy()
    out[parts[list(parts)[rng.integers(len(parts))]]] = 0
    return out


KINDS: dict[str, Callable] = {"erode": erode, "dilate": dilate, "holes": holes, "blobs": blobs, "shift": shift,
                              "drop_parts": drop_parts}


def degrade(mask: np.ndarray, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) mask, non-zero = person -> (H, W) uint8 {0, 1} degraded by `kind` at `level` in
    [0, 1] (module doc). Level 0, and an empty mask, come back unchanged (as {0, 1})."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must be in [0, 1], got {level}")
    person = (mask != 0).astype(np.uint8)
    if level == 0 or not person.any():
        return person
    y0, y1, x0, x1 = _box(person)
    return KINDS[kind](person, level, rng, y1 - y0 + 1, x1 - x0 + 1).astype(np.uint8)


def _read_mask(path: str) -> np.ndarray:
    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise OSError(f"{path}: the mask cannot be read or decoded "
                      "(check it with python -m attention_swap_reid.dali_pipes.check)")
    return mask


def degrade_manifest(manifest: str | os.PathLike, out: str | os.PathLike, kind: str, level: float,
                     seed: int = 0, progress: bool = True) -> Path:
    """Write `out`/manifest.csv with the training masks degraded (module doc); returns its path."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    samples = read_manifest(manifest)
    folder = Path(out)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    written = []
    for s in tqdm(samples, desc=f"{kind} {level}", disable=not progress, unit="row"):
        if s.split == "train" and s.mask:
            path = folder / "masks" / f"{s.row}.png"
            mask = degrade(_read_mask(s.mask), kind, level, np.random.default_rng([seed, s.row]))
            if not cv2.imwrite(str(path), mask * np.uint8(255)):
                raise OSError(f"{path}: cannot write the mask")
            s = Sample(s.image, str(path.absolute()), s.pid, s.camid, s.viewpoint, s.split, s.row, s.extra)
        written.append(s)
    extra = sorted({c for s in samples for c in s.extra})
    target = folder / "manifest.csv"
    write_manifest(target, written, extra_columns=extra)
    return target


def figure(manifest: str | os.PathLike, out: str | os.PathLike, seed: int = 0) -> Path:
    """One training mask over its image under every kind at `FIGURE_LEVELS` (a PNG grid)."""
    sample = next(s for s in read_manifest(manifest, ["train"]) if s.mask)
    image = cv2.imread(sample.image, cv2.IMREAD_COLOR)
    mask = (_read_mask(sample.mask) != 0).astype(np.uint8)
    rows = []
    for kind in KINDS:
        cells = [_overlay(image, mask)]
        for level in FIGURE_LEVELS:
            cells.append(_overlay(image, degrade(mask, kind, level, np.random.default_rng([seed, sample.row]))))
        row = np.concatenate(cells, axis=1)
        rows.append(np.concatenate([_label(kind, row.shape[1]), row]))
    header = _label("exact | " + " | ".join(f"level {level}" for level in FIGURE_LEVELS), rows[0].shape[1])
    grid = np.concatenate([header, *rows])
    cv2.imwrite(str(out), grid)
    return Path(out)


def _overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask in translucent magenta and a white border between cells."""
    tinted = image.copy()
    tinted[mask == 1] = (0.5 * tinted[mask == 1] + (127, 0, 127)).astype(np.uint8)
    return cv2.copyMakeBorder(tinted, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def _label(text: str, width: int) -> np.ndarray:
    bar = np.full((14, width, 3), 255, np.uint8)
    cv2.putText(bar, text, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.prepare.degrade_masks",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", help="folder of the degraded manifest (DIR/manifest.csv, DIR/masks/)")
    what.add_argument("--figure", help="write a PNG showing every kind at three levels instead")
    parser.add_argument("--kind", choices=list(KINDS))
    parser.add_argument("--level", type=float, help="0 (unchanged) to 1 (bad)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace DIR/manifest.csv if it exists")
    args = parser.parse_args(argv)
    if args.figure:
        print(figure(args.manifest, args.figure, args.seed))
        return 0
    if args.kind is None or args.level is None:
        parser.error("--out needs --kind and --level")
    if not 0.0 <= args.level <= 1.0:
        parser.error(f"--level {args.level}: expected a number in [0, 1]")
    target = Path(args.out) / "manifest.csv"
    if target.exists() and not args.force:
        parser.error(f"{target} exists; pass --force to replace it")
    try:
        print(degrade_manifest(args.manifest, args.out, args.kind, args.level, args.seed))
    except (ManifestError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
