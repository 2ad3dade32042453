"""sweeps: grid expansion, resumability, the report's statistics and the figure.
No training: trainer/run.py is replaced by a fake process that writes a final.json."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats as sp

from attention_swap_reid.sweeps import cli, runner
from attention_swap_reid.sweeps import stats as rep
from attention_swap_reid.sweeps.figure import write_figure
from attention_swap_reid.sweeps.inputs import load_sweep
from attention_swap_reid.sweeps.plan import expand
from attention_swap_reid.sweeps.report import verdict, write_report
from attention_swap_reid.sweeps.spec import Reference
from attention_swap_reid.sweeps.suite import load_suite
from attention_swap_reid.trainer.config import ConfigError, load_config

ROIS = ["full", "upper", "lower"]
PS = [0.1, 0.3, 0.5, 0.7, 1.0]
PAPER = {"name": "paper", "setting": "RAP", "roi": "full", "p": 0.3, "baseline_mAP": 33.5, "mAP": 46.3,
         "best_p": [0.3, 0.5]}


def _write_sweep(tmp_path: Path, **changes) -> Path:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"name": "t", "train": {"epochs": 1}}))
    raw = {"base": str(base), "set": {"train.epochs": 2, "data.size": [64, 32]},
           "grid": {"roi": ROIS, "p": PS, "seeds": [0, 1], "core_p": [0.3, 0.5]},
           "reference": PAPER, "runs_dir": str(tmp_path / "runs"), "out": str(tmp_path / "out")} | changes
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_grid_counts_baseline_once_per_seed_and_core_first(tmp_path):
    specs = expand(load_sweep(_write_sweep(tmp_path)))
    assert len(specs) == 2 * (1 + 3 * 5) == 32
    assert len({s.run_id for s in specs}) == 32
    baselines = [s for s in specs if s.p == 0]
    assert sorted(s.seed for s in baselines) == [0, 1]
    for seed in (0, 1):
        cells = sorted((s.roi, s.p) for s in specs if s.seed == seed and s.p > 0)
        assert cells == sorted((roi, p) for roi in ROIS for p in PS)
    # core = baseline + full at every p + upper/lower at 0.3 and 0.5, all seeds: 2 * (1 + 5 + 4)
    assert sum(s.core for s in specs) == 20
    assert [s.core for s in specs] == sorted((s.core for s in specs), reverse=True)
    assert [s.run_id for s in specs[:4]] == ["baseline-s0", "baseline-s1", "full-p0.3-s0", "full-p0.3-s1"]


def test_key_seeds_add_runs_to_the_key_cells_only(tmp_path):
    grid = {"roi": ROIS, "p": PS, "seeds": [0, 1], "core_p": [0.3, 0.5], "key_seeds": [2, 3]}
    specs = expand(load_sweep(_write_sweep(tmp_path, grid=grid)))
    extra = [s.run_id for s in specs if s.seed >= 2]
    assert sorted(extra) == sorted(f"{c}-s{seed}" for c in ("baseline", "full-p0.3", "full-p0.5") for seed in (2, 3))
    assert len(specs) == 32 + 6
    # each key cell's four seeds run before any other cell
    assert [s.run_id for s in specs[:12]] == [f"{c}-s{seed}" for c in ("baseline", "full-p0.3", "full-p0.5")
                                              for seed in range(4)]


def test_overrides_make_the_intended_trainer_config(tmp_path):
    sweep = load_sweep(_write_sweep(tmp_path))
    for spec in expand(sweep):
        cfg = load_config(sweep.file.base, list(spec.overrides))
        assert cfg.augment.p == spec.p and cfg.train.seed == spec.seed
        assert cfg.train.epochs == 2 and cfg.data.size == (64, 32)   # the sweep-wide `set`
        assert cfg.train.compare_baseline is False and cfg.name == spec.run_id
        assert Path(cfg.output.dir) == tmp_path / "runs" / spec.run_id
        if spec.p > 0:
            assert cfg.augment.roi == spec.roi


@pytest.mark.parametrize("changes, key", [
    ({"grid": {"roi": ["head"], "p": [0.3]}}, "grid.roi"),
    ({"grid": {"roi": ["full"], "p": [0.0]}}, "grid.p"),
    ({"grid": {"roi": ["full"], "p": [0.3], "seeds": [-1]}}, "grid.seeds"),
    ({"grid": {"p": [0.3], "sedes": [0]}}, "grid.sedes"),
    ({"outt": "x"}, "outt"),
    ({"grid": {"p": [0.3], "seeds": [0, 1], "key_seeds": [1, 2]}}, "grid.key_seeds"),
    ({"set": {"train.epochz": 3}}, "train.epochz"),
    ({"reference": {"name": "paper"}}, "reference.mAP"),
    ({"base": None}, "base"),
])
def test_bad_sweep_files_name_the_key(tmp_path, changes, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_sweep(_write_sweep(tmp_path, **changes))


class FakeRun:
    """Stands in for `subprocess.Popen([python, run.py, base, --set ...])`: writes final.json
    with metrics that depend on p, and records the command."""

    calls: list[list[str]] = []

    def __init__(self, cmd, stdout=None, stderr=None, env=None):
        FakeRun.calls.append(cmd)
        sets = dict(cmd[i + 1].split("=", 1) for i, a in enumerate(cmd) if a == "--set")
        p, seed = float(sets["augment.p"]), int(sets["train.seed"])
        metrics = {k: 0.3 + 0.2 * p * (1 - p) + 0.01 * seed for k in rep.METRICS}
        folder = Path(sets["output.dir"]) / f"{sets['name']}-20260101-000000"
        folder.mkdir(parents=True, exist_ok=True)
        variant = "attention" if p > 0 else "baseline"
        (folder / "final.json").write_text(json.dumps(
            {"run_dir": str(folder), "results": {variant: {"augment_p": p, "minutes": 0.5, **metrics}}}))
        self.returncode = 0

    def wait(self, timeout=None):
        return 0


def test_finished_runs_are_skipped_and_unfinished_ones_resumed(tmp_path, monkeypatch):
    path = _write_sweep(tmp_path, grid={"roi": ["full"], "p": [0.3, 0.5], "seeds": [0, 1]})
    sweep = load_sweep(path)
    specs = {s.run_id: s for s in expand(sweep)}
    FakeRun.calls = []
    monkeypatch.setattr(runner.subprocess, "Popen", FakeRun)
    FakeRun(runner.command(sweep, specs["full-p0.3-s1"]))            # already finished
    partial = tmp_path / "runs" / "baseline-s0" / "baseline-s0-20250101-000000"
    partial.mkdir(parents=True)
    (partial / "config.yaml").write_text("{}")                    # interrupted: no final.json
    FakeRun.calls = []
    assert cli.main([str(path)]) == 0
    assert len(FakeRun.calls) == 5                                # 6 runs, 1 already done
    names = [next(a for a in c if a.startswith("name=")) for c in FakeRun.calls]
    assert "name=full-p0.3-s1" not in names
    resumed = [c for c in FakeRun.calls if "--resume" in c]
    assert len(resumed) == 1 and resumed[0][resumed[0].index("--resume") + 1] == str(partial)
    FakeRun.calls = []
    assert cli.main([str(path)]) == 0 and FakeRun.calls == []       # everything done: nothing runs
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {r["run_id"] for r in rows} == set(specs)
    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "fig3.png").is_file()


def _rows(values: dict[tuple[str, float], list[float]]) -> list[dict]:
    """Fake results: every metric of a run equal to the given value."""
    return [{"run_id": f"{roi}-{p}-{seed}", "roi": roi, "p": p, "seed": seed,
             **{k: v for k in rep.METRICS}, "minutes": 1.0, "run_dir": "x"}
            for (roi, p), vs in values.items() for seed, v in enumerate(vs)]


def test_mean_and_spread_against_hand_computed_values():
    cells = rep.summarize(_rows({("none", 0.0): [0.30, 0.34], ("full", 0.3): [0.50, 0.56, 0.53],
                                ("upper", 0.5): [0.40]}))
    base, full, upper = cells
    assert (base.roi, full.roi, upper.roi) == ("none", "full", "upper")
    assert base.mean["mAP"] == pytest.approx(0.32)
    assert base.sd["mAP"] == pytest.approx(0.04 / math.sqrt(2))   # sample sd of two values
    assert full.mean["rank1"] == pytest.approx(0.53)
    assert full.sd["rank1"] == pytest.approx(0.03)                # sqrt((0.03² + 0 + 0.03²) / 2)
    assert (full.low["mAP"], full.high["mAP"]) == (0.50, 0.56)
    assert math.isnan(upper.sd["mAP"]) and upper.seeds == (0,)


def ci_text(a, b) -> str:
    """The report's "+d [+low, +high]" of cells a and b (values per seed), from scipy.stats."""
    interval = sp.ttest_rel(a, b).confidence_interval(0.95)
    pts = lambda x: f"{100 * x:+.1f}"  # noqa: E731
    return f"{pts(np.mean(np.subtract(a, b)))} [{pts(interval.low)}, {pts(interval.high)}]"


