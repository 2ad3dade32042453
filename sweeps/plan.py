"""The runs of a sweep and their order: the most informative first, so that an interrupted
sweep still answers the question. Pure: it plans from the loaded `Sweep` (`inputs.load_sweep`)
and reads or writes no file."""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from attention_swap_reid.sweeps.spec import Grid, Sweep, Variant
from attention_swap_reid.sweeps.stats import BASELINE_ROI


class Tier(IntEnum):
    """Run order of a cell; every tier but REST is a *core* run."""

    BASELINE = 0
    FIRST_ROI_AT_CORE_P = 1
    FIRST_ROI = 2
    OTHER_ROI_AT_CORE_P = 3
    REST = 4


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid: p = 0 is the baseline (roi "none", no variant)."""

    run_id: str
    roi: str
    p: float
    seed: int
    tier: Tier
    overrides: tuple[str, ...]          # the sweep's `set`, the variant's, then the run's own
    variant: str = ""                   # the sweep's variant ("" without variants and for the baseline)

    @property
    def core(self) -> bool:
        return self.tier < Tier.REST


@dataclass(frozen=True)
class GridCell:
    """One (roi, p, variant) of the grid."""

    roi: str
    p: float
    variant: str = ""


def run_id(roi: str, p: float, seed: int, variant: str = "") -> str:
    if p == 0:
        return f"baseline-s{seed}"
    return f"{roi}-p{p:g}-{variant}-s{seed}" if variant else f"{roi}-p{p:g}-s{seed}"


def tier(grid: Grid, cell: GridCell) -> Tier:
    if cell.p == 0:
        return Tier.BASELINE
    first, at_core_p = cell.roi == grid.roi[0], cell.p in grid.core_p
    if first:
        return Tier.FIRST_ROI_AT_CORE_P if at_core_p else Tier.FIRST_ROI
    return Tier.OTHER_ROI_AT_CORE_P if at_core_p else Tier.REST


def degraded_manifest(sweep: Sweep, variant: Variant) -> Path:
    """Where the variant's degraded masks go (`inputs.make_inputs` writes them)."""
    return sweep.runs_dir / "masks" / variant.name / "manifest.csv"


def degrade_overrides(sweep: Sweep, variant: Variant) -> tuple[str, ...]:
    """Trainer keys that train on the variant's degraded manifest and still score its source's
    background-swapped test set (`sweep.robustness_manifests`; "auto" would look beside the
    degraded manifest)."""
    if variant.name not in sweep.robustness_manifests:
        raise ValueError(f"variants: {variant.name!r} has `degrade` but the sweep was not loaded with "
                         f"inputs.load_sweep (its source's robustness manifest is unknown)")
    return (f"data.manifest={json.dumps(str(degraded_manifest(sweep, variant)))}", "data.synthetic=null",
            f"data.robustness_manifest={json.dumps(sweep.robustness_manifests[variant.name])}")


def _variant_settings(sweep: Sweep) -> dict[str, tuple[tuple[str, ...], float | None]]:
    """{variant name ("" for none): (its trainer keys, with those of its degraded masks; its own
    p or None)}."""
    settings: dict[str, tuple[tuple[str, ...], float | None]] = {"": ((), None)}
    for v in sweep.file.variants:
        settings[v.name] = (v.overrides + (degrade_overrides(sweep, v) if v.degrade is not None else ()), v.p)
    return settings


def _own_overrides(sweep: Sweep, cell: GridCell, seed: int, setting: tuple[tuple[str, ...], float | None]
                   ) -> tuple[str, ...]:
    """The run's keys: the variant's, then its p (the variant's own p where it has one), ROI,
    seed, name and folder."""
    rid = run_id(cell.roi, cell.p, seed, cell.variant)
    keys, own_p = setting
    roi = (f"augment.roi={cell.roi}",) if cell.p > 0 else ()
    return (*keys, f"augment.p={cell.p if own_p is None else own_p:g}", *roi, f"train.seed={seed}",
            "train.compare_baseline=false", f"name={rid}", f"output.dir={sweep.runs_dir / rid}")


def expand(sweep: Sweep) -> list[RunSpec]:
    """The runs in execution order, seeds side by side: the baseline, the first ROI at `core_p`,
    the first ROI at the other p, the other ROIs at `core_p` (these are the *core* runs), then
    the rest. The key cells (baseline, first ROI at `core_p`) also run with `key_seeds`, right
    after their first seeds."""
    grid = sweep.file.grid
    variants = [v.name for v in sweep.file.variants] or [""]
    baseline = GridCell(BASELINE_ROI, 0.0)
    cells = [baseline] + [GridCell(roi, p, v) for roi in grid.roi for p in grid.p for v in variants]
    key_cells = [baseline] + [GridCell(grid.roi[0], p, v) for p in grid.p if p in grid.core_p for v in variants]
    all_seeds = grid.seeds + grid.key_seeds
    settings = _variant_settings(sweep)
    specs = [RunSpec(run_id(cell.roi, cell.p, seed, cell.variant), cell.roi, cell.p, seed, tier(grid, cell),
                     sweep.overrides + _own_overrides(sweep, cell, seed, settings[cell.variant]), cell.variant)
             for seed in all_seeds for cell in (cells if seed in grid.seeds else key_cells)]

    def order(spec: RunSpec) -> tuple[int, int, int, int, int]:
        """(tier, roi position, p position, variant position, seed position); the baseline's
        cell comes first."""
        roi_at = grid.roi.index(spec.roi) if spec.p else -1
        p_at = grid.p.index(spec.p) if spec.p else -1
        return spec.tier, roi_at, p_at, variants.index(spec.variant) if spec.p else -1, all_seeds.index(spec.seed)
    return sorted(specs, key=order)
