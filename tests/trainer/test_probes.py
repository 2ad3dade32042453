"""The trainer scores the synthetic world's probe sets beside the test set, and records the
thread count and the CPU it ran on (trainer.fit, trainer.preflight, trainer.provenance)."""
import csv
import json

import pytest
import torch

from attention_swap_reid.prepare.synthetic import make_world
from attention_swap_reid.trainer import cli
from attention_swap_reid.trainer.provenance import cpu_model
from tests.conftest import TINY
from tests.trainer.test_run import write_config


@pytest.mark.slow
def test_probe_sets_are_scored_and_the_machine_recorded(tmp_path):
    manifest = make_world(tmp_path / "w", progress=False, **TINY, probes=True)
    cfg = write_config(tmp_path, manifest, augment={"p": 0.0}, train={"epochs": 1, "eval_every": 0})
    assert cli.main([str(cfg)]) == 0
    run_dir = next((tmp_path / "runs").glob("t-*"))
    final = json.loads((run_dir / "final.json").read_text())
    result = final["results"]["baseline"]
    for name in ("neutral", "query_new_bg", "query_no_person"):
        assert 0 < result[f"{name}_mAP"] <= 1 and 0 <= result[f"{name}_rank1"] <= 1
    assert final["provenance"]["threads"] == torch.get_num_threads()
    assert final["provenance"]["cpu"] == cpu_model() and cpu_model()
    with open(run_dir / "baseline" / "metrics.csv", newline="") as f:
        row = list(csv.DictReader(f))[-1]
    assert float(row["eval.neutral_mAP"]) == pytest.approx(result["neutral_mAP"])


def test_cpu_model_names_family_and_model_from_proc_cpuinfo(monkeypatch, tmp_path):
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 49\nmodel name\t: AMD EPYC\n\n" \
           "processor\t: 1\nmodel name\t: other\n"
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(tmp_path / "info", *a, **k)
                        if path == "/proc/cpuinfo" else real_open(path, *a, **k))
    (tmp_path / "info").write_text(text)
    assert cpu_model() == "AMD EPYC (family 23, model 49)"
