"""A suite: several sweep files run one after the other, with one report that holds every
sweep's tables, verdicts and figures (each sweep keeps its own report too)::

    title: Ablations on the synthetic world
    sweeps: [configs/ablation_settings.yaml, configs/ablation_no_shortcut.yaml]
    out: experiments/ablations/report.md
    notes: free text under the title
    trend: {label: bg_bias, x: [0, 0.4, 0.8, 1.0]}   # optional: one x per sweep

A file with a `sweeps` key is a suite; `python trainer/sweep.py SUITE.yaml` takes the same
options as for one sweep. `notes.md` beside the suite's report is included as its reading.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attention_swap_reid.sweeps.figure import figure_name, write_trend
from attention_swap_reid.sweeps.inputs import load_sweep
from attention_swap_reid.sweeps.report import ci, p_holm, sweep_section
from attention_swap_reid.sweeps.spec import Sweep
from attention_swap_reid.sweeps.stats import Cell, holm, mean_sd, paired
from attention_swap_reid.trainer.disk import atomic_path, atomic_write_text, disk_error
from attention_swap_reid.trainer.safe_yaml import read_yaml
from attention_swap_reid.trainer.typed_tree import ConfigError, build, option


@dataclass(frozen=True)
class Trend:
    """The sweeps of a suite as points of one variable: the gain of each sweep's first augmented
    cell over its baseline, paired by seed, against `x` (a table and trend.png)."""

    label: str = option("", "what x is, e.g. 'bg_bias' (required)")
    x: tuple[float, ...] = option((), "one value per sweep, in the suite's order (required)")


@dataclass(frozen=True)
class SuiteFile:
    """The keys of a suite file."""

    title: str = option("", "the report's heading (default: the suite file's name)")
    sweeps: tuple[str, ...] = option((), "the sweep files, in the order they run and are reported (required)")
    out: str | None = option(None, "the report's path (default: experiments/<suite name>/report.md)")
    notes: str = option("", "free text under the report's title")
    trend: Trend | None = option(None, "the sweeps as points of one variable: {label, x}")


@dataclass(frozen=True)
class Suite:
    source: str
    title: str
    sweeps: tuple[Sweep, ...]
    out: Path
    notes: str
    trend: Trend | None = None


def is_suite(path: str | os.PathLike) -> bool:
    """Whether the YAML file at `path` is a suite (has `sweeps`); False for anything unreadable
    (`load_sweep` then names the problem)."""
    try:
        raw = read_yaml(path)
    except ConfigError:
        return False
    return isinstance(raw, dict) and "sweeps" in raw


def load_suite(path: str | os.PathLike) -> Suite:
    """Read a suite file and every sweep file it names; raises ConfigError naming the file and key."""
    path = os.fspath(path)
    raw = read_yaml(path)
    problems: list[str] = []
    spec = build(SuiteFile, raw, "", problems)
    if not spec.sweeps:
        problems.append("sweeps: expected a non-empty list of sweep files")
    problems += [f"sweeps[{i}]: {s}: file not found" for i, s in enumerate(spec.sweeps) if not os.path.isfile(s)]
    if spec.trend is not None and (not spec.trend.label or len(spec.trend.x) != len(spec.sweeps)):
        problems.append(f"trend: expected a label and one x per sweep ({len(spec.sweeps)}), got "
                        f"{spec.trend.label!r} and {list(spec.trend.x)}")
    if problems:
        raise ConfigError(problems, path)
    name = Path(path).stem
    return Suite(path, spec.title or f"Suite `{path}`", tuple(load_sweep(s) for s in spec.sweeps),
                 Path(spec.out or f"experiments/{name}/report.md"), spec.notes.strip(), spec.trend)


TREND_METRICS = (("mAP", "test set"), ("neutral_mAP", "neutral layout"), ("robust_mAP", "robustness"))


def trend_rows(suite: Suite, parts: list[tuple[Sweep, list[Cell], int, str]]) -> list[tuple]:
    """Per trend metric the runs have and per sweep: (metric, x, baseline cell, augmented cell,
    gain, baseline change from the first sweep, augmented change from the first sweep), all
    paired by seed; the augmented cell is each sweep's first cell with p > 0."""
    pairs = []
    for (sweep, cells, *_), x in zip(parts, suite.trend.x):
        base = next((c for c in cells if c.p == 0), None)
        aug = next((c for c in cells if c.p > 0), None)
        if base is not None and aug is not None:
            pairs.append((x, base, aug))
    rows = []
    for key, _ in TREND_METRICS:
        if not pairs or all(np.isnan(aug.mean[key]) for _, _, aug in pairs):
            continue
        _, base0, aug0 = pairs[0]
        rows += [(key, x, base, aug, paired(aug, base, key), paired(base, base0, key), paired(aug, aug0, key))
                 for x, base, aug in pairs]
    return rows


