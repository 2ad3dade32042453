"""A manifest checked once, with the policy for training rows without a person mask applied:
what the loaders build on, and what a training run hands to all of its loaders, so a run reads
and decodes each file once (`ReIDLoader(checked)`, `EvalLoader(checked, split=...)`)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from attention_swap_reid.dali_pipes.check import ImageLimits, inspect_manifest
from attention_swap_reid.dali_pipes.manifest import (UNMASKED, UNMASKED_ACTIONS, UNMATCHED, WARNING, ManifestError,
                                                     Sample, read_manifest)

HINT_KEY = "trainer config: data.unmasked"
UNMATCHED_ACTIONS = {
    "error": "they are an error",
    "drop": "they are left out of the evaluation",
}
"""What a checked manifest does with the query rows without a gallery match from another camera
(`Problem.kind` `UNMATCHED`), by its `unmatched` option (the trainer's `eval.unmatched_queries`)."""


def unmasked_problem(policy: str, unmasked: int, train: int) -> str | None:
    """Why `unmasked` of the `train` training rows, rows without a person mask, stop a run
    under `policy` ("error" | "keep" | "drop"); None when they do not. The one rule for them:
    the loaders, the check and the trainer's preflight all apply it."""
    if unmasked == 0 or policy == "keep":
        return None
    if policy == "error":
        return (f"{unmasked} training row(s) have no person mask; allowed: keep (train them without the "
                f"augmentation, never as donors), drop (leave them out)")
    if unmasked >= train:
        return ("no training row has a person mask, so nothing would be left to train; allowed: keep (train them "
                "without the augmentation)")
    return None


@dataclass(frozen=True)
class CheckedManifest:
    """The usable rows of a manifest, by split, in manifest order.

    unmasked_rows: manifest row numbers of the training rows without a person mask (found by
    the check, so none when it did not read the masks); the loader that augments keeps them
    (trained without the augmentation, never donors) or drops them, as its `unmasked` says.
    dropped_queries: row numbers of the query rows left out for having no gallery match
    (`unmatched="drop"`). warnings: what the check found suspect but no fault (one line each).
    """

    path: str
    splits: dict[str, list[Sample]]
    unmasked_rows: tuple[int, ...] = ()
    dropped_queries: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def of_samples(cls, samples, split: str) -> CheckedManifest:
        """Rows the caller has checked already (as a built dataset), all of `split`."""
        return cls(path="<samples>", splits={split: list(samples)})

    def rows(self, split: str, drop_unmasked: bool = False) -> list[Sample]:
        """The rows of `split` (without the unmasked rows when `drop_unmasked`); a ValueError
        naming the manifest when there are none."""
        dropped = set(self.unmasked_rows) if drop_unmasked else set()
        rows = self.splits.get(split, [])
        problem = unmasked_problem("drop", len(dropped), len(rows)) if dropped else None
        if problem:
            raise ValueError(f"{self.path}: unmasked='drop': {problem}")
        if not rows:
            raise ValueError(f"{self.path}: no rows with split={split!r}")
        return [s for s in rows if s.row not in dropped]


def checked_manifest(path: str | os.PathLike, splits=("train", "query", "gallery"), *, validate: bool = True,
                     masks: bool = True, unmasked: str = "error", separate_test_ids: bool = False,
                     progress: bool = False, unmatched: str = "error",
                     limits: ImageLimits = ImageLimits()) -> CheckedManifest:
    """Check `splits` of the manifest at `path` (every file decoded once, none over `limits`);
    training rows without a person mask are an error with `unmasked="error"`, else counted for
    the loader to keep or drop ("keep" | "drop"; `masks`: the masks are read, so they are
    checked too); query rows without a gallery match from another camera are an error with
    `unmatched="error"`, left out with "drop". Raises `ManifestError` naming every bad row. With
    `validate=False` the manifest is only parsed (no row is found unmasked then; a row without
    a mask path trains un-augmented)."""
    if unmasked not in UNMASKED_ACTIONS:
        raise ValueError(f"unmasked must be one of {list(UNMASKED_ACTIONS)}, got {unmasked!r}")
    if unmatched not in UNMATCHED_ACTIONS:
        raise ValueError(f"unmatched must be one of {list(UNMATCHED_ACTIONS)}, got {unmatched!r}")
    if not validate:
        samples = read_manifest(path, splits)
        return CheckedManifest(os.fspath(path), {split: [s for s in samples if s.split == split] for split in splits})
    samples, problems = inspect_manifest(path, splits, masks=masks, progress=progress,
                                         separate_test_ids=separate_test_ids, limits=limits)
    found = [p for p in problems if p.kind == UNMASKED]
    tolerated = {WARNING} | ({UNMASKED} if unmasked != "error" else set()) | \
        ({UNMATCHED} if unmatched == "drop" else set())
    fatal = [p for p in problems if p.kind not in tolerated]
    if fatal:
        train = sum(s.split == "train" for s in samples)
        problem = unmasked_problem(unmasked, len(found), train) if unmasked == "error" else None
        hint = f"unmasked='error': {problem} ({HINT_KEY})" if problem else ""
        if unmatched == "error" and any(p.kind == UNMATCHED for p in fatal):
            hint += ("\n" if hint else "") + ("query rows without a gallery match from another camera: "
                                               "unmatched='drop' leaves them out (trainer config: "
                                               "eval.unmatched_queries)")
        raise ManifestError(fatal, hint=hint)
    dropped = {p.row for p in problems if p.kind == UNMATCHED and unmatched == "drop"}
    by_split = {split: [s for s in samples if s.split == split and s.row not in dropped] for split in splits}
    return CheckedManifest(os.fspath(path), by_split, tuple(sorted(p.row for p in found)), tuple(sorted(dropped)),
                           tuple(str(p) for p in problems if p.kind == WARNING))
