"""Sweep features of the mechanism experiments: a variant's own p, contrasts between cells,
the optional columns of results.csv (probe metrics, thread count, CPU), the sweep's world made
before its runs, several sweep files in one command. No training (a fake trainer)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from attention_swap_reid.sweeps import cli, inputs, runner
from attention_swap_reid.sweeps import stats as rep
from attention_swap_reid.sweeps.inputs import load_sweep
from attention_swap_reid.sweeps.plan import expand
from attention_swap_reid.trainer.config import ConfigError, load_config
from tests.sweeps.test_variants import _write_sweep

VARIANTS = [{"name": "swap", "label": "the swap"},
            {"name": "ctrl", "group": "controls", "p": 0, "set": {"data.manifest": "w/other.csv"}},
            {"name": "more", "group": "controls", "p": 0.74}]


def write_sweep(tmp_path: Path, name: str = "s", **changes) -> Path:
    return _write_sweep(tmp_path, name, **{"variants": VARIANTS} | changes)


def test_a_variant_with_its_own_p_trains_at_that_p(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    configs = {s.run_id: load_config(sweep.file.base, list(s.overrides)) for s in expand(sweep)}
    assert configs["full-p0.5-swap-s0"].augment.p == 0.5
    ctrl = configs["full-p0.5-ctrl-s1"]
    assert ctrl.augment.p == 0.0 and ctrl.data.manifest == "w/other.csv" and ctrl.train.seed == 1
    assert configs["full-p0.5-more-s0"].augment.p == 0.74
    assert {s.p for s in expand(sweep) if s.variant} == {0.5}   # grouped under the cell they stand in


@pytest.mark.parametrize("contrast, message", [
    ({"a": "nope", "b": "baseline"}, r"contrasts\[0\]\.a: expected 'baseline' or a variant's name \(swap, ctrl, more\)"),
    ({"a": "swap@0.3", "b": "baseline"}, r"contrasts\[0\]\.a: 'swap@0.3': expected p in \[0.5\]"),
    ({"a": "swap", "b": "ctrl", "metrics": ["mAPP"]}, r"contrasts\[0\]\.metrics: unknown \['mAPP'\]"),
    ({"b": "swap"}, r"contrasts\[0\]\.a: expected 'baseline'"),
])
def test_bad_contrasts_name_the_key(tmp_path, contrast, message):
    with pytest.raises(ConfigError, match=message):
        load_sweep(write_sweep(tmp_path, contrasts=[contrast]))


def test_contrast_ends_need_p_when_the_grid_has_several(tmp_path):
    grid = {"roi": ["full"], "p": [0.5, 1.0], "seeds": [0]}
    with pytest.raises(ConfigError, match=r"the grid has several p, say which: swap@p"):
        load_sweep(write_sweep(tmp_path, grid=grid, contrasts=[{"a": "swap", "b": "baseline"}]))
    load_sweep(write_sweep(tmp_path, grid=grid, contrasts=[{"a": "swap@1.0", "b": "swap@0.5", "metrics": ["neutral_mAP"]}]))


class Recorder:
    """Stands in for `subprocess.Popen` of a run: writes a final.json with probe metrics and the
    provenance of a newer run (thread count, CPU)."""

    calls: list[list[str]] = []

    def __init__(self, cmd, stdout=None, stderr=None, env=None):
        Recorder.calls.append(cmd)
        sets = dict(cmd[i + 1].split("=", 1) for i, a in enumerate(cmd) if a == "--set")
        folder = Path(sets["output.dir"]) / f"{sets['name']}-20260101-000000"
        folder.mkdir(parents=True, exist_ok=True)
        metrics = {k: 0.5 for k in rep.METRICS} | {f"neutral_{k}": 0.25 for k in ("rank1", "mAP", "mINP")}
        (folder / "final.json").write_text(json.dumps(
            {"run_dir": str(folder), "results": {"x": {"minutes": 0.5, **metrics}},
             "provenance": {"cpu": "Some CPU (family 1, model 2)"}
             | ({"threads": int(env["OMP_NUM_THREADS"])} if env and "OMP_NUM_THREADS" in env else {})}))
        self.returncode = 0

    def wait(self, timeout=None):
        return 0


def test_results_csv_keeps_the_optional_columns_of_newer_runs_only(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.subprocess, "Popen", Recorder)
    path = write_sweep(tmp_path, run_threads=1)
    assert cli.main([str(path)]) == 0
    with open(tmp_path / "out" / "s" / "results.csv", newline="") as f:
        header = next(csv.reader(f))
        f.seek(0)
        rows = list(csv.DictReader(f))
    assert header[:len(runner.COLUMNS)] == list(runner.COLUMNS)
    assert header[len(runner.COLUMNS):] == ["neutral_rank1", "neutral_mAP", "threads", "cpu"]
    assert {r["threads"] for r in rows} == {"1"} and {r["neutral_mAP"] for r in rows} == {"0.25"}
    # a fresh clone: no run folders; the committed rows, optional columns included, are kept
    for folder in (tmp_path / "runs" / "s").glob("*/*-2026*"):
        (folder / "final.json").unlink()
    before = (tmp_path / "out" / "s" / "results.csv").read_bytes()
    assert cli.main([str(path), "--report-only"]) == 0
    assert (tmp_path / "out" / "s" / "results.csv").read_bytes() == before


def test_results_csv_of_older_runs_has_no_optional_column(tmp_path):
    rows = [{"run_id": "baseline-s0", "roi": "none", "p": 0.0, "variant": "", "seed": 0,
             **{k: 0.5 for k in rep.METRICS}, "minutes": 1.0, "run_dir": "x"}]
    runner.write_results(rows, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == ",".join(runner.COLUMNS)


def test_the_sweep_world_is_made_once_before_the_runs(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(inputs, "ensure_world", lambda out, **params: made.append((out, params)))
    monkeypatch.setattr(runner.subprocess, "Popen", Recorder)
    world = {"train_ids": 4, "test_ids": 2, "images_per_id": 4, "height": 32, "width": 16, "probes": True}
    path = write_sweep(tmp_path, set={"train.epochs": 1, "loader.batch_p": 2, "data.manifest": str(tmp_path / "w" / "manifest.csv"),
                                      "data.synthetic": world}, variants=VARIANTS[:1])
    assert cli.main([str(path), "--jobs", "2"]) == 0
    assert len(made) == 1 and made[0][0] == str(tmp_path / "w") and made[0][1]["probes"] is True
    assert cli.main([str(path)]) == 0 and len(made) == 1   # nothing left to run: nothing made


def test_several_sweep_files_run_one_after_the_other(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner.subprocess, "Popen", Recorder)
    first, second = write_sweep(tmp_path, "a"), write_sweep(tmp_path, "b", variants=VARIANTS[:1])
    Recorder.calls = []
    assert cli.main([str(first), str(second), "--dry-run"]) == 0 and Recorder.calls == []
    assert cli.main([str(first), str(second)]) == 0
    assert len(Recorder.calls) == 8 + 4
    assert (tmp_path / "out" / "a" / "report.md").is_file() and (tmp_path / "out" / "b" / "report.md").is_file()
    (tmp_path / "bad.yaml").write_text("grid: {}\n")
    Recorder.calls = []
    assert cli.main([str(first), str(tmp_path / "bad.yaml")]) == cli.EXIT_INVALID and Recorder.calls == []


class ByP(Recorder):
    """A run whose mAP is 0.3 + 0.2 p + 0.01 seed + 0.003 seed², neutral mAP 0.5 + 0.1 p + 0.01 seed."""

    def __init__(self, cmd, stdout=None, stderr=None, env=None):
        super().__init__(cmd, stdout, stderr, env)
        sets = dict(cmd[i + 1].split("=", 1) for i, a in enumerate(cmd) if a == "--set")
        p, seed = float(sets["augment.p"]), int(sets["train.seed"])
        final = next(Path(sets["output.dir"]).glob("*/final.json"))
        record = json.loads(final.read_text())
        record["results"]["x"] |= {"mAP": 0.3 + 0.2 * p + 0.01 * seed + 0.003 * seed ** 2,
                                   "neutral_mAP": 0.5 + 0.1 * p + 0.01 * seed}
        final.write_text(json.dumps(record))


def test_trend_contrasts_and_machine_in_the_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.subprocess, "Popen", ByP)
    grid = {"roi": ["full"], "p": [0.5], "seeds": [0, 1, 2]}
    low = write_sweep(tmp_path, "low", grid=grid, run_threads=1, title="Low",
                      contrasts=[{"a": "more", "b": "swap", "metrics": ["mAP", "neutral_mAP"], "label": "more vs swap"}])
    high = write_sweep(tmp_path, "high", grid={**grid, "p": [1.0]}, variants=[], title="High")
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"title": "Both", "sweeps": [str(low), str(high)], "out": str(tmp_path / "out" / "both" / "report.md"),
                                     "trend": {"label": "bias", "x": [0.0, 1.0]}}))
    assert cli.main([str(suite)]) == 0
    text = (tmp_path / "out" / "both" / "report.md").read_text()
    assert "Contents: [against bias](#against-bias), [Low](#low), [High](#high)." in text
    # gain over the same seed's baseline: 0.2 p exactly (zero spread): +10.0 at bias 0 (p 0.5), +20.0 at 1 (p 1)
    assert "| 0 | 31.5 ± 1.6 | 41.5 ± 1.6 | +10.0 [+10.0, +10.0] | <0.001 (<0.001) | clear | - | - |" in text
    assert "| 1 | 31.5 ± 1.6 | 51.5 ± 1.6 | +20.0 [+20.0, +20.0] | <0.001 (<0.001) | clear | +0.0 [+0.0, +0.0] | " \
           "+10.0 [+10.0, +10.0] |" in text
    assert "### neutral layout" in text and (tmp_path / "out" / "both" / "trend.png").read_bytes()[:4] == b"\x89PNG"
    low_text = (tmp_path / "out" / "low" / "report.md").read_text()
    # more (p 0.74) vs swap (p 0.5): +0.048 mAP and +0.024 neutral mAP for every seed
    assert "| more vs swap | test mAP | 46.3 ± 1.6 | 41.5 ± 1.6 | +4.8 [+4.8, +4.8] |" in low_text
    assert "| more vs swap | neutral-layout mAP | 58.4 ± 1.0 | 56.0 ± 1.0 | +2.4 [+2.4, +2.4] |" in low_text
    assert "![contrasts](contrasts.png)" in low_text and (tmp_path / "out" / "low" / "contrasts.png").is_file()
    assert "**Machine** (recorded by each run). CPU: Some CPU (family 1, model 2), torch threads per run: 1." in low_text
    assert "torch threads per run: not recorded." in (tmp_path / "out" / "high" / "report.md").read_text()


def test_the_machine_of_older_results_comes_from_the_sweep_file(tmp_path):
    from attention_swap_reid.sweeps.report import machine_line
    sweep = load_sweep(write_sweep(tmp_path, machine="AMD EPYC, 2 threads (torch's default)"))
    assert machine_line([{"run_id": "x"}], sweep) == "**Machine.** AMD EPYC, 2 threads (torch's default)"
    assert machine_line([], load_sweep(write_sweep(tmp_path))) == "**Machine.** not recorded by these runs"
