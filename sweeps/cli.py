"""A grid of training runs over the augmentation probability and ROI mode (does the augmentation
help, and at which p?), and its report.

    python trainer/sweep.py configs/sweep_p.yaml [--dry-run] [--report-only] [--until HH:MM] [--jobs N]
    python -m attention_swap_reid.sweeps configs/sweep_p.yaml ...           # the same
    python trainer/sweep.py configs/ablations.yaml      # a suite: several sweeps, one report
    python trainer/sweep.py configs/mechanism.yaml configs/dose_response.yaml --jobs 2   # one after the other

Runs are the baseline (p = 0) once per seed plus every (roi, p, variant, seed), one at a time
(or N side by side), the *core* runs first (see `sweeps.plan`). The sweep is resumable run by run (see `sweeps.runner`).
`--until` (UTC wall clock) starts no run after that time and stops a running one at it; the
report is then written from what finished. One sweep trains in a runs_dir at a time (a second
one is refused). SIGTERM and SIGHUP stop the runs going (each leaves its resume point) and exit
with 143 and 129. Exit codes: 0 done, 1 some run failed (named at the end, with its log), 2 an
invalid sweep file, a runs_dir in use or a file that could not be written (one line).
"""
from __future__ import annotations

import argparse
import signal
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta, timezone

from attention_swap_reid.prepare.synthetic import WorldMismatch
from attention_swap_reid.sweeps.figure import figure_name, write_contrasts, write_figure
from attention_swap_reid.sweeps.plan import RunSpec, expand
from attention_swap_reid.sweeps.report import contrast_rows, machine_line, write_report
from attention_swap_reid.sweeps.inputs import load_sweep, make_inputs
from attention_swap_reid.sweeps.runner import collect, run_one, runs_dir_lock, status, stop_all, write_results
from attention_swap_reid.sweeps.spec import Sweep
from attention_swap_reid.sweeps.stats import Cell, summarize
from attention_swap_reid.sweeps.suite import is_suite, load_suite, write_suite_report
from attention_swap_reid.trainer.disk import atomic_path
from attention_swap_reid.trainer.errors import TrainerError
from attention_swap_reid.trainer.typed_tree import ConfigError

EXIT_FAILED = 1
EXIT_INVALID = 2


def deadline_at(text: str | None) -> datetime | None:
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


def _print_plan(sweep: Sweep, specs: list[RunSpec]) -> None:
    print(f"every run: trainer/run.py {sweep.file.base} " + " ".join(f"--set {o}" for o in sweep.overrides))
    for spec in specs:
        own = spec.overrides[len(sweep.overrides):]
        print(f"{status(sweep, spec):8s} {'core' if spec.core else 'rest':5s} {spec.run_id:16s} "
              + " ".join(f"--set {o}" for o in own))
    print(f"{len(specs)} runs ({sum(s.core for s in specs)} core)")


def _train(sweep: Sweep, specs: list[RunSpec], deadline: datetime | None, until: str | None,
           jobs: int) -> list[str]:
    """Every unfinished run in order, `jobs` at a time, until `deadline` (given as `until` on
    the command line); returns the failed runs, one line each."""
    todo = [(i, spec) for i, spec in enumerate(specs, 1) if status(sweep, spec) != "done"]
    if todo:
        make_inputs(sweep, list({spec.variant: sweep.variant(spec.variant) for _, spec in todo if spec.variant}.values()))
    not_started, failed = [], []

    def train(i: int, spec: RunSpec) -> None:
        if deadline is not None and datetime.now(timezone.utc) >= deadline:
            not_started.append(spec.run_id)
            return
        started = datetime.now(timezone.utc)
        result = run_one(sweep, spec, deadline)
        minutes = (datetime.now(timezone.utc) - started).total_seconds() / 60
        print(f"{started:%H:%M:%S} [{i}/{len(specs)}] {spec.run_id}: {result} ({minutes:.1f} min)", flush=True)
        if result.startswith("failed"):
            failed.append(f"{spec.run_id}: {result}, see {sweep.runs_dir / spec.run_id / 'stdout.log'}")

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for future in as_completed([pool.submit(train, i, spec) for i, spec in todo]):
            future.result()
    except BaseException:  # interrupted, or a run could not start: stop what is going, start nothing
        pool.shutdown(wait=False, cancel_futures=True)
        stop_all()
        raise
    pool.shutdown()
    if not_started:
        print(f"--until {until} reached; {len(not_started)} run(s) not started", flush=True)
    return failed


def _sweep(sweep: Sweep, args: argparse.Namespace, deadline: datetime | None,
           failed: list[str]) -> tuple[list[Cell], int, str]:
    """Train (unless --report-only; the failed runs are added to `failed`) and write the
    sweep's results.csv, report and figures, each whole or not at all; returns its cells, its
    number of runs and its `machine_line`."""
    specs = expand(sweep)
    if not args.report_only:
        with runs_dir_lock(sweep):
            failed += _train(sweep, specs, deadline, args.until, args.jobs)
    rows = collect(sweep, specs, earlier=sweep.out / "results.csv")
    write_results(rows, sweep.out / "results.csv")
    variants = sweep.file.variants
    cells = summarize(rows, tuple(v.name for v in variants))
    figure = figure_name(variants)
    machine = machine_line(rows, sweep)
    with atomic_path(sweep.out / "report.md") as report:
        write_report(sweep, cells, len(specs), report, figure, machine)
    with atomic_path(sweep.out / figure) as picture:
        write_figure(cells, picture, variants)
    if sweep.file.contrasts:
        with atomic_path(sweep.out / "contrasts.png") as picture:
            write_contrasts(contrast_rows(sweep, cells), picture)
    print(f"{len(rows)}/{len(specs)} runs finished; wrote {sweep.out}/results.csv, report.md, {figure}")
    return cells, len(specs), machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trainer/sweep.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweeps", nargs="+", metavar="SWEEP",
                        help="sweep file, e.g. configs/sweep_p.yaml, or a suite of them; several run one after the other")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="list the runs and their status; train nothing")
    mode.add_argument("--report-only", action="store_true",
                      help="rebuild the report from finished runs (or the rows of the committed results.csv)")
    parser.add_argument("--until", metavar="HH:MM", help="UTC time after which no run starts or keeps running")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="runs side by side (default 1); give the sweep file a `run_threads` so "
                             "that N runs share the cores and the results do not depend on N")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs: expected a number >= 1, got {args.jobs}")
    try:  # every file valid before any work
        files = []  # (suite or None, its sweeps)
        for f in args.sweeps:
            suite = load_suite(f) if is_suite(f) else None
            files.append((suite, suite.sweeps if suite is not None else (load_sweep(f),)))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INVALID
    deadline = deadline_at(args.until)
    if args.dry_run:
        for _, sweeps in files:
            for sweep in sweeps:
                _print_plan(sweep, expand(sweep))
        return 0
    failed: list[str] = []
    # SIGTERM, SIGHUP: exit, so that the runs still going are stopped and no temporary file stays
    previous = {signum: signal.signal(signum, lambda number, _: sys.exit(128 + number))
                for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for suite, sweeps in files:
            parts = [(sweep, *_sweep(sweep, args, deadline, failed)) for sweep in sweeps]
            if suite is not None:
                write_suite_report(suite, parts)
                print(f"wrote {suite.out}")
    except (TrainerError, WorldMismatch) as e:  # a runs_dir in use, a file the disk refused, a world not made
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    if failed:
        print(f"{len(failed)} run(s) failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return EXIT_FAILED
    return 0
