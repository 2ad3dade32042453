"""Running a sweep's runs: one `trainer/run.py` subprocess at a time, resumable run by run (a
run whose `final.json` exists is done, an unfinished one is continued with `--resume`), with
a per-run timeout and a wall-clock deadline; and results.csv from the finished runs."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import trainer
from sweeps.plan import RunSpec
from sweeps.spec import Sweep
from sweeps.stats import METRICS

RUN_PY = Path(trainer.__file__).with_name("run.py")
STOP_GRACE_S = 30  # after terminate(), before kill()


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
    """"done" (final.json), "partial" (a run folder without it) or "todo"."""
    if final_record(sweep, spec) is not None:
        return "done"
    return "partial" if run_folders(sweep, spec) else "todo"


def command(sweep: Sweep, spec: RunSpec) -> list[str]:
    """The trainer/run.py command line of the run, resuming its newest unfinished folder."""
    cmd = [sys.executable, str(RUN_PY), sweep.file.base]
    for item in spec.overrides:
        cmd += ["--set", item]
    partial = [f for f in run_folders(sweep, spec) if (f / "config.yaml").is_file()]
    return cmd + (["--resume", str(partial[-1])] if partial else [])


def run_one(sweep: Sweep, spec: RunSpec, deadline: datetime | None) -> str:
    """Train one run (subprocess, log in `<runs_dir>/<run_id>/stdout.log`); returns its status."""
    folder = sweep.runs_dir / spec.run_id
    folder.mkdir(parents=True, exist_ok=True)
    timeout = sweep.file.run_timeout_min * 60
    if deadline is not None:
        timeout = min(timeout, (deadline - datetime.now(timezone.utc)).total_seconds())
    cmd = command(sweep, spec)
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
    if not sweep.file.keep_checkpoints:
        for checkpoints in folder.glob("*/*/checkpoints"):
            shutil.rmtree(checkpoints)
    return status(sweep, spec)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE_S)
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
    """results.csv: the rows of `collect`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["run_id", "roi", "p", "seed", *METRICS, "minutes", "run_dir"])
        writer.writeheader()
        writer.writerows(rows)
