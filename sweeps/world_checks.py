"""Measurements of the synthetic world that the experiments' readings rest on, with nothing
learned: what its test layout rewards, how often the paper's rules let a pair swap, and how far
`prepare.degrade_masks` moves a mask from the exact one.

    python -m attention_swap_reid.sweeps.world_checks [--out experiments/world_checks/report.md]

- *Test layout*: query-gallery pairs that share a scene (and how many of them are the same
  person), and retrieval mAP from colour histograms (4 levels per channel, Bhattacharyya
  similarity) of the background pixels, the person's pixels, the upper and the lower half of
  the person (rows of the mask's bounding box), against a random ranking; on the probability
  sweep's world (bg_bias 0.8), the same world at bg_bias 0, and its neutral probe layout.
- *Rules*: over all other-identity pairs of training masks, the share that passes each of the
  paper's rules (area ratio >= 0.8, IoU of the normalized masks >= 0.5, same viewpoint) and all
  three; and the share of samples that find a donor in random PK 8 x 4 batches, among other
  identities and (the mechanism control) among their own identity.
- *Mask degradation*: the mean IoU of each kind and level of `degrade_masks` to the exact
  training masks, and the share of masks it empties.

Each figure is computed from the worlds the command makes (deterministic), so the report
regenerates byte for byte.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from attention_swap_reid.dali_pipes.manifest import Sample, read_manifest
from attention_swap_reid.kernels import DonorKeys, compatibility, normalize_masks, roi_masks
from attention_swap_reid.prepare.degrade_masks import KINDS, degrade
from attention_swap_reid.prepare.synth_extras import PROBES
from attention_swap_reid.prepare.synthetic import ensure_world
from attention_swap_reid.trainer.evaluate import evaluate

SWEEP_WORLD = dict(train_ids=32, test_ids=30, images_per_id=8, height=64, width=32, seed=0)
PARTS = ("background", "person", "upper half", "lower half")
LEVELS = (0.1, 0.3, 0.8)
RULES = dict(min_area_ratio=0.8, min_iou=0.5, same_viewpoint=True)


def _mask(path: str) -> np.ndarray:
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE) > 0


def _region(person: np.ndarray, part: str) -> np.ndarray:
    """The pixels of `part` (PARTS) of an image whose person mask is `person` ((H, W) bool)."""
    if part == "background":
        return ~person
    if part == "person":
        return person
    rows = np.flatnonzero(person.any(axis=1))
    cut = rows[0] + (rows[-1] - rows[0] + 1) // 2
    band = np.arange(person.shape[0])[:, None] < cut
    return person & (band if part == "upper half" else ~band)


def histogram(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(64,) square roots of the L1-normalized RGB histogram (4 levels per channel) of `image`'s
    pixels where `keep`: their dot product is the Bhattacharyya coefficient."""
    levels = image[keep].astype(np.int64) >> 6
    counts = np.bincount(levels @ np.array([16, 4, 1]), minlength=64).astype(np.float64)
    return np.sqrt(counts / max(counts.sum(), 1.0))


def part_map(samples: list[Sample], part: str) -> float:
    """Query-gallery mAP of colour histograms of `part`, in percent."""
    feats = np.stack([histogram(cv2.imread(s.image)[..., ::-1], _region(_mask(s.mask), part)) for s in samples])
    q = np.array([s.split == "query" for s in samples])
    pids, cams = np.array([s.pid for s in samples]), np.array([s.camid for s in samples])
    return 100 * evaluate(-feats[q] @ feats[~q].T, pids[q], pids[~q], cams[q], cams[~q])["mAP"]


def random_map(samples: list[Sample], draws: int = 50) -> float:
    """The mean mAP of `draws` random rankings (seeded), in percent."""
    q = np.array([s.split == "query" for s in samples])
    pids, cams = np.array([s.pid for s in samples]), np.array([s.camid for s in samples])
    rng = np.random.default_rng(0)
    return 100 * float(np.mean([evaluate(rng.random((q.sum(), (~q).sum())), pids[q], pids[~q], cams[q],
                                         cams[~q])["mAP"] for _ in range(draws)]))


def shared_scenes(samples: list[Sample]) -> tuple[int, int]:
    """(query-gallery pairs in the same scene, of which the same person)."""
    query = [s for s in samples if s.split == "query"]
    gallery = [s for s in samples if s.split == "gallery"]
    pairs = [(q.pid == g.pid) for q in query for g in gallery if q.extra["scene"] == g.extra["scene"]]
    return len(pairs), sum(pairs)


