"""Running a sweep's runs: `trainer/run.py` subprocesses (one at a time, or `jobs` side by side),
resumable run by run (a run whose `final.json` exists is done, an unfinished one is continued
with `--resume`), with a per-run timeout and a wall-clock deadline; and results.csv from the
finished runs (falling back to the rows of an earlier results.csv for runs whose folders are
gone, e.g. in a fresh clone, so a report can always be rebuilt from what was committed).

One sweep trains in a runs_dir at a time (`runs_dir_lock`: a second one is refused, rather
than training every run twice)."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from attention_swap_reid import trainer
from attention_swap_reid.sweeps.plan import RunSpec
from attention_swap_reid.sweeps.spec import Sweep
from attention_swap_reid.sweeps.stats import METRICS, PROBE_METRICS
from attention_swap_reid.trainer.disk import atomic_write_text, disk_error
from attention_swap_reid.trainer.run_folder import RunLock

SWEEP_LOCK = "sweep.lock"  # in runs_dir, held by the sweep that trains there

RUN_PY = Path(trainer.__file__).with_name("run.py")
STOP_GRACE_S = 30  # after terminate(), before kill()
RUNNING: set[subprocess.Popen] = set()  # the runs' processes still going
COLUMNS = ("run_id", "roi", "p", "variant", "seed", *METRICS, "minutes", "run_dir")  # of results.csv
OPTIONAL = (*PROBE_METRICS, "threads", "cpu")  # after COLUMNS, written when a row has them (newer runs)


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


def runs_dir_lock(sweep: Sweep) -> RunLock:
    """The lock of the sweep's runs_dir (`with runs_dir_lock(sweep): ...`): a second sweep into
    the same runs_dir is refused with a `RunFolderError` naming the process that trains there."""
    try:
        sweep.runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(sweep.runs_dir, e) from None
    return RunLock(sweep.runs_dir, SWEEP_LOCK)


def run_one(sweep: Sweep, spec: RunSpec, deadline: datetime | None) -> str:
    """Train one run (subprocess, log in `<runs_dir>/<run_id>/stdout.log`); returns its status
    ("done", "partial", "stopped" or "failed (exit N)")."""
    folder = sweep.runs_dir / spec.run_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(folder, e) from None
    timeout = sweep.file.run_timeout_min * 60
    if deadline is not None:
        timeout = min(timeout, (deadline - datetime.now(timezone.utc)).total_seconds())
    cmd = command(sweep, spec)
    env = None
    if sweep.file.run_threads is not None:  # torch reads it at start; DALI's threads do not change results
        env = os.environ | {"OMP_NUM_THREADS": str(sweep.file.run_threads)}
    try:
        log = open(folder / "stdout.log", "a", encoding="utf-8")
        log.write(f"\n=== {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC: {' '.join(cmd)}\n")
        log.flush()
    except OSError as e:
        raise disk_error(folder / "stdout.log", e) from None
    with log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        RUNNING.add(proc)
        try:
            proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            _stop(proc)
            return "stopped"
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): never leave the run behind
            _stop(proc)
            raise
        finally:
            RUNNING.discard(proc)
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode})"
    if not sweep.file.keep_checkpoints:
        for checkpoints in folder.glob("*/*/checkpoints"):
            shutil.rmtree(checkpoints)
    return status(sweep, spec)


def stop_all() -> None:
    """Stop every run still going (runs waited on by other threads, after an interrupt)."""
    for proc in list(RUNNING):
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def collect(sweep: Sweep, specs: list[RunSpec], earlier: Path | None = None) -> list[dict]:
    """One row per finished run (the `COLUMNS` of results.csv, and the `OPTIONAL` ones the run
    records: the probe sets' metrics, the torch thread count and the CPU model; metrics as
    fractions, NaN where a run lacks one). A run without a finished folder takes its row from
    the results.csv at `earlier`, when that has one."""
    kept = {}
    if earlier is not None and earlier.is_file():
        with open(earlier, newline="", encoding="utf-8") as f:
            kept = {row["run_id"]: row for row in csv.DictReader(f)}
    rows = []
    for spec in specs:
        record = final_record(sweep, spec)
        if record is None:
            if spec.run_id in kept:
                old = kept[spec.run_id]
                rows.append({k: old.get(k) or ("nan" if k in METRICS else "") for k in COLUMNS}
                            | {k: old[k] for k in OPTIONAL if old.get(k)} | {"variant": spec.variant})
            continue
        (result,) = record["results"].values()
        machine = {k: record["provenance"][k] for k in ("threads", "cpu") if k in record.get("provenance", {})}
        rows.append({"run_id": spec.run_id, "roi": spec.roi, "p": spec.p, "variant": spec.variant, "seed": spec.seed,
                     **{k: float("nan") if result.get(k) is None else result[k] for k in METRICS},  # null: NaN
                     "minutes": result["minutes"], "run_dir": record["run_dir"]}
                    | {k: result[k] for k in PROBE_METRICS if k in result} | machine)
    return rows


def write_results(rows: list[dict], path: Path) -> None:
    """results.csv: the rows of `collect` (`COLUMNS`, then the `OPTIONAL` columns some row has;
    empty where a row lacks one), written whole or not at all (`DiskError`)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(path.parent, e) from None
    columns = COLUMNS + tuple(k for k in OPTIONAL if any(k in row for row in rows))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())
