"""The sweep file: a base trainer config, overrides applied to every run, the grid and the
published result the verdict compares with::

    base: pipeline.yaml
    set: {data.size: [64, 32], train.epochs: 8}     # any `--set` key of trainer/run.py
    grid: {roi: [full, upper, lower], p: [0.1, 0.3, 0.5, 0.7, 1.0], seeds: [0, 1], core_p: [0.3, 0.5],
           key_seeds: [2, 3]}
    reference: {name: paper, setting: RAP, roi: full, p: 0.3, baseline_mAP: 33.5, mAP: 46.3,
                best_p: [0.3, 0.5]}
    runs_dir: runs/sweep_p          # one folder per run (checkpoints: keep out of git)
    out: experiments/sweep_p        # results.csv, report.md, fig3.png

Validated by `trainer.typed_tree` (every problem at once, by key path, with did-you-mean),
then every run's trainer config is loaded before any work starts.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

import yaml

from kernels.config import ROI_MODES
from sweeps.plan import expand
from trainer.config import load_config
from trainer.typed_tree import ConfigError, build, option, section

RoiName = Literal[tuple(ROI_MODES)]


@dataclass(frozen=True)
class Grid:
    """The runs: the baseline (p = 0) once per seed plus every (roi, p, seed)."""

    roi: tuple[RoiName, ...] = option(tuple(ROI_MODES), "ROI modes; the first one is run first")
    p: tuple[float, ...] = option((), "augmentation probabilities (required)", gt=0, le=1)
    seeds: tuple[int, ...] = option((0,), "seeds of every cell", ge=0)
    core_p: tuple[float, ...] | None = option(None, "p of the core runs of the other ROIs (default: p)",
                                               gt=0, le=1)
    key_seeds: tuple[int, ...] = option((), "extra seeds of the baseline and the first ROI at core_p",
                                        ge=0)


@dataclass(frozen=True)
class Reference:
    """A published result the verdict compares the best p with (mAP in percent); every key required."""

    name: str | None = option(None, "who reported it, e.g. paper")
    setting: str | None = option(None, "the dataset or setting, e.g. RAP")
    roi: RoiName | None = option(None, "the ROI mode of the reported gain and of the best-p comparison")
    p: float | None = option(None, "the p of the reported gain", gt=0, le=1)
    baseline_mAP: float | None = option(None, "the baseline's mAP", ge=0, le=100)
    mAP: float | None = option(None, "the mAP at `p`", ge=0, le=100)
    best_p: tuple[float, float] | None = option(None, "the range of the best p", gt=0, le=1)


@dataclass(frozen=True)
class SweepFile:
    """The keys of a sweep file."""

    base: str | None = option(None, "the trainer config every run starts from (required)")
    set: dict[str, object] | None = option(None, "trainer keys (any `--set` key of trainer/run.py) to values")
    grid: Grid = section(Grid)
    reference: Reference | None = option(None, "the published result to compare with")
    runs_dir: str | None = option(None, "one folder per run (default: runs/<sweep name>)")
    out: str | None = option(None, "results.csv, report.md, fig3.png (default: experiments/<sweep name>)")
    run_timeout_min: float = option(60.0, "a run still going after this is stopped", gt=0)
    keep_checkpoints: bool = option(False, "false: delete a finished run's checkpoints/ folders")
    notes: str = option("", "free text copied into the report (the budget and why)")


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file; paths are relative to the working directory (as in trainer configs)."""

    source: str
    file: SweepFile                     # grid.core_p filled in, notes stripped
    overrides: tuple[str, ...]          # "key=value" of `set`, applied to every run
    runs_dir: Path
    out: Path


def _problems(spec: SweepFile, raw: dict) -> list[str]:
    """What the types cannot say: required keys, non-empty lists, key seeds apart from the seeds."""
    grid = spec.grid
    problems = []
    if spec.set is not None and not isinstance(spec.set, dict):
        problems.append(f"set: expected a mapping of trainer keys to values, got {spec.set!r}")
    problems += [f"grid.{key}: expected a non-empty list (missing or empty)"
                 for key in ("roi", "p", "seeds", "core_p") if getattr(grid, key) == ()]
    if set(grid.seeds) & set(grid.key_seeds):
        problems.append(f"grid.key_seeds: expected seeds not in grid.seeds {list(grid.seeds)}, "
                        f"got {list(grid.key_seeds)}")
    if isinstance(raw.get("reference"), dict):
        problems += [f"reference.{f.name}: missing; {f.metadata['help']}"
                     for f in fields(Reference) if f.name not in raw["reference"]]
    if spec.base is None:
        problems.append("base: missing; the trainer config every run starts from, e.g. pipeline.yaml")
    return problems


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file (every run's trainer config included); raises ConfigError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError([f"{path}: file not found"])
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError([f"top level: expected a mapping, got {raw!r}"], path)
    problems: list[str] = []
    spec = build(SweepFile, raw, "", problems)
    problems += _problems(spec, raw)
    if problems:
        raise ConfigError(problems, path)
    name = Path(path).stem
    spec = replace(spec, grid=replace(spec.grid, core_p=spec.grid.core_p or spec.grid.p),
                   notes=spec.notes.strip())
    sweep = Sweep(source=path, file=spec,
                  overrides=tuple(f"{k}={json.dumps(v)}" for k, v in (spec.set or {}).items()),
                  runs_dir=Path(spec.runs_dir or f"runs/{name}"),
                  out=Path(spec.out or f"experiments/{name}"))
    for run in expand(sweep):  # every run's config is valid before any work starts
        load_config(spec.base, list(run.overrides))
    return sweep
