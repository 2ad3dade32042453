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

`variants` compares settings at every augmented (roi, p) of the grid; the baseline runs once per
seed, the first variant is the reference the others are compared with, `group` puts variants
in one table of the report, `degrade` trains on masks made worse by `prepare.degrade_masks`::

    variants:
      - {name: exact, label: exact masks}
      - {name: erode-0.3, group: mask quality, degrade: {kind: erode, level: 0.3}}
      - {name: no-iou, group: rules, set: {augment.min_iou: 0}}

`parse_sweep` validates the file's mapping with `trainer.typed_tree` (every problem at once, by
key path, with did-you-mean) and reads nothing; `sweeps.inputs.load_sweep` reads the file, then
every run's trainer config before any work starts.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from attention_swap_reid.kernels.config import ROI_MODES
from attention_swap_reid.prepare.degrade_masks import KINDS as DEGRADE_KINDS
from attention_swap_reid.sweeps.stats import ALL_METRICS, BASELINE_ROI
from attention_swap_reid.trainer.typed_tree import ConfigError, build, option, section

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


def as_overrides(mapping: dict[str, object] | None) -> tuple[str, ...]:
    """Trainer keys to values as `--set` items "key=value" (values as JSON, which YAML reads)."""
    return tuple(f"{k}={json.dumps(v)}" for k, v in (mapping or {}).items())


@dataclass(frozen=True)
class Degrade:
    """Training masks degraded by `prepare.degrade_masks` (test masks stay as they are)."""

    kind: Literal[tuple(DEGRADE_KINDS)] | None = option(None, "how the masks are degraded (required)")
    level: float = option(0.3, "0 = unchanged .. 1 = bad", ge=0, le=1)
    seed: int = option(0, "the degradation's randomness", ge=0)


@dataclass(frozen=True)
class Variant:
    """A setting compared at every augmented cell: trainer keys and/or degraded masks."""

    name: str | None = option(None, "short name, used in run ids (required; letters, digits, . and -)")
    label: str = option("", "what the report calls it (default: the name)")
    group: str = option("", "the report's table it belongs to (the first variant is in every table)")
    set: dict[str, object] | None = option(None, "trainer keys to values, over the sweep's `set`")
    degrade: Degrade | None = option(None, "train on degraded masks: {kind, level, seed}")
    p: float | None = option(None, "this setting's augmentation probability instead of the cell's (0: no "
                             "augmentation, e.g. a control trained on other images)", ge=0, le=1)

    @property
    def overrides(self) -> tuple[str, ...]:
        """The variant's own trainer keys as `--set` items."""
        return as_overrides(self.set)


@dataclass(frozen=True)
class Contrast:
    """Two cells compared paired by seed on chosen metrics (the report's "Contrasts" table)."""

    a: str | None = option(None, "a cell: 'baseline', a variant's name, or name@p when the grid has several p "
                           "(required)")
    b: str | None = option(None, "the cell `a` is compared with (a - b), named the same way (required)")
    metrics: tuple[str, ...] = option(("mAP",), "results.csv metrics compared, e.g. mAP, neutral_mAP, attention")
    label: str = option("", "what the report calls it (default: 'a vs b')")


def contrast_cell(spec: "SweepFile", end: str | None) -> tuple[str, float, str]:
    """The (roi, p, variant) of a contrast's end: "baseline", a variant's name (the grid's only
    p) or "name@p", in the grid's first ROI. Raises ValueError saying what is allowed."""
    if end == "baseline":
        return BASELINE_ROI, 0.0, ""
    name, _, p_text = (end or "").partition("@")
    names = [v.name for v in spec.variants]
    if name not in names:
        raise ValueError(f"expected 'baseline' or a variant's name ({', '.join(map(str, names)) or 'none'}), "
                         f"optionally @p, got {end!r}")
    grid_p = spec.grid.p
    if not p_text:
        if len(grid_p) != 1:
            raise ValueError(f"{end!r}: the grid has several p, say which: {name}@p with p in {list(grid_p)}")
        return spec.grid.roi[0], float(grid_p[0]), name
    try:
        p = float(p_text)
    except ValueError:
        p = -1.0
    if p not in grid_p:
        raise ValueError(f"{end!r}: expected p in {list(grid_p)}")
    return spec.grid.roi[0], p, name


def variant_groups(variants: tuple[Variant, ...]) -> dict[str, list[Variant]]:
    """{group title: its variants} in file order, as the report's tables and the figure's panels
    show them; the first variant (the reference) is in none, a variant without a group is in
    "Settings", and without other variants there is one empty "Settings" group."""
    groups: dict[str, list[Variant]] = {}
    for v in variants[1:]:
        groups.setdefault(v.group or "Settings", []).append(v)
    return groups or {"Settings": []}


