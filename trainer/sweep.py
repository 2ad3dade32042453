"""A grid of training runs over the augmentation probability and ROI mode (does the augmentation help, and at which p?), and
its report: the paper's claim (RAP, BoT: mAP 33.5 -> 46.3 with full-body attention at p = 0.3)
asked again, with seeds.

    python trainer/sweep.py configs/sweep_p.yaml [--dry-run] [--report-only] [--until HH:MM]

The sweep file names a base trainer config, overrides applied to every run, and the grid::

    base: pipeline.yaml
    set: {data.size: [64, 32], train.epochs: 8}     # any `--set` key of trainer/run.py
    grid: {roi: [full, upper, lower], p: [0.1, 0.3, 0.5, 0.7, 1.0], seeds: [0, 1], core_p: [0.3, 0.5],
           key_seeds: [2, 3]}          # more seeds for the key comparison (see below)
    runs_dir: runs/sweep_p          # one folder per run (checkpoints: keep out of git)
    out: experiments/sweep_p        # results.csv, report.md, fig3.png

Runs are the baseline (p = 0) once per seed plus every (roi, p, seed). They run one at a time
as `trainer/run.py` subprocesses, the *core* runs first (baseline, the first ROI at every p,
the other ROIs at `core_p`) so that an interrupted sweep still answers the question; the
*key* cells (baseline, first ROI at `core_p`) also run with `key_seeds`. The
sweep is resumable run by run: a run whose `final.json` exists is skipped, an unfinished one
is continued with `--resume`. `--until` (UTC wall clock) starts no run after that time and
stops a running one at it; the report is then written from what finished.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and __package__ in (None, ""):
    _here = os.path.dirname(os.path.abspath(__file__))  # as in trainer/run.py
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from trainer.config import ConfigError, load_config  # noqa: E402
from trainer.sweep_report import METRICS, ROIS, summarize, write_figure, write_report  # noqa: E402

RUN_PY = Path(__file__).with_name("run.py")
KEYS = {"base", "set", "grid", "runs_dir", "out", "run_timeout_min", "keep_checkpoints", "notes"}
GRID_KEYS = {"roi", "p", "seeds", "core_p", "key_seeds"}


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file; paths are relative to the working directory (as in trainer configs)."""

    source: str
    base: str
    overrides: tuple[str, ...]          # "key=value", applied to every run
    rois: tuple[str, ...]
    ps: tuple[float, ...]
    seeds: tuple[int, ...]
    core_p: tuple[float, ...]
    key_seeds: tuple[int, ...]          # extra seeds of the baseline and the first ROI at core_p
    runs_dir: Path
    out: Path
    run_timeout_min: float              # a run still going after this is stopped (counts as failed)
    keep_checkpoints: bool              # False: delete a finished run's checkpoints/ folders
    notes: str                          # free text copied into the report (the budget and why)


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid: p = 0 is the baseline (roi "none")."""

    run_id: str
    roi: str
    p: float
    seed: int
    core: bool
    overrides: tuple[str, ...]


def _problem(key: str, expected: str, got: object) -> str:
    return f"{key}: expected {expected}, got {got!r}"


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file (every run's trainer config included); raises ConfigError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError([f"{path}: file not found"])
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError([_problem("top level", "a mapping", raw)], path)
    problems = [f"{k}: unknown key; allowed: {', '.join(sorted(KEYS))}" for k in raw if k not in KEYS]
    grid = raw.get("grid") or {}
    problems += [f"grid.{k}: unknown key; allowed: {', '.join(sorted(GRID_KEYS))}"
                 for k in grid if k not in GRID_KEYS]
    rois, ps, seeds = grid.get("roi", list(ROIS)), grid.get("p"), grid.get("seeds", [0])
    core_p = grid.get("core_p", ps or [])
    if not isinstance(rois, list) or not rois or any(r not in ROIS for r in rois):
        problems.append(_problem("grid.roi", f"a list of {', '.join(ROIS)}", rois))
    for key, values in (("grid.p", ps), ("grid.core_p", core_p)):
        if not isinstance(values, list) or not values or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1 for v in values):
            problems.append(_problem(key, "a non-empty list of numbers in (0, 1]", values))
    key_seeds = grid.get("key_seeds", [])
    for key, values, least in (("grid.seeds", seeds, 1), ("grid.key_seeds", key_seeds, 0)):
        if not isinstance(values, list) or len(values) < least or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in values):
            problems.append(_problem(key, f"a list of {'at least one ' * least}integers >= 0", values))
    if isinstance(seeds, list) and isinstance(key_seeds, list) and set(seeds) & set(key_seeds):
        problems.append(_problem("grid.key_seeds", f"seeds not in grid.seeds {seeds}", key_seeds))
    settings = raw.get("set") or {}
    if not isinstance(settings, dict):
        problems.append(_problem("set", "a mapping of trainer keys to values", settings))
    if "base" not in raw:
        problems.append("base: missing; the trainer config every run starts from, e.g. pipeline.yaml")
    if problems:
        raise ConfigError(problems, path)
    name = Path(path).stem
    sweep = Sweep(source=path, base=str(raw["base"]),
                  overrides=tuple(f"{k}={json.dumps(v)}" for k, v in settings.items()),
                  rois=tuple(rois), ps=tuple(float(p) for p in ps), seeds=tuple(seeds),
                  core_p=tuple(float(p) for p in core_p), key_seeds=tuple(key_seeds), runs_dir=Path(raw.get("runs_dir", f"runs/{name}")),
                  out=Path(raw.get("out", f"experiments/{name}")),
                  run_timeout_min=float(raw.get("run_timeout_min", 60)),
                  keep_checkpoints=bool(raw.get("keep_checkpoints", False)),
                  notes=str(raw.get("notes", "")).strip())
    for spec in expand(sweep):  # every run's config is valid before any work starts
        load_config(sweep.base, list(spec.overrides))
    return sweep


def run_id(roi: str, p: float, seed: int) -> str:
    return f"baseline-s{seed}" if p == 0 else f"{roi}-p{p:g}-s{seed}"


def expand(sweep: Sweep) -> list[RunSpec]:
    """The runs in execution order, most informative first, seeds side by side: the baseline,
    the first ROI at `core_p`, the first ROI at the other p, the other ROIs at `core_p`
    (these are the *core* runs), then the rest. The key cells (baseline, first ROI at `core_p`)
    also run with `key_seeds`, right after their first seeds."""
    specs = []
    cells = [("none", 0.0)] + [(roi, p) for roi in sweep.rois for p in sweep.ps]
    key = [("none", 0.0)] + [(sweep.rois[0], p) for p in sweep.ps if p in sweep.core_p]
    for seed in sweep.seeds + sweep.key_seeds:
        for roi, p in cells if seed in sweep.seeds else key:
            rid = run_id(roi, p, seed)
            core = p == 0 or roi == sweep.rois[0] or p in sweep.core_p
            own = [f"augment.p={p:g}", f"train.seed={seed}", "train.compare_baseline=false",
                   f"name={rid}", f"output.dir={sweep.runs_dir / rid}"]
            if p > 0:
                own.insert(1, f"augment.roi={roi}")
            specs.append(RunSpec(rid, roi, p, seed, core, sweep.overrides + tuple(own)))

    def priority(s: RunSpec) -> tuple:
        first = s.roi == sweep.rois[0]
        tier = 0 if s.p == 0 else (1 if first else 3) if s.p in sweep.core_p else (2 if first else 4)
        cell = (sweep.rois.index(s.roi) if s.p else -1, sweep.ps.index(s.p) if s.p else -1)
        return tier, cell, (sweep.seeds + sweep.key_seeds).index(s.seed)
    return sorted(specs, key=priority)


def run_folders(sweep: Sweep, spec: RunSpec) -> list[Path]:
    """The run's `<name>-<timestamp>` folders written by trainer/run.py, oldest first."""
    parent = sweep.runs_dir / spec.run_id
    return sorted(p for p in parent.glob(f"{spec.run_id}-*") if p.is_dir()) if parent.is_dir() else []


