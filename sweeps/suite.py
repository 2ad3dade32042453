"""A suite: several sweep files run one after the other, with one report that holds every
sweep's tables, verdicts and figures (each sweep keeps its own report too)::

    title: Ablations on the synthetic world
    sweeps: [configs/ablation_settings.yaml, configs/ablation_no_shortcut.yaml]
    out: experiments/ablations/report.md
    notes: free text under the title

A file with a `sweeps` key is a suite; `python trainer/sweep.py SUITE.yaml` takes the same
options as for one sweep. `notes.md` beside the suite's report is included as its reading.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from attention_swap_reid.sweeps.figure import figure_name
from attention_swap_reid.sweeps.report import sweep_section
from attention_swap_reid.sweeps.spec import Sweep, load_sweep
from attention_swap_reid.sweeps.stats import Cell
from attention_swap_reid.trainer.disk import atomic_write_text, disk_error
from attention_swap_reid.trainer.safe_yaml import read_yaml
from attention_swap_reid.trainer.typed_tree import ConfigError, build, option


@dataclass(frozen=True)
class SuiteFile:
    """The keys of a suite file."""

    title: str = option("", "the report's heading (default: the suite file's name)")
    sweeps: tuple[str, ...] = option((), "the sweep files, in the order they run and are reported (required)")
    out: str | None = option(None, "the report's path (default: experiments/<suite name>/report.md)")
    notes: str = option("", "free text under the report's title")


@dataclass(frozen=True)
class Suite:
    source: str
    title: str
    sweeps: tuple[Sweep, ...]
    out: Path
    notes: str


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
    if problems:
        raise ConfigError(problems, path)
    name = Path(path).stem
    return Suite(path, spec.title or f"Suite `{path}`", tuple(load_sweep(s) for s in spec.sweeps),
                 Path(spec.out or f"experiments/{name}/report.md"), spec.notes.strip())


def write_suite_report(suite: Suite, parts: list[tuple[Sweep, list[Cell], int]]) -> None:
    """The suite's report: title, notes, contents, then each sweep's section (`parts`: the sweep,
    its cells and its number of runs) and the hand-written `notes.md` beside the report."""
    here = suite.out.parent
    text = [f"# {suite.title}", "",
            f"Regenerate every table and figure: `python trainer/sweep.py {suite.source} --report-only` "
            f"(from the runs, or from each sweep's committed results.csv); without `--report-only` the "
            f"runs that have not finished are trained first.", ""]
    if suite.notes:
        text += [suite.notes, ""]
    reading = here / "notes.md"
    text += ["Contents: " + ", ".join(f"[{sweep.title}](#{_anchor(sweep.title)})" for sweep, _, _ in parts)
             + (", [notes](#notes)" if reading.is_file() else "") + ".", ""]
    for sweep, cells, n_runs in parts:
        figure = Path(os.path.relpath(sweep.out / figure_name(sweep.file.variants), here)).as_posix()
        text += sweep_section(sweep, cells, n_runs, figure, level=2)
    if reading.is_file():
        text += ["## Notes", "", reading.read_text(encoding="utf-8").strip(), ""]
    try:
        suite.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(suite.out.parent, e) from None
    atomic_write_text(suite.out, "\n".join(text))


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")
