"""A grid of training runs over the augmentation probability and ROI mode (does the augmentation
help, and at which p?), and its report.

    python trainer/sweep.py configs/sweep_p.yaml [--dry-run] [--report-only] [--until HH:MM]
    python -m sweeps configs/sweep_p.yaml ...           # the same

Runs are the baseline (p = 0) once per seed plus every (roi, p, seed), run one at a time, the
*core* runs first (see `sweeps.plan`). The sweep is resumable run by run (see `sweeps.runner`).
`--until` (UTC wall clock) starts no run after that time and stops a running one at it; the
report is then written from what finished. Exit codes: 0 done, 2 an invalid sweep file.
"""
from __future__ import annotations

import argparse
import signal
import sys
from datetime import datetime, timedelta, timezone

from sweeps.figure import write_figure
from sweeps.plan import RunSpec, expand
from sweeps.report import write_report
from sweeps.runner import collect, run_one, status, write_results
from sweeps.spec import Sweep, load_sweep
from sweeps.stats import summarize
from trainer.typed_tree import ConfigError

EXIT_INVALID = 2
EXIT_SIGTERM = 143


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


def _train(sweep: Sweep, specs: list[RunSpec], deadline: datetime | None, until: str | None) -> None:
    """Every unfinished run in order, until `deadline` (given as `until` on the command line)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_SIGTERM))  # -> run_one stops its run
    for i, spec in enumerate(specs, 1):
        if status(sweep, spec) == "done":
            continue
        if deadline is not None and datetime.now(timezone.utc) >= deadline:
            print(f"--until {until} reached; {len(specs) - i + 1} run(s) not started", flush=True)
            break
        started = datetime.now(timezone.utc)
        result = run_one(sweep, spec, deadline)
        minutes = (datetime.now(timezone.utc) - started).total_seconds() / 60
        print(f"{started:%H:%M:%S} [{i}/{len(specs)}] {spec.run_id}: {result} ({minutes:.1f} min)", flush=True)


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
        return EXIT_INVALID
    specs, deadline = expand(sweep), deadline_at(args.until)
    if args.dry_run:
        _print_plan(sweep, specs)
        return 0
    if not args.report_only:
        _train(sweep, specs, deadline, args.until)
    rows = collect(sweep, specs)
    write_results(rows, sweep.out / "results.csv")
    cells = summarize(rows)
    write_report(sweep, cells, len(specs), sweep.out / "report.md")
    write_figure(cells, sweep.out / "fig3.png")
    print(f"{len(rows)}/{len(specs)} runs finished; wrote {sweep.out}/results.csv, report.md, fig3.png")
    return 0