def test_clear_means_the_paired_interval_excludes_zero():
    """Paired by seed, a small gain that every seed shows is clear, where the spread between
    seeds hides it; a gain with seeds of both signs is not."""
    base, steady, mixed = rep.summarize(_rows({
        ("none", 0.0): [0.30, 0.40, 0.50], ("full", 0.3): [0.32, 0.43, 0.52], ("full", 0.5): [0.40, 0.35, 0.55]}))
    assert rep.paired(steady, base, "mAP").clear and not rep.paired(mixed, base, "mAP").clear
    assert rep.paired(steady, base, "mAP").delta == pytest.approx(0.07 / 3)


def test_best_p_verdict_names_the_p_values_tied_with_the_best():
    cells = rep.summarize(_rows({("none", 0.0): [0.30, 0.34, 0.32], ("full", 0.3): [0.50, 0.53, 0.49],
                                 ("full", 0.7): [0.52, 0.54, 0.51], ("full", 1.0): [0.40, 0.41, 0.40]}))
    line = verdict(cells, Reference(**PAPER | {"best_p": (0.3, 0.5)}))[-1]
    # 0.7 is best; 0.7 - 0.3 per seed: 0.02, 0.01, 0.02 (CI [+0.2, +3.1] points): 0.3 is clearly below
    assert "best full-body p for mAP is 0.7; p = 0.7 is not clearly below it" in line
    cells = rep.summarize(_rows({("none", 0.0): [0.30, 0.34, 0.32], ("full", 0.3): [0.50, 0.56, 0.49],
                                 ("full", 0.7): [0.52, 0.54, 0.51], ("full", 1.0): [0.40, 0.41, 0.40]}))
    line = verdict(cells, Reference(**PAPER | {"best_p": (0.3, 0.5)}))[-1]   # now 0.02, -0.02, 0.02
    assert "best full-body p for mAP is 0.7; p = 0.3, 0.7 are not clearly below it" in line and "overlapping" in line