def final_record(sweep: Sweep, spec: RunSpec) -> dict | None:
    """The newest `final.json` of the run, or None when it has not finished."""
    for folder in reversed(run_folders(sweep, spec)):
        if (folder / "final.json").is_file():
            return json.loads((folder / "final.json").read_text())
    return None


def status(sweep: Sweep, spec: RunSpec) -> str:
    if final_record(sweep, spec) is not None:
        return "done"
    return "partial" if run_folders(sweep, spec) else "todo"


def _command(sweep: Sweep, spec: RunSpec) -> list[str]:
    cmd = [sys.executable, str(RUN_PY), sweep.base]
    for item in spec.overrides:
        cmd += ["--set", item]
    partial = [f for f in run_folders(sweep, spec) if (f / "config.yaml").is_file()]
    return cmd + (["--resume", str(partial[-1])] if partial else [])


def run_one(sweep: Sweep, spec: RunSpec, deadline: datetime | None) -> str:
    """Train one run (subprocess, log in `<runs_dir>/<run_id>/stdout.log`); returns its status."""
    folder = sweep.runs_dir / spec.run_id
    folder.mkdir(parents=True, exist_ok=True)
    timeout = sweep.run_timeout_min * 60
    if deadline is not None:
        timeout = min(timeout, (deadline - datetime.now(timezone.utc)).total_seconds())
    cmd = _command(sweep, spec)
    with open(folder / "stdout.log", "a", encoding="utf-8") as log:
        log.write(f"\n=== {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC: {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            _stop(proc)
            return "stopped"
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): never leave the run behind
            _stop(proc)
            raise
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode})"
    if not sweep.keep_checkpoints:
        for checkpoints in folder.glob("*/*/checkpoints"):
            shutil.rmtree(checkpoints)
    return status(sweep, spec)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def collect(sweep: Sweep, specs: list[RunSpec]) -> list[dict]:
    """One row per finished run: run_id, roi, p, seed, the metrics (fractions), minutes, run_dir."""
    rows = []
    for spec in specs:
        record = final_record(sweep, spec)
        if record is None:
            continue
        (result,) = record["results"].values()
        rows.append({"run_id": spec.run_id, "roi": spec.roi, "p": spec.p, "seed": spec.seed,
                     **{k: result.get(k, float("nan")) for k in METRICS},
                     "minutes": result["minutes"], "run_dir": record["run_dir"]})
    return rows


