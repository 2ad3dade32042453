"""sweeps.runner and the CLI's faults: one sweep per runs_dir, failed runs reported as failed,
reports written whole on a full disk, null metrics in a final.json. trainer/run.py is replaced
by fake processes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from attention_swap_reid.sweeps import cli, runner
from attention_swap_reid.sweeps.inputs import load_sweep
from attention_swap_reid.sweeps.plan import expand
from attention_swap_reid.sweeps.stats import METRICS
from tests.sweeps.test_sweep import FakeRun, _write_sweep

ROOT = Path(__file__).resolve().parents[2]


def small_sweep(tmp_path):
    return _write_sweep(tmp_path, grid={"roi": ["full"], "p": [0.5], "seeds": [0]})


def test_a_second_sweep_into_the_same_runs_dir_is_refused(tmp_path, capsys, monkeypatch):
    path = small_sweep(tmp_path)
    runs = tmp_path / "runs"
    runs.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from attention_swap_reid.trainer.run_folder "
                               "import RunLock; RunLock(sys.argv[1], 'sweep.lock').acquire(); print('held', "
                               "flush=True); time.sleep(60)", str(runs)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    FakeRun.calls = []
    monkeypatch.setattr(runner.subprocess, "Popen", FakeRun)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main([str(path)]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err == f"error: {runs} is in use by process {holder.pid} (it holds {runs / 'sweep.lock'}); " \
                  f"wait for it to end or stop it first\n"
    assert FakeRun.calls == [] and not (tmp_path / "out").exists()  # nothing trained twice, nothing written


class FailingRun(FakeRun):
    """A run whose trainer exits 2 before writing anything (e.g. refused on a lock)."""

    def __init__(self, cmd, stdout=None, stderr=None, env=None):
        sets = dict(cmd[i + 1].split("=", 1) for i, a in enumerate(cmd) if a == "--set")
        if float(sets["augment.p"]) == 0:
            self.returncode = 2
            return
        super().__init__(cmd, stdout, stderr, env)


def test_a_failed_run_is_reported_as_failed(tmp_path, capsys, monkeypatch):
    path = small_sweep(tmp_path)
    monkeypatch.setattr(runner.subprocess, "Popen", FailingRun)
    assert cli.main([str(path)]) == 1
    captured = capsys.readouterr()
    assert "baseline-s0: failed (exit 2)" in captured.out and "1/2 runs finished" in captured.out
    assert captured.err == (f"1 run(s) failed:\n  baseline-s0: failed (exit 2), see "
                            f"{tmp_path / 'runs' / 'baseline-s0' / 'stdout.log'}\n")


def test_reports_on_a_full_disk_are_one_line_and_keep_the_earlier_ones(tmp_path, capsys, monkeypatch, full_disk):
    path = small_sweep(tmp_path)
    monkeypatch.setattr(runner.subprocess, "Popen", FakeRun)
    assert cli.main([str(path)]) == 0
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    full_disk(out, free=100)
    assert cli.main([str(path), "--report-only"]) == 2
    assert capsys.readouterr().err == f"error: {out / 'results.csv'}: cannot write: No space left on device\n"
    full_disk(out, free=len(before["results.csv"]) + 100)  # results.csv fits, report.md does not
    assert cli.main([str(path), "--report-only"]) == 2
    assert capsys.readouterr().err == f"error: {out / 'report.md'}: cannot write: No space left on device\n"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # whole, no temporary file


def test_null_metrics_of_a_final_json_read_as_nan(tmp_path, monkeypatch):
    sweep = load_sweep(small_sweep(tmp_path))
    spec = expand(sweep)[0]
    folder = sweep.runs_dir / spec.run_id / f"{spec.run_id}-20260101-000000"
    folder.mkdir(parents=True)
    metrics = {k: None if k == "mINP" else 0.5 for k in METRICS}  # strict JSON: a NaN is written as null
    (folder / "final.json").write_text(json.dumps({"run_dir": str(folder), "results": {
        "baseline": {"augment_p": 0.0, "minutes": 1.0, **metrics}}}))
    [row] = runner.collect(sweep, [spec])
    assert row["mINP"] != row["mINP"] and row["mAP"] == 0.5  # NaN, as a metric the run lacks