def layout_rows(sets: dict[str, Path]) -> list[str]:
    head = ["test set", "pairs sharing a scene", "of them the same person", *(f"{p} mAP" for p in PARTS), "random ranking mAP"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, manifest in sets.items():
        samples = read_manifest(manifest, ["query", "gallery"])
        pairs, same = shared_scenes(samples)
        rows.append("| " + " | ".join([name, str(pairs), str(same), *(f"{part_map(samples, p):.1f}" for p in PARTS),
                                        f"{random_map(samples):.1f}"]) + " |")
    return rows


def _keys(masks: np.ndarray, samples: list[Sample]) -> DonorKeys:
    rois = roi_masks(masks.astype(np.uint8))
    return DonorKeys(rois.areas, normalize_masks(rois), np.array([s.pid for s in samples], np.int64),
                     np.array([s.viewpoint for s in samples], np.int64))


def rule_rows(manifest: Path, batches: int = 300) -> list[str]:
    """Pass rates of the rules over all other-identity pairs, and donor-finding rates in PK 8 x 4 batches."""
    samples = read_manifest(manifest, ["train"])
    masks = np.stack([_mask(s.mask) for s in samples])
    keys = _keys(masks, samples)
    other = keys.pids[:, None] != keys.pids[None, :]
    rates = {}
    for name, rules in (("area ratio >= 0.8", dict(min_area_ratio=0.8, min_iou=0.0, same_viewpoint=False)),
                        ("IoU of normalized masks >= 0.5", dict(min_area_ratio=0.0, min_iou=0.5, same_viewpoint=False)),
                        ("same viewpoint", dict(min_area_ratio=0.0, min_iou=0.0, same_viewpoint=True)),
                        ("all three", RULES)):
        rates[name] = 100 * compatibility(keys, keys, **rules)[other].mean()
    rows = ["| rule | other-identity pairs passing |", "|---|---|",
            *(f"| {name} | {rate:.1f} % |" for name, rate in rates.items())]
    by_pid = defaultdict(list)
    for i, s in enumerate(samples):
        by_pid[s.pid].append(i)
    rng = np.random.default_rng(0)
    found = {False: [], True: []}
    for _ in range(batches):
        ids = rng.choice(sorted(by_pid), 8, replace=False)
        index = np.concatenate([rng.choice(by_pid[p], 4, replace=False) for p in ids])
        batch = DonorKeys(*(getattr(keys, f)[index] for f in ("areas", "normalized", "pids", "viewpoints")))
        for same in found:
            found[same].append((compatibility(batch, batch, **RULES, same_identity=same).sum(1) > 0).mean())
    rows += ["", "| donors looked for in a PK 8 x 4 batch (every rule) | samples that find one |", "|---|---|",
             f"| another identity's image (the paper) | {100 * np.mean(found[False]):.1f} % |",
             f"| the same identity's other images (mechanism control) | {100 * np.mean(found[True]):.1f} % |"]
    return rows


def degradation_rows(manifest: Path, seed: int = 0) -> list[str]:
    """Mean IoU of every kind x level to the exact training masks (randomness as `degrade_manifest`)."""
    samples = read_manifest(manifest, ["train"])
    exact = [_mask(s.mask) for s in samples]
    head = ["kind", *(f"IoU at {lv:g}" for lv in LEVELS), *(f"emptied at {lv:g}" for lv in LEVELS)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind in KINDS:
        ious, empty = [], []
        for level in LEVELS:
            worse = [degrade(m.astype(np.uint8), kind, level, np.random.default_rng([seed, s.row])) > 0
                     for m, s in zip(exact, samples)]
            ious.append(np.mean([(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(exact, worse)]))
            empty.append(100 * np.mean([not b.any() for b in worse]))
        rows.append("| " + " | ".join([kind, *(f"{x:.2f}" for x in ious), *(f"{x:.1f} %" for x in empty)]) + " |")
    return rows


def report(data: Path) -> str:
    """The report (Markdown), making the worlds it needs under `data`."""
    biased = ensure_world(data / "synth_sweep", progress=False, **SWEEP_WORLD, bg_bias=0.8)
    unbiased = ensure_world(data / "synth_noshortcut", progress=False, **SWEEP_WORLD, bg_bias=0.0)
    probes = ensure_world(data / "synth_probe", progress=False, **SWEEP_WORLD, bg_bias=0.8, heldout_scenes=8,
                          probes=True, controls=True)
    sets = {"sweep world (bg_bias 0.8): test set": biased, "bg_bias 0 world: test set": unbiased,
            "sweep world: neutral layout": probes.parent / PROBES["neutral"]}
    return "\n".join([
        "# Measurements of the synthetic world", "",
        "Regenerate: `python -m attention_swap_reid.sweeps.world_checks` (deterministic; nothing learned). "
        "What each figure is: the module's docstring, `sweeps/world_checks.py`. Worlds: the probability "
        "sweep's (32 training and 30 test identities, 8 images each at 64x32, seed 0), at bg_bias 0.8 and 0, "
        "and with its opt-in probe sets.", "",
        "## What the test layout rewards (colour histograms, percent)", "", *layout_rows(sets), "",
        "## The paper's rules on the sweep world's training masks", "", *rule_rows(biased), "",
        "## Degraded masks against the exact ones (sweep world, training masks, seed 0)", "",
        *degradation_rows(biased), ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.sweeps.world_checks",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="experiments/world_checks/report.md", help="the report (Markdown)")
    parser.add_argument("--data", default="data", help="folder of the worlds (made when missing)")
    args = parser.parse_args(argv)
    text = report(Path(args.data))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