def test_report_and_figure_are_written(tmp_path):
    sweep = load_sweep(_write_sweep(tmp_path))
    values = {("none", 0.0): [0.30, 0.34], ("full", 0.3): [0.50, 0.56], ("full", 0.7): [0.33, 0.36],
              ("upper", 0.3): [0.35, 0.31]}
    cells = rep.summarize(_rows(values))
    report = tmp_path / "out" / "report.md"
    write_report(sweep, cells, 32, report)
    text = report.read_text()
    assert "| baseline | 0 | 0,1 | 32.0 ± 2.8 |" in text
    full = ci_text(values[("full", 0.3)], values[("none", 0.0)])
    assert full == "+21.0 [+8.3, +33.7]"   # differences 0.20, 0.22: se 0.01, t_0.975,1 = 12.706
    assert f"| full | 0.3 | 0,1 | 53.0 ± 4.2 |" in text and f"| {full} |" in text
    assert "8 of 32 runs finished" in text
    p = sp.ttest_rel(values[("full", 0.3)], values[("none", 0.0)]).pvalue
    assert (f"test mAP, full body: 1 of 2 p values gain clearly over the same-seed baseline (0 with a "
            f"Holm-adjusted p < 0.05). Highest mean at p = 0.3, 53.0 ± 4.2 against the baseline's 32.0 ± 2.8: "
            f"+21.0 points (95 % CI [+8.3, +33.7], p {p:.3f}, Holm ") in text
    assert "clear; higher than the same-seed baseline in 2 of 2 seeds." in text
    upper = ci_text(values[("upper", 0.3)], values[("none", 0.0)])
    assert f"test mAP, upper body: 0 of 1 p values gain clearly" in text
    assert f"no difference detected ({upper.split(' ')[0]} points, CI [{upper.split('[')[1]})" in text
    assert "## Notes" not in text
    assert "The best p below is picked after the fact" in text     # two p: a best one is picked
    one_p = [c for c in cells if c.p in (0.0, 0.3)]
    write_report(sweep, one_p, 32, report)
    assert "picked after the fact" not in report.read_text()      # one p: nothing picked
    (report.parent / "notes.md").write_text("The world is too easy.\n")
    write_report(sweep, cells, 32, report)
    assert "## Notes\n\nThe world is too easy.\n" in report.read_text()
    figure = tmp_path / "out" / "fig3.png"
    write_figure(cells, figure)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    height, width, _ = matplotlib.image.imread(figure).shape
    assert width > 2 * height                                     # one panel per ROI, side by side


