"""A grid of training runs over the augmentation probability and ROI mode (GitHub issue 8), and
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

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from trainer.config import ConfigError, load_config  # noqa: E402
from trainer.summary import COLUMNS  # noqa: E402

RUN_PY = Path(__file__).with_name("run.py")
ROIS = ("full", "upper", "lower")
KEYS = {"base", "set", "grid", "runs_dir", "out", "run_timeout_min", "keep_checkpoints", "notes"}
METRICS = tuple(key for _, key in COLUMNS)  # rank1, rank5, rank10, mAP, mINP, robust_mAP
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
        problems.append(f"base: missing; the trainer config every run starts from, e.g. pipeline.yaml")
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


# ----------------------------------------------------------------------------- report

@dataclass(frozen=True)
class Cell:
    """The seeds of one (roi, p) combined: per metric the values (in `seeds` order), their mean,
    sample standard deviation (ddof 1; NaN with one seed), lowest and highest, as fractions."""

    roi: str
    p: float
    seeds: tuple[int, ...]
    values: dict[str, tuple[float, ...]]
    mean: dict[str, float]
    sd: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]


def summarize(rows: list[dict]) -> list[Cell]:
    """Rows of `collect` (or results.csv) -> one Cell per (roi, p): baseline first, then by roi, p."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["roi"], float(row["p"])), []).append(row)
    order = {roi: i for i, roi in enumerate(("none",) + ROIS)}
    cells = []
    for (roi, p), group in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0])):
        group = sorted(group, key=lambda r: int(r["seed"]))
        values = {k: np.array([float(r[k]) for r in group]) for k in METRICS}
        cells.append(Cell(roi, p, tuple(int(r["seed"]) for r in group),
                          values={k: tuple(float(x) for x in v) for k, v in values.items()},
                          mean={k: float(v.mean()) for k, v in values.items()},
                          sd={k: float(v.std(ddof=1)) if len(v) > 1 else float("nan") for k, v in values.items()},
                          low={k: float(v.min()) for k, v in values.items()},
                          high={k: float(v.max()) for k, v in values.items()}))
    return cells


def _pm(cell: Cell, key: str) -> str:
    """"mean ± sd" in percent; "mean" with one seed, "-" for a metric the runs lack."""
    mean, sd = cell.mean[key], cell.sd[key]
    if np.isnan(mean):
        return "-"
    return f"{100 * mean:.1f}" + ("" if np.isnan(sd) else f" ± {100 * sd:.1f}")


def compare(cell: Cell, base: Cell, key: str) -> tuple[float, bool]:
    """(difference of the means, clear): clear when the difference is more than twice the larger
    seed standard deviation of the two cells *and* every seed of one beats every seed of the other."""
    delta = cell.mean[key] - base.mean[key]
    noise = max(np.nan_to_num(cell.sd[key]), np.nan_to_num(base.sd[key]))
    apart = cell.low[key] > base.high[key] if delta > 0 else cell.high[key] < base.low[key]
    return delta, bool(abs(delta) > 2 * noise and apart and min(len(cell.seeds), len(base.seeds)) > 1)


def paired(cell: Cell, base: Cell, key: str) -> tuple[int, int]:
    """(seeds where `cell` beats the baseline run of the same seed, seeds they share)."""
    mine, theirs = dict(zip(cell.seeds, cell.values[key])), dict(zip(base.seeds, base.values[key]))
    shared = sorted(set(mine) & set(theirs))
    return sum(mine[s] > theirs[s] for s in shared), len(shared)


def verdict(cells: list[Cell]) -> list[str]:
    """Plain-language findings computed from the cells (one Markdown bullet each)."""
    base = next((c for c in cells if c.p == 0), None)
    if base is None or len(cells) == 1:
        return ["- No baseline run (p = 0) or no augmented run finished: nothing to compare yet."]
    lines = []
    for key, what in (("mAP", "test mAP"), ("robust_mAP", "robustness (mAP on the swapped-background test set)")):
        for roi in ROIS:
            group = [c for c in cells if c.roi == roi]
            if not group or np.isnan(base.mean[key]):
                continue
            best = max(group, key=lambda c: c.mean[key])
            delta, clear = compare(best, base, key)
            n_clear = sum(d > 0 and ok for d, ok in (compare(c, base, key) for c in group))
            size = "larger than" if clear else "not clearly larger than"
            sign = "gain" if delta > 0 else "loss"
            wins, shared = paired(best, base, key)
            lines.append(f"- {what}, {roi} body: best p = {best.p:g} with {_pm(best, key)} vs baseline "
                         f"{_pm(base, key)}: a {sign} of {100 * abs(delta):.1f} points, {size} the spread "
                         f"between seeds (above the same-seed baseline in {wins} of {shared} seeds); "
                         f"{n_clear} of {len(group)} p values beat the baseline clearly.")
    full = [c for c in cells if c.roi == "full"]
    if full:
        best = max(full, key=lambda c: c.mean["mAP"])
        inside = "inside" if 0.3 <= best.p <= 0.5 else "outside"
        lines.append(f"- The best full-body p for mAP is {best.p:g}, {inside} the paper's best range [0.3, 0.5] "
                     f"(paper, RAP: baseline 33.5 -> 46.3 mAP at p = 0.3, +12.8 points).")
    return lines


