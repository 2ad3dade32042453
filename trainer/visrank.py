"""Ranked gallery pictures: a few queries and their top-K gallery images, hits and misses marked.

    python -m attention_swap_reid.trainer.visrank RUN_OR_CKPT --out ranks.png [--queries 6 --top 8] [--manifest M]

RUN_OR_CKPT: a run folder of `trainer/run.py` (its `attention` model, else `baseline`) or a
checkpoint file inside one. One row per query: the query (grey border), then its K nearest
gallery images, green border = same identity (hit), red = another identity (miss); gallery
images of the query's identity from the query's camera are left out, as in the evaluation.
Under each image its label: "q c3" for the query (camera 3), "2 c5 0.84" for the gallery
image at rank 2, from camera 5, at squared distance 0.84 from the query. The rows are the
worst and the best queries by average precision and some random ones.
--out (.png, .jpg or .jpeg) is checked before any work: a writable folder (made when
missing), and a new file or a picture this command wrote (--force replaces any file).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from attention_swap_reid.dali_pipes import ManifestError
from attention_swap_reid.dali_pipes.manifest import OutputError, check_output
from attention_swap_reid.dali_pipes.outputs import check_writable, encode_marked, is_marked, picture_suffix, \
    write_atomically
from attention_swap_reid.trainer.checkpoint import load_checkpoint
from attention_swap_reid.trainer.config import ConfigError, load_config
from attention_swap_reid.trainer.errors import TrainerError
from attention_swap_reid.trainer.evaluate import evaluate
from attention_swap_reid.trainer.extract import Features, features_of, find_config, model_from_checkpoint
from attention_swap_reid.trainer.features import squared_euclidean

VARIANTS = ("attention", "baseline")  # the run's model folders, in the order they are looked for
HIT, MISS, QUERY = (40, 170, 40), (40, 40, 220), (150, 150, 150)  # BGR border colours
BORDER, GAP, TEXT_H, LABEL_H = 4, 6, 18, 14  # LABEL_H: the band of labels under the images
PROGRAM = "python -m attention_swap_reid.trainer.visrank"
"""The mark this command puts in its pictures, to know them again (`outputs.is_marked`)."""


@dataclass(frozen=True)
class RankedQuery:
    """One query: its row in the query set, its AP, why it was picked ("worst" | "best" |
    "random"), and its top-K gallery rows with a hit flag and a squared distance each."""

    index: int
    ap: float
    kind: str
    gallery: np.ndarray
    hits: np.ndarray
    distances: np.ndarray


def find_checkpoint(run_or_ckpt: str | os.PathLike) -> Path:
    """The checkpoint to show: the file itself, or a run folder's `<variant>/checkpoints/latest.pt`."""
    path = Path(run_or_ckpt)
    if path.is_file():
        return path
    for variant in VARIANTS:
        candidate = path / variant / "checkpoints" / "latest.pt"
        if candidate.is_file():
            return candidate
    raise TrainerError(f"{path}: neither a checkpoint file nor a run folder with "
                       f"{' or '.join(f'{v}/checkpoints/latest.pt' for v in VARIANTS)}")


def rank_queries(query: Features, gallery: Features, top: int) -> list[RankedQuery]:
    """Every query with a cross-camera match, with its AP (as `trainer.evaluate` scores it)
    and its `top` nearest gallery rows, those of its identity and camera left out."""
    distmat = squared_euclidean(torch.from_numpy(query.features), torch.from_numpy(gallery.features))
    ranked = []
    for i, row in enumerate(distmat):
        q_pid, q_cam = query.pids[i], query.camids[i]
        try:
            ap = evaluate(row[None], query.pids[i:i + 1], gallery.pids, query.camids[i:i + 1], gallery.camids,
                          max_rank=1)["mAP"]
        except ValueError:  # no match from another camera: not scored, not shown
            continue
        order = np.argsort(row, kind="stable")
        order = order[~((gallery.pids[order] == q_pid) & (gallery.camids[order] == q_cam))][:top]
        ranked.append(RankedQuery(i, float(ap), "", order, gallery.pids[order] == q_pid, np.asarray(row)[order]))
    return ranked


def pick_queries(ranked: list[RankedQuery], n: int, seed: int = 0) -> list[RankedQuery]:
    """`n` queries: the worst n // 3 and the best n // 3 by AP, the rest drawn at random."""
    by_ap = sorted(ranked, key=lambda r: (r.ap, r.index))
    n = min(n, len(by_ap))
    k = n // 3
    worst, best = by_ap[:k], by_ap[len(by_ap) - k:][::-1] if k else []
    rest = by_ap[k:len(by_ap) - k]
    drawn = np.random.default_rng(seed).choice(len(rest), size=n - 2 * k, replace=False) if rest else []
    picks = [(r, "worst") for r in worst] + [(r, "best") for r in best] + [(rest[j], "random") for j in sorted(drawn)]
    return [dataclasses.replace(r, kind=kind) for r, kind in picks]