class HangingRun:
    """A run that never finishes on its own."""

    instances: list["HangingRun"] = []

    def __init__(self, cmd, stdout=None, stderr=None, env=None):
        self.terminated = False
        self.returncode = None
        HangingRun.instances.append(self)

    def wait(self, timeout=None):
        if not self.terminated:
            raise runner.subprocess.TimeoutExpired("run.py", timeout)
        self.returncode = -15
        return self.returncode

    def terminate(self):
        self.terminated = True


def test_a_run_past_the_deadline_is_stopped_and_left_for_resume(tmp_path, monkeypatch):
    sweep = load_sweep(_write_sweep(tmp_path, grid={"roi": ["full"], "p": [0.3], "seeds": [0]}))
    monkeypatch.setattr(runner.subprocess, "Popen", HangingRun)
    spec = expand(sweep)[0]
    assert runner.run_one(sweep, spec, deadline=runner.datetime.now(runner.timezone.utc)) == "stopped"
    assert HangingRun.instances[-1].terminated
    assert runner.status(sweep, spec) == "todo"                       # no final.json: runs again next time


def test_problems_name_the_file_and_key_and_suggest_the_near_key(tmp_path):
    path = _write_sweep(tmp_path, grid={"p": [0.3, 1.5], "sedes": [0]})
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    text = str(caught.value)
    assert text.startswith(f"invalid {path}:")
    assert "grid.sedes: unknown key; did you mean 'seeds'?" in text
    assert "grid.p: must be <= 1, got 1.5" in text


def test_the_best_p_line_compares_with_the_sweep_files_reference_only():
    cells = rep.summarize(_rows({("none", 0.0): [0.30, 0.34], ("upper", 0.3): [0.50, 0.53]}))
    assert not any("best upper-body p" in line for line in verdict(cells, None))
    other = Reference(name="study", setting="Market", roi="upper", p=0.5, baseline_mAP=70.0, mAP=75.5,
                      best_p=(0.5, 0.7))
    assert verdict(cells, other)[-1] == (
        "- The best upper-body p for mAP is 0.3; p = 0.3 is not clearly below it (the paired interval of the "
        "difference includes 0), outside the study's best range [0.5, 0.7] (study, Market: baseline 70 -> 75.5 "
        "mAP at p = 0.5, +5.5 points).")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_sweep_files_load(path, monkeypatch):
    """Every sweep file under configs/ (those with a `grid`) validates, with every run's config;
    so does every suite (with `sweeps`), with its sweeps."""
    raw = yaml.safe_load(path.read_text())
    if "grid" not in raw and "sweeps" not in raw:
        pytest.skip("a run config, not a sweep file")
    monkeypatch.chdir(path.parents[1])  # sweep files name their base config relative to the repository
    sweeps = load_suite(path).sweeps if "sweeps" in raw else [load_sweep(path)]
    assert all(expand(sweep) for sweep in sweeps)