def write_report(sweep: Sweep, cells: list[Cell], n_runs: int, path: Path) -> None:
    """report.md: the setup, a table of mean ± sd over seeds (percent), the verdict, `notes.md`
    from the same folder when there is one, the figure."""
    base = next((c for c in cells if c.p == 0), None)
    def delta(c: Cell, key: str) -> str:
        if base is None or c is base or np.isnan(c.mean[key]):
            return "-"
        d, clear = compare(c, base, key)
        return f"{100 * d:+.1f}" + (" (clear)" if clear else "")

    head = ["ROI", "p", "seeds", *(title for title, _ in COLUMNS), "Δ mAP", "Δ robustness"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        table.append("| " + " | ".join([c.roi if c.p else "baseline", f"{c.p:g}", ",".join(map(str, c.seeds)),
                                        *(_pm(c, k) for _, k in COLUMNS), delta(c, "mAP"),
                                        delta(c, "robust_mAP")]) + " |")
    finished = sum(len(c.seeds) for c in cells)
    text = [f"# Sweep `{sweep.source}`: attention augmentation probability and ROI", "",
            f"Regenerate: `python trainer/sweep.py {sweep.source}` (resumable; `--report-only` rebuilds "
            f"this page). {finished} of {n_runs} runs finished.", "",
            f"Base config `{sweep.base}`, with " + ", ".join(f"`{o}`" for o in sweep.overrides) + ".", ""]
    if sweep.notes:
        text += [sweep.notes, ""]
    text += ["## Results (percent; mean ± sample standard deviation over seeds)", "", *table, "",
             "A difference is called *clear* when it is more than twice the larger of the two seed "
             "standard deviations and every seed of one setting beats every seed of the other. The "
             "best p below is picked after the fact, so count how many p values are clear, not only "
             "the best one.", "",
             "## Verdict", "", *verdict(cells), ""]
    comments = path.parent / "notes.md"  # hand-written reading of the results, kept beside the report
    if comments.is_file():
        text += ["## Notes", "", comments.read_text(encoding="utf-8").strip(), ""]
    text += ["## Figure", "", "![mAP and CMC per p](fig3.png)", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text), encoding="utf-8")


def write_figure(cells: list[Cell], path: Path) -> None:
    """fig3.png in the style of the paper's Fig. 3: one panel per ROI, mAP bars per p (with the
    seed standard deviation), rank-1/5/10 and robustness-mAP lines; p = 0 is the baseline."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = [c for c in cells if c.p == 0]
    rois = [roi for roi in ROIS if any(c.roi == roi for c in cells)] or ["none"]
    fig, axes = plt.subplots(1, len(rois), figsize=(4.2 * len(rois), 3.9), sharey=True, squeeze=False)
    for ax, roi in zip(axes[0], rois):
        group = base + [c for c in cells if c.roi == roi]
        x = np.arange(len(group))
        pct = lambda key: np.array([100 * c.mean[key] for c in group])  # noqa: E731
        ax.bar(x, pct("mAP"), yerr=np.nan_to_num([100 * c.sd["mAP"] for c in group]), capsize=3,
               color=["0.75" if c.p == 0 else "#9ecae1" for c in group], label="mAP ± sd (grey: baseline)")
        for key, style, color in (("rank1", "o-", "tab:red"), ("rank5", "s-", "tab:orange"),
                                  ("rank10", "^-", "tab:green"), ("robust_mAP", "x--", "tab:purple")):
            ax.plot(x, pct(key), style, color=color, ms=4,
                    label={"robust_mAP": "mAP, swapped backgrounds"}.get(key, key.replace("rank", "rank-")))
        ax.set_xticks(x, ["base" if c.p == 0 else f"{c.p:g}" for c in group])
        ax.set_title(f"{roi} body" if roi != "none" else "baseline")
        ax.set_xlabel("p")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("percent, mean over seeds")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
