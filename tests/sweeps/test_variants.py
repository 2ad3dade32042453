"""Sweeps with variants (settings compared at every augmented cell, degraded masks), suites of
sweeps with one report, runs side by side, and reports rebuilt from a committed results.csv."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from attention_swap_reid.dali_pipes import read_manifest
from attention_swap_reid.sweeps import cli, runner
from attention_swap_reid.sweeps import stats as rep
from attention_swap_reid.sweeps.figure import write_figure
from attention_swap_reid.sweeps.inputs import load_sweep, make_inputs
from attention_swap_reid.sweeps.plan import degraded_manifest, expand
from attention_swap_reid.sweeps.report import write_report
from attention_swap_reid.trainer.config import ConfigError, load_config
from tests.sweeps.test_sweep import ci_text

VARIANTS = [{"name": "exact", "label": "exact masks"},
            {"name": "erode-0.3", "group": "mask quality", "degrade": {"kind": "erode", "level": 0.3}},
            {"name": "no-iou", "group": "rules", "label": "no IoU rule", "set": {"augment.min_iou": 0}},
            {"name": "dilate-3", "group": "dilation", "set": {"augment.dilate": 3}}]


def _write_sweep(tmp_path: Path, name: str = "sweep", **changes) -> Path:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"name": "t", "train": {"epochs": 1}}))
    raw = {"base": str(base), "set": {"train.epochs": 2, "data.size": [64, 32]},
           "grid": {"roi": ["full"], "p": [0.5], "seeds": [0, 1]}, "variants": VARIANTS,
           "runs_dir": str(tmp_path / "runs" / name), "out": str(tmp_path / "out" / name)} | changes
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_variants_run_at_every_augmented_cell_and_the_baseline_once(tmp_path):
    specs = expand(load_sweep(_write_sweep(tmp_path, grid={"roi": ["full"], "p": [0.3, 0.5], "seeds": [0, 1]})))
    assert len(specs) == 2 * (1 + 2 * 4)
    assert [s.run_id for s in specs[:4]] == ["baseline-s0", "baseline-s1", "full-p0.3-exact-s0", "full-p0.3-exact-s1"]
    assert {s.variant for s in specs if s.p == 0} == {""}
    assert sorted(s.run_id for s in specs if s.variant == "no-iou") == [
        "full-p0.3-no-iou-s0", "full-p0.3-no-iou-s1", "full-p0.5-no-iou-s0", "full-p0.5-no-iou-s1"]


def test_a_variant_changes_only_its_own_keys(tmp_path):
    sweep = load_sweep(_write_sweep(tmp_path, set={"train.epochs": 2, "data.manifest": "w/manifest.csv",
                                                   "data.synthetic": {"train_ids": 32, "test_ids": 4}}))
    configs = {s.run_id: load_config(sweep.file.base, list(s.overrides)) for s in expand(sweep)}
    exact, no_iou, dilate = configs["full-p0.5-exact-s0"], configs["full-p0.5-no-iou-s1"], configs["full-p0.5-dilate-3-s0"]
    assert (exact.augment.min_iou, exact.augment.dilate) == (0.5, 31)   # the defaults of pipeline.yaml
    assert (no_iou.augment.min_iou, no_iou.augment.dilate, no_iou.train.seed) == (0.0, 31, 1)
    assert (dilate.augment.min_iou, dilate.augment.dilate) == (0.5, 3)
    eroded = configs["full-p0.5-erode-0.3-s0"]
    assert Path(eroded.data.manifest) == tmp_path / "runs" / "sweep" / "masks" / "erode-0.3" / "manifest.csv"
    assert eroded.data.synthetic is None                      # the world is not generated beside the copy
    assert eroded.data.robustness_manifest == "w/robustness.csv"  # still scored on the source's swapped set
    assert configs["baseline-s0"].data.manifest == "w/manifest.csv"


@pytest.mark.parametrize("variants, key", [
    ([{"name": "a"}, {"name": "a"}], "variants[1].name"),
    ([{"name": "bad name"}], "variants[0].name"),
    ([{"label": "no name"}], "variants[0].name"),
    ([{"name": "d", "degrade": {"level": 0.3}}], "variants[0].degrade.kind"),
    ([{"name": "d", "degrade": {"kind": "melt"}}], "variants[0].degrade.kind"),
    ([{"name": "d", "degrade": {"kind": "erode", "level": 2}}], "variants[0].degrade.level"),
    ([{"name": "s", "set": {"augment.min_iouu": 0}}], "augment.min_iouu"),
])
def test_bad_variants_name_the_key(tmp_path, variants, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("[", r"\[")):
        load_sweep(_write_sweep(tmp_path, variants=variants))


def test_the_degraded_manifest_is_made_once_with_only_training_masks_changed(tmp_path, tiny_world):
    sweep = load_sweep(_write_sweep(tmp_path, set={"data.manifest": str(tiny_world)}))
    variant = sweep.variant("erode-0.3")
    make_inputs(sweep, [variant, sweep.variant("no-iou")])
    target = degraded_manifest(sweep, variant)
    source, degraded = read_manifest(tiny_world), read_manifest(target)
    assert [(s.image, s.pid, s.split) for s in source] == [(s.image, s.pid, s.split) for s in degraded]
    for a, b in zip(source, degraded):
        if a.split == "train":
            mask_a, mask_b = cv2.imread(a.mask, 0) > 0, cv2.imread(b.mask, 0) > 0
            assert mask_b.sum() < mask_a.sum() and not (mask_b & ~mask_a).any()   # eroded: a strict subset
        else:
            assert a.mask == b.mask
    stamp = target.stat().st_mtime_ns
    make_inputs(sweep, [variant])
    assert target.stat().st_mtime_ns == stamp                  # not made again
    assert sorted(p.name for p in target.parents[1].iterdir()) == ["erode-0.3"]  # no scratch folder left


class FakeRun:
    """`subprocess.Popen([python, run.py, base, --set ...], env=...)`: writes final.json with an
    mAP that depends on p and the dilation, and records the command and OMP_NUM_THREADS."""

    calls: list[tuple[list[str], str | None]] = []

    def __init__(self, cmd, stdout=None, stderr=None, env=None):
        FakeRun.calls.append((cmd, (env or {}).get("OMP_NUM_THREADS")))
        sets = dict(cmd[i + 1].split("=", 1) for i, a in enumerate(cmd) if a == "--set")
        p, seed = float(sets["augment.p"]), int(sets["train.seed"])
        value = 0.3 + 0.4 * p - 0.01 * float(sets.get("augment.dilate", 7)) + 0.01 * seed
        folder = Path(sets["output.dir"]) / f"{sets['name']}-20260101-000000"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "final.json").write_text(json.dumps({"run_dir": str(folder), "results": {
            "x": {"augment_p": p, "minutes": 0.5, **{k: value for k in rep.METRICS}, "swap_rate": p * 0.9}}}))
        self.returncode = 0

    def wait(self, timeout=None):
        return 0


def _plain_variants() -> list[dict]:
    return [v for v in VARIANTS if "degrade" not in v]


def test_runs_side_by_side_with_pinned_threads_and_a_report_rebuilt_without_the_runs(tmp_path, monkeypatch):
    path = _write_sweep(tmp_path, variants=_plain_variants(), run_threads=1)
    monkeypatch.setattr(runner.subprocess, "Popen", FakeRun)
    FakeRun.calls = []
    assert cli.main([str(path), "--jobs", "2"]) == 0
    assert len(FakeRun.calls) == 2 * (1 + 3) and {threads for _, threads in FakeRun.calls} == {"1"}
    out = tmp_path / "out" / "sweep"
    results, report = (out / "results.csv").read_text(), (out / "report.md").read_text()
    assert (out / "settings.png").read_bytes()[:4] == b"\x89PNG"
    # a fresh clone has the committed results.csv but no runs: the report is rebuilt from it
    shutil.rmtree(tmp_path / "runs")
    FakeRun.calls = []
    assert cli.main([str(path), "--report-only"]) == 0 and FakeRun.calls == []
    assert (out / "results.csv").read_text() == results and (out / "report.md").read_text() == report
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["variant"] for r in rows} == {"", "exact", "no-iou", "dilate-3"}


def _variant_rows(values: dict[str, list[float]]) -> list[dict]:
    """Fake results of a variant sweep at (full, 0.5): every metric of a run equal to the value."""
    return [{"run_id": f"{v}-{seed}", "roi": "none" if v == "base" else "full", "p": 0.0 if v == "base" else 0.5,
             "variant": "" if v == "base" else v, "seed": seed, **{k: x for k in rep.METRICS}, "minutes": 1.0,
             "run_dir": "x"} for v, xs in values.items() for seed, x in enumerate(xs)]


def test_variant_report_tables_deltas_and_verdict(tmp_path):
    sweep = load_sweep(_write_sweep(tmp_path))
    cells = rep.summarize(_variant_rows({"dilate-3": [0.60, 0.62], "base": [0.30, 0.32], "exact": [0.60, 0.64],
                                         "erode-0.3": [0.33, 0.36], "no-iou": [0.50, 0.52]}),
                          tuple(v["name"] for v in VARIANTS))
    assert [c.variant for c in cells] == ["", "exact", "erode-0.3", "no-iou", "dilate-3"]
    path = tmp_path / "out" / "sweep" / "report.md"
    write_report(sweep, cells, 10, path, "settings.png")
    text = path.read_text()
    assert "Reference setting: exact masks. Δ:" in text
    for title in ("### mask quality", "### rules", "### dilation"):
        assert title in text
    assert "| baseline (no augmentation) | 0,1 | 30.0, 32.0 |" in text
    # paired by seed: erode - base = 0.03, 0.04 (interval includes 0); no-iou - base = 0.20, 0.20 and
    # no-iou - exact = -0.10, -0.12 (clear); dilate-3 - exact = 0.00, -0.02 (includes 0)
    erode, iou = ci_text([0.33, 0.36], [0.30, 0.32]), ci_text([0.50, 0.52], [0.60, 0.64])
    assert erode == "+3.5 [-2.9, +9.9]" and iou == "-11.0 [-23.7, +1.7]"
    assert f"| erode-0.3 | 0,1 | 33.0, 36.0 |" in text and f"| {erode} | {erode} | " in text
    assert "| no IoU rule | 0,1 | 50.0, 52.0 |" in text and f"| +20.0 [+20.0, +20.0] | +20.0 [+20.0, +20.0] | {iou} |" in text
    assert ("- mask quality: 0 of 1 settings keep a clear mAP gain over the baseline; no gain detected: "
            f"erode-0.3 ({erode}); clearly below the reference: erode-0.3 (") in text
    assert ("- rules: 1 of 1 settings keep a clear mAP gain over the baseline; no difference from the reference "
            f"detected: no IoU rule ({iou}).") in text
    assert "- dilation: 1 of 1 settings keep a clear mAP gain over the baseline; no difference from the " \
           "reference detected: dilate-3 (" in text
    figure = path.with_name("settings.png")
    write_figure(cells, figure, sweep.file.variants)
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_a_suite_runs_its_sweeps_and_writes_one_report(tmp_path, monkeypatch):
    one = _write_sweep(tmp_path, "one", variants=_plain_variants(), title="Settings")
    two = _write_sweep(tmp_path, "two", variants=[], grid={"roi": ["full"], "p": [0.3, 0.5], "seeds": [0]},
                       title="Probability")
    suite = tmp_path / "suite.yaml"
    report = tmp_path / "out" / "all" / "report.md"
    suite.write_text(yaml.safe_dump({"title": "All of it", "sweeps": [str(one), str(two)], "out": str(report),
                                     "notes": "Why we ran them."}))
    report.parent.mkdir(parents=True)
    (report.parent / "notes.md").write_text("What they mean.\n")
    monkeypatch.setattr(runner.subprocess, "Popen", FakeRun)
    FakeRun.calls = []
    assert cli.main([str(suite)]) == 0
    assert len(FakeRun.calls) == 2 * 4 + 3
    text = report.read_text()
    assert text.startswith("# All of it\n") and "Why we ran them." in text
    assert "Contents: [Settings](#settings), [Probability](#probability), [notes](#notes)." in text
    assert text.index("## Settings") < text.index("## Probability") < text.index("## Notes\n\nWhat they mean.")
    assert "![mAP and robustness per setting](../one/settings.png)" in text
    assert "![mAP and CMC per p](../two/fig3.png)" in text
    assert (tmp_path / "out" / "one" / "report.md").is_file() and (tmp_path / "out" / "two" / "report.md").is_file()
    suite.write_text(yaml.safe_dump({"sweeps": [str(one), str(tmp_path / "missing.yaml")]}))
    assert cli.main([str(suite)]) == cli.EXIT_INVALID