def write_results(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["run_id", "roi", "p", "seed", *METRICS, "minutes", "run_dir"])
        writer.writeheader()
        writer.writerows(rows)


def _deadline(text: str | None) -> datetime | None:
    """"HH:MM" (UTC) -> the next such moment."""
    if text is None:
        return None
    try:
        hour, minute = (int(x) for x in text.split(":"))
        now = datetime.now(timezone.utc)
        moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        raise SystemExit(f"error: --until: expected HH:MM (UTC), got {text!r}") from None
    return moment if moment > now else moment + timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trainer/sweep.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", help="sweep file, e.g. configs/sweep_p.yaml")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="list the runs and their status; train nothing")
    mode.add_argument("--report-only", action="store_true", help="rebuild the report from finished runs")
    parser.add_argument("--until", metavar="HH:MM", help="UTC time after which no run starts or keeps running")
    args = parser.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    specs, deadline = expand(sweep), _deadline(args.until)
    if args.dry_run:
        print(f"every run: trainer/run.py {sweep.base} " + " ".join(f"--set {o}" for o in sweep.overrides))
        for spec in specs:
            own = spec.overrides[len(sweep.overrides):]
            print(f"{status(sweep, spec):8s} {'core' if spec.core else 'rest':5s} {spec.run_id:16s} "
                  + " ".join(f"--set {o}" for o in own))
        print(f"{len(specs)} runs ({sum(s.core for s in specs)} core)")
        return 0
    if not args.report_only:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # -> run_one stops its run
        for i, spec in enumerate(specs, 1):
            if status(sweep, spec) == "done":
                continue
            if deadline is not None and datetime.now(timezone.utc) >= deadline:
                print(f"--until {args.until} reached; {len(specs) - i + 1} run(s) not started", flush=True)
                break
            started = datetime.now(timezone.utc)
            result = run_one(sweep, spec, deadline)
            minutes = (datetime.now(timezone.utc) - started).total_seconds() / 60
            print(f"{started:%H:%M:%S} [{i}/{len(specs)}] {spec.run_id}: {result} ({minutes:.1f} min)", flush=True)
    rows = collect(sweep, specs)
    write_results(rows, sweep.out / "results.csv")
    cells = summarize(rows)
    write_report(sweep, cells, len(specs), sweep.out / "report.md")
    write_figure(cells, sweep.out / "fig3.png")
    print(f"{len(rows)}/{len(specs)} runs finished; wrote {sweep.out}/results.csv, report.md, fig3.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