def _trend_section(suite: Suite, parts: list) -> list[str]:
    rows = trend_rows(suite, parts)
    if not rows:
        return []
    label = suite.trend.label
    first = rows[0][1]
    text = [f"## Against {label}", "",
            f"Each sweep's baseline and its augmented cell ({rows[0][3].roi} body, p {rows[0][3].p:g}), percent, "
            f"mean ± sd over seeds; the gain and the changes from {label} {first:g} are paired by seed, with "
            f"their 95 % t-intervals; Holm: over the gains of one test set. *Clear*: the interval excludes 0. "
            f"Figure: [trend.png](trend.png).", ""]
    for key, what in TREND_METRICS:
        mine = [r for r in rows if r[0] == key]
        if not mine:
            continue
        adjusted = holm([r[4].p for r in mine])
        head = [label, "baseline", "augmented", "gain [95 % CI]", "p (Holm)", "gain", f"baseline Δ vs {first:g}",
                f"augmented Δ vs {first:g}"]
        text += [f"### {what}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for (_, x, base, aug, gain, base_change, aug_change), h in zip(mine, adjusted):
            word = "clear" if gain.clear else "no difference detected"
            text.append("| " + " | ".join([f"{x:g}", mean_sd(base, key), mean_sd(aug, key), ci(gain),
                                            p_holm(gain, h), word, "-" if x == first else ci(base_change),
                                            "-" if x == first else ci(aug_change)]) + " |")
        text.append("")
    return text


def write_suite_report(suite: Suite, parts: list[tuple[Sweep, list[Cell], int, str]]) -> None:
    """The suite's report: title, notes, contents, the trend (with `trend`), then each sweep's
    section (`parts`: the sweep, its cells, its number of runs and its machine line) and the
    hand-written `notes.md` beside the report; with `trend`, trend.png beside it."""
    here = suite.out.parent
    text = [f"# {suite.title}", "",
            f"Regenerate every table and figure: `python trainer/sweep.py {suite.source} --report-only` "
            f"(from the runs, or from each sweep's committed results.csv); without `--report-only` the "
            f"runs that have not finished are trained first.", ""]
    if suite.notes:
        text += [suite.notes, ""]
    reading = here / "notes.md"
    trend = _trend_section(suite, parts) if suite.trend is not None else []
    text += ["Contents: " + ", ".join(([f"[against {suite.trend.label}](#{_anchor('against ' + suite.trend.label)})"]
                                       if trend else [])
                                      + [f"[{sweep.title}](#{_anchor(sweep.title)})" for sweep, *_ in parts])
             + (", [notes](#notes)" if reading.is_file() else "") + ".", ""]
    text += trend
    for sweep, cells, n_runs, machine in parts:
        figure = Path(os.path.relpath(sweep.out / figure_name(sweep.file.variants), here)).as_posix()
        text += sweep_section(sweep, cells, n_runs, figure, level=2, machine=machine)
    if reading.is_file():
        text += ["## Notes", "", reading.read_text(encoding="utf-8").strip(), ""]
    try:
        suite.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(suite.out.parent, e) from None
    atomic_write_text(suite.out, "\n".join(text))
    if trend:
        with atomic_path(here / "trend.png") as picture:
            write_trend(trend_rows(suite, parts), suite.trend.label, picture)


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")