def _tile(path: str, size: tuple[int, int], colour: tuple[int, int, int]) -> np.ndarray:
    """The image at `path` resized to `size` (H, W) inside a `colour` border, BGR uint8."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise TrainerError(f"{path}: cannot read the image")
    h, w = size
    image = cv2.resize(image, (w - 2 * BORDER, h - 2 * BORDER), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(image, BORDER, BORDER, BORDER, BORDER, cv2.BORDER_CONSTANT, value=colour)


def _label(row: np.ndarray, text: str, x: int, y: int, width: int) -> None:
    """`text` in black at (x, y) of `row`, scaled down to fit `width` pixels."""
    (text_w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
    scale = 0.35 * min(1.0, (width - 2) / text_w)
    cv2.putText(row, text, (x + 1, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def render(picks: list[RankedQuery], query: Features, gallery: Features,
           tile: tuple[int, int] = (128, 64)) -> np.ndarray:
    """The picture, BGR uint8 (rows x (TEXT_H + H + LABEL_H + GAP), (1 + K) x W + GAP): per row
    a caption ("worst AP 0.12, pid 7"), the query, a gap, its ranked gallery images, and under
    each image its label (query: "q c<camera>"; gallery: "<rank> c<camera> <distance>")."""
    h, w = tile
    top = max(len(p.gallery) for p in picks)
    width = (1 + top) * w + GAP
    label_y = TEXT_H + h + LABEL_H - 4
    rows = []
    for p in picks:
        row = np.full((TEXT_H + h + LABEL_H + GAP, width, 3), 255, np.uint8)
        cv2.putText(row, f"{p.kind} AP {p.ap:.2f}, pid {query.pids[p.index]}", (2, TEXT_H - 5),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        row[TEXT_H:TEXT_H + h, :w] = _tile(str(query.paths[p.index]), tile, QUERY)
        _label(row, f"q c{query.camids[p.index]}", 0, label_y, w)
        for k, (g, hit, d) in enumerate(zip(p.gallery, p.hits, p.distances)):
            x = (1 + k) * w + GAP
            row[TEXT_H:TEXT_H + h, x:x + w] = _tile(str(gallery.paths[g]), tile, HIT if hit else MISS)
            _label(row, f"{k + 1} c{gallery.camids[g]} {d:.2f}", x, label_y, w)
        rows.append(row)
    return np.concatenate(rows)


def check_out(out: str | os.PathLike, force: bool = False) -> str:
    """The picture format of `out` (".png", ".jpg", ".jpeg") once `OutputError` has not said
    otherwise: an image suffix, a writable folder, no file there this command did not write
    (unless `force`)."""
    suffix = picture_suffix(out)
    check_output(out, force=force, ours=lambda p: is_marked(p, PROGRAM), what="a picture this command wrote")
    check_writable(out)
    return suffix


def visrank(run_or_ckpt: str | os.PathLike, out: str | os.PathLike, *, queries: int = 6, top: int = 8,
            manifest: str | os.PathLike | None = None, flip: bool = False, seed: int = 0,
            progress: bool = True, force: bool = False) -> list[RankedQuery]:
    """Write the picture of `queries` ranked queries of `manifest` (default: the run's) to
    `out` (PNG/JPEG by its suffix, checked first by `check_out`) and return them."""
    suffix = check_out(out, force)
    checkpoint = find_checkpoint(run_or_ckpt)
    cfg = load_config(find_config(checkpoint))
    model = model_from_checkpoint(cfg, checkpoint, load_checkpoint(checkpoint))
    manifest = manifest if manifest is not None else cfg.data.manifest
    q, g = (features_of(model, cfg, manifest, split, flip=flip, progress=progress) for split in ("query", "gallery"))
    picks = pick_queries(rank_queries(q, g, top), queries, seed)
    if not picks:
        raise TrainerError(f"{manifest}: no query has a gallery match from another camera; nothing to show")
    write_atomically(out, encode_marked(render(picks, q, g), suffix, PROGRAM))
    return picks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.trainer.visrank",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("run", metavar="RUN_OR_CKPT", help="run folder or checkpoint file of trainer/run.py")
    parser.add_argument("--out", required=True, help="picture to write (.png, .jpg or .jpeg), e.g. ranks.png")
    parser.add_argument("--force", action="store_true", help="replace --out even if this command did not write it")
    parser.add_argument("--queries", type=int, default=6, help="rows: worst third, best third, random rest")
    parser.add_argument("--top", type=int, default=8, help="gallery images per query")
    parser.add_argument("--manifest", help="test manifest (default: the run's data.manifest)")
    parser.add_argument("--flip-test", action="store_true", help="add the feature of the mirrored image")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random queries")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.top < 1:
        parser.error("--queries and --top must be >= 1")
    try:
        picks = visrank(args.run, args.out, queries=args.queries, top=args.top, manifest=args.manifest,
                        flip=args.flip_test, seed=args.seed, force=args.force)
    except (ConfigError, ManifestError, OutputError, TrainerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {args.out}: cannot write: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(picks)} queries, top {args.top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
