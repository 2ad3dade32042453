"""A manifest checked once, with the policy for training rows without a person mask applied:
what the loaders build on, and what a training run hands to all of its loaders, so a run reads
and decodes each file once (`ReIDLoader(checked)`, `EvalLoader(checked, split=...)`)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from dali_pipes.check import inspect_manifest
from dali_pipes.manifest import UNMASKED, UNMASKED_ACTIONS, ManifestError, Sample, read_manifest

HINT_KEY = "trainer config: data.unmasked"


@dataclass(frozen=True)
class CheckedManifest:
    """The usable rows of a manifest, by split, in manifest order.

    unmasked_rows: manifest row numbers of the training rows without a person mask (found by
    the check, so none when it did not read the masks); the loader that augments keeps them
    (trained without the augmentation, never donors) or drops them, as its `unmasked` says.
    """

    path: str
    splits: dict[str, list[Sample]]
    unmasked_rows: tuple[int, ...] = ()

    @classmethod
    def of_samples(cls, samples, split: str) -> CheckedManifest:
        """Rows the caller has checked already (as a built dataset), all of `split`."""
        return cls(path="<samples>", splits={split: list(samples)})

    def rows(self, split: str, drop_unmasked: bool = False) -> list[Sample]:
        """The rows of `split` (without the unmasked rows when `drop_unmasked`); a ValueError
        naming the manifest when there are none."""
        dropped = set(self.unmasked_rows) if drop_unmasked else set()
        rows = [s for s in self.splits.get(split, []) if s.row not in dropped]
        if not rows:
            raise ValueError(f"{self.path}: no rows with split={split!r}"
                             + (" and a person mask (unmasked='drop')" if dropped else ""))
        return rows


def checked_manifest(path: str | os.PathLike, splits=("train", "query", "gallery"), *, validate: bool = True,
                     masks: bool = True, unmasked: str = "error", separate_test_ids: bool = False,
                     progress: bool = False) -> CheckedManifest:
    """Check `splits` of the manifest at `path` (every file decoded once); training rows without
    a person mask are an error with `unmasked="error"`, else counted for the loader to keep or
    drop ("keep" | "drop"; `masks`: the masks are read, so they are checked too). Raises
    `ManifestError` naming every bad row. With
    `validate=False` the manifest is only parsed (no row is found unmasked then; a row without
    a mask path trains un-augmented)."""
    if unmasked not in UNMASKED_ACTIONS:
        raise ValueError(f"unmasked must be one of {list(UNMASKED_ACTIONS)}, got {unmasked!r}")
    if not validate:
        samples = read_manifest(path, splits)
        return CheckedManifest(os.fspath(path), {split: [s for s in samples if s.split == split] for split in splits})
    samples, problems = inspect_manifest(path, splits, masks=masks, progress=progress,
                                         separate_test_ids=separate_test_ids)
    found = [p for p in problems if p.kind == UNMASKED]
    fatal = problems if unmasked == "error" else [p for p in problems if p.kind != UNMASKED]
    if fatal:
        hint = (f"{len(found)} training row(s) have no person mask: unmasked='keep' trains them without "
                f"the augmentation, unmasked='drop' leaves them out ({HINT_KEY})"
                if found and unmasked == "error" else "")
        raise ManifestError(fatal, hint=hint)
    by_split = {split: [s for s in samples if s.split == split] for split in splits}
    return CheckedManifest(os.fspath(path), by_split, tuple(sorted(p.row for p in found)))