@dataclass(frozen=True)
class SweepFile:
    """The keys of a sweep file."""

    title: str = option("", "the report's heading (default: the sweep file's name)")
    base: str | None = option(None, "the trainer config every run starts from (required)")
    set: dict[str, object] | None = option(None, "trainer keys (any `--set` key of trainer/run.py) to values")
    grid: Grid = section(Grid)
    variants: tuple[Variant, ...] = option((), "settings compared at every augmented cell; the first is the reference")
    contrasts: tuple[Contrast, ...] = option((), "more paired comparisons of two cells, on chosen metrics")
    reference: Reference | None = option(None, "the published result to compare with")
    runs_dir: str | None = option(None, "one folder per run (default: runs/<sweep name>)")
    out: str | None = option(None, "results.csv, report.md, fig3.png (default: experiments/<sweep name>)")
    run_timeout_min: float = option(60.0, "a run still going after this is stopped", gt=0)
    run_threads: int | None = option(None, "CPU threads of each run's torch (null: torch's default); "
                                     "pinned, the results do not depend on `--jobs`", ge=1)
    keep_checkpoints: bool = option(False, "false: delete a finished run's checkpoints/ folders")
    machine: str = option("", "the machine and thread count of committed results that do not record them "
                          "(the report says so); runs record both in final.json")
    notes: str = option("", "free text copied into the report (the budget and why)")


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file; paths are relative to the working directory (as in trainer configs)."""

    source: str
    file: SweepFile                     # grid.core_p filled in, notes stripped
    overrides: tuple[str, ...]          # "key=value" of `set`, applied to every run
    runs_dir: Path
    out: Path
    # {name of a variant with `degrade`: the robustness manifest its runs score, the one of its
    # masks' source config ("auto" resolved)}: read by `inputs.load_sweep`, so planning reads nothing
    robustness_manifests: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.file.title or f"Sweep `{self.source}`: attention augmentation probability and ROI"

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.file.variants if v.name == name), None)


def _problems(spec: SweepFile, raw: dict) -> list[str]:
    """What the types cannot say: required keys, non-empty lists, key seeds apart from the seeds,
    variant names."""
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
    names = [v.name for v in spec.variants]
    for i, v in enumerate(spec.variants):
        where = f"variants[{i}]"
        if v.name is None or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", v.name):
            problems.append(f"{where}.name: expected letters, digits, '.' and '-', got {v.name!r}")
        elif names.index(v.name) != i:
            problems.append(f"{where}.name: {v.name!r} is also variants[{names.index(v.name)}]")
        if v.set is not None and not isinstance(v.set, dict):
            problems.append(f"{where}.set: expected a mapping of trainer keys to values, got {v.set!r}")
        if v.degrade is not None and v.degrade.kind is None:
            problems.append(f"{where}.degrade.kind: missing; one of {', '.join(DEGRADE_KINDS)}")
    for i, c in enumerate(spec.contrasts):
        for end in ("a", "b"):
            try:
                contrast_cell(spec, getattr(c, end))
            except ValueError as e:
                problems.append(f"contrasts[{i}].{end}: {e}")
        unknown = [m for m in c.metrics if m not in ALL_METRICS]
        if unknown:
            problems.append(f"contrasts[{i}].metrics: unknown {unknown}; allowed: {', '.join(ALL_METRICS)}")
    if spec.base is None:
        problems.append("base: missing; the trainer config every run starts from, e.g. pipeline.yaml")
    return problems


def parse_sweep(raw: object, source: str) -> Sweep:
    """Validate the mapping read from the sweep file `source` (paths relative to the working
    directory); raises ConfigError naming `source` and every problem. Reads no file: the trainer
    configs are checked by `inputs.load_sweep`."""
    if not isinstance(raw, dict):
        raise ConfigError([f"top level: expected a mapping, got {raw!r}"], source)
    problems: list[str] = []
    spec = build(SweepFile, raw, "", problems)
    problems += _problems(spec, raw)
    if problems:
        raise ConfigError(problems, source)
    name = Path(source).stem
    spec = replace(spec, grid=replace(spec.grid, core_p=spec.grid.core_p or spec.grid.p),
                   notes=spec.notes.strip())
    return Sweep(source=source, file=spec,
                 overrides=as_overrides(spec.set),
                 runs_dir=Path(spec.runs_dir or f"runs/{name}"),
                 out=Path(spec.out or f"experiments/{name}"))
