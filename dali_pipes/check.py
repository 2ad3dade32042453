"""Validate a manifest before a long run: `python -m dali_pipes.check MANIFEST`.

Checks every row (DESIGN §3): the files exist and decode completely, a mask has its image's
size, is lossless (PNG, not JPEG) and, on train rows, exists and is not empty, pid/camid/viewpoint
are integers, the split is known, and every query pid has a gallery match from another camera.
Reports *every* problem with its row number and path, exits 1 if there is any, 0 with a
one-line summary otherwise. Never modifies anything.

Training rows without a person mask (no mask, or an empty one: where a person detector found
nobody) are problems by default; `--unmasked keep|drop` checks for a loader that keeps them
without the augmentation or drops them (`ReIDLoader(unmasked=...)`, `data.unmasked`), and only
counts them.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import cv2
import numpy as np

from dali_pipes.manifest import UNMASKED, UNMASKED_ACTIONS, Problem, Sample, parse_manifest, summarize

_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"


def _read_image(path: str, flags: int, lossless: bool = False) -> tuple[np.ndarray | None, str]:
    """Decode `path` fully; returns (array, "") or (None, reason). `lossless`: refuse JPEG."""
    if not os.path.isfile(path):
        return None, "file not found"
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return None, "file is empty"
    if lossless and data[:2] == _JPEG_SOI:
        return None, ("is a JPEG: lossy compression leaves faint non-zero pixels that would count as "
                      "person; save masks as PNG")
    if data[:2] == _JPEG_SOI and not data.rstrip(b"\x00\r\n ").endswith(_JPEG_EOI):
        return None, "JPEG is truncated (no end-of-image marker)"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-16:]:
        return None, "PNG is truncated (no IEND chunk)"
    array = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if array is None or array.size == 0:
        return None, "cannot be decoded as an image"
    return array, ""


def _check_files(manifest: str, s: Sample, masks: bool) -> list[Problem]:
    problems = []
    image, why = _read_image(s.image, cv2.IMREAD_UNCHANGED)
    if image is None:
        problems.append(Problem(manifest, s.row, f"image {why}", s.image))
    if not masks:
        return problems
    if not s.mask:
        if s.split == "train":
            problems.append(Problem(manifest, s.row, "train row has no mask (the augmentation needs one)",
                                    kind=UNMASKED))
        return problems
    mask, why = _read_image(s.mask, cv2.IMREAD_GRAYSCALE, lossless=True)
    if mask is None:
        problems.append(Problem(manifest, s.row, f"mask {why}", s.mask))
        return problems
    if image is not None and mask.shape[:2] != image.shape[:2]:
        problems.append(Problem(manifest, s.row, f"mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                                                 f"image size {image.shape[1]}x{image.shape[0]} (WxH)", s.mask))
    if not mask.any() and s.split == "train":  # test rows need no mask, so an empty one is harmless
        problems.append(Problem(manifest, s.row, "mask is empty (no person pixel)", s.mask, kind=UNMASKED))
    return problems


def check_query_matches(manifest: str, samples: list[Sample]) -> list[Problem]:
    """A problem for every query row without a gallery image of its pid from another camera
    (the evaluation protocol skips such queries)."""
    gallery_cams = defaultdict(set)
    for s in samples:
        if s.split == "gallery":
            gallery_cams[s.pid].add(s.camid)
    return [Problem(manifest, s.row, f"query pid {s.pid} (camera {s.camid}) has no gallery image of the "
                                     f"same pid from another camera", s.image)
            for s in samples
            if s.split == "query" and not (gallery_cams.get(s.pid, set()) - {s.camid})]


def check_manifest(path: str | os.PathLike, splits: Iterable[str] | None = None, *,
                   check_files: bool = True, masks: bool = True, num_threads: int | None = None,
                   progress: bool = False) -> list[Problem]:
    """Return every problem of the manifest at `path` (an empty list: it is fine).

    `splits` restricts the file checks to those splits (e.g. ``("train",)`` for a training
    loader); the query/gallery match check runs when both query and gallery are checked.
    `masks=False` checks the images only (for a loader that reads no mask). Training rows
    without a person mask are problems of kind `UNMASKED`.
    """
    path = os.fspath(path)
    samples, problems = parse_manifest(path)
    wanted = set(splits) if splits is not None else {"train", "query", "gallery"}
    chosen = [s for s in samples if s.split in wanted]
    if check_files and chosen:
        workers = num_threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            results = pool.map(lambda s: _check_files(path, s, masks), chosen)
            if progress:
                from tqdm import tqdm
                results = tqdm(results, total=len(chosen), desc="checking files", unit="row")
            for found in results:
                problems.extend(found)
    if {"query", "gallery"} <= wanted:
        problems.extend(check_query_matches(path, samples))
    return sorted(problems, key=lambda p: p.row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dali_pipes.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", help="manifest CSV (image,mask,pid,camid,viewpoint,split)")
    parser.add_argument("--splits", nargs="+", choices=["train", "query", "gallery"],
                        help="check only these splits (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="decoding threads")
    parser.add_argument("--unmasked", choices=list(UNMASKED_ACTIONS), default="error",
                        help="training rows without a person mask: a problem (error), or only counted for a "
                             "loader that keeps them without the augmentation (keep) or drops them (drop)")
    args = parser.parse_args(argv)
    problems = check_manifest(args.manifest, args.splits, num_threads=args.threads, progress=True)
    if args.unmasked != "error":
        unmasked = [p for p in problems if p.kind == UNMASKED]
        problems = [p for p in problems if p.kind != UNMASKED]
        if unmasked:
            print(f"note: {len(unmasked)} training row(s) have no person mask (first: {unmasked[0]}); "
                  f"unmasked={args.unmasked}: {UNMASKED_ACTIONS[args.unmasked]}", file=sys.stderr)
    if problems:
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s) in {args.manifest}", file=sys.stderr)
        return 1
    samples, _ = parse_manifest(args.manifest)
    print(f"OK {args.manifest}: {summarize(samples)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
