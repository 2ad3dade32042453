"""trainer/run.py end to end on the tiny synthetic world: bad configs stop before any work; an
interrupted run resumed with --resume ends with the weights of an uninterrupted one."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from dali_pipes import read_manifest, write_manifest

from trainer import fit as fit_module
from trainer import run

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path, manifest, **sections):
    raw = {
        "name": "t",
        "data": {"manifest": str(manifest), "size": [64, 32]},
        "loader": {"device": "cpu", "batch_p": 4, "batch_k": 4, "num_threads": 1, "eval_batch_size": 32},
        "augment": {"p": 0.5, "min_area_ratio": 0.0, "min_iou": 0.0, "dilate": 7},
        "model": {"name": "resnet18"},
        "optim": {"lr": 1e-3, "warmup_epochs": 1, "milestones": [5]},
        "train": {"epochs": 2, "eval_every": 1},
        "output": {"dir": str(tmp_path / "runs")},
    }
    for key, value in sections.items():
        raw[key] |= value
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def error_of(capsys, argv):
    assert run.main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("override,expected", [
    ("loader.batch_pp=4", "loader.batch_pp: unknown key; did you mean 'batch_p'?"),
    ("train.epochs=two", "train.epochs: expected an integer, got 'two' (str)"),
    ("augment.p=1.5", "augment.p: must be <= 1, got 1.5"),
    ("loader.batch_p=99", "loader.batch_p: P=99 identities per batch x 1 rank(s) needs 99 training identities, "),
    ("model.pretrained=imagenet", "model.weights: pretrained: imagenet needs a local weights file"),
    ("model.weights=nope.pth", ""),
    ("loader.device=gpu", "loader.device: gpu requested but no CUDA device is available"),
])
def test_bad_configs_stop_before_any_work(tiny_world, tmp_path, capsys, override, expected):
    if override == "loader.device=gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cfg = write_config(tmp_path, tiny_world)
    argv = [str(cfg), "--set", override]
    if override == "model.weights=nope.pth":
        argv += ["--set", "model.pretrained=imagenet"]
        expected = "model.weights: 'nope.pth' not found"
    err = error_of(capsys, argv)
    assert expected in err and err.startswith("error: invalid ")
    assert not (tmp_path / "runs").exists()


def test_p_x_k_error_names_the_identity_count(tiny_world, tmp_path, capsys):
    err = error_of(capsys, [str(write_config(tmp_path, tiny_world)), "--set", "loader.batch_p=20"])
    ids = len({s.pid for s in read_manifest(tiny_world, ["train"])})
    assert "needs 20 training identities" in err and f"has {ids}; allowed: 1..{ids}" in err


def test_a_test_set_without_any_cross_camera_match_stops_before_training(tiny_world, tmp_path, capsys):
    rows = [replace(s, camid=0) if s.split in ("query", "gallery") else s for s in read_manifest(tiny_world)]
    write_manifest(tmp_path / "onecam.csv", rows)
    err = error_of(capsys, [str(write_config(tmp_path, tmp_path / "onecam.csv"))])
    assert "has a gallery image of its pid from another camera, so nothing can be evaluated" in err
    assert not (tmp_path / "runs").exists()


def test_augmentation_needs_training_masks(tiny_world, tmp_path, capsys):
    rows = [replace(s, mask="") if s.split == "train" else s for s in read_manifest(tiny_world)]
    write_manifest(tmp_path / "nomask.csv", rows)
    err = error_of(capsys, [str(write_config(tmp_path, tmp_path / "nomask.csv"))])
    count = sum(s.split == "train" for s in rows)
    assert f"data.unmasked: error, but {count} training row(s) have no mask" in err
    assert "allowed: keep (train them without the augmentation), drop (leave them out)" in err


def test_unmasked_keep_trains_rows_without_a_mask(tiny_world, tmp_path):
    samples = read_manifest(tiny_world)
    first_pid = min(s.pid for s in samples if s.split == "train")
    rows = [replace(s, mask="") if s.split == "train" and s.pid == first_pid else s for s in samples]
    write_manifest(tmp_path / "some.csv", rows)
    cfg = write_config(tmp_path, tmp_path / "some.csv", train={"epochs": 1, "eval_every": 0})
    assert run.main([str(cfg), "--set", "data.unmasked=keep"]) == 0
    text = next((tmp_path / "runs").glob("t-*/train.log")).read_text()
    count = sum(s.split == "train" and s.pid == first_pid for s in samples)
    assert f"{count} training row(s) have no person mask" in text and "never donors" in text


def test_missing_manifest_without_synthetic(tmp_path, capsys):
    err = error_of(capsys, [str(write_config(tmp_path, tmp_path / "none" / "manifest.csv"))])
    assert "data.manifest: " in err and "set data.synthetic" in err


def weights(run_dir, variant):
    return torch.load(run_dir / variant / "checkpoints" / "latest.pt", weights_only=False)["model"]


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_straight_run(tiny_world, tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path, tiny_world, train={"epochs": 2, "eval_every": 0, "compare_baseline": True})
    assert run.main([str(cfg), "--set", "name=straight"]) == 0
    straight = next((tmp_path / "runs").glob("straight-*"))

    # kill the second run in the middle of its last epoch (baseline variant, epoch 2)
    real = fit_module.train_one_epoch
    calls = []

    def killed(model, loader, *args, **kwargs):
        calls.append(kwargs["epoch"])
        if len(calls) == 4:
            def dying():
                yield next(iter(loader))
                raise KeyboardInterrupt
            class Partial:
                def __len__(self):
                    return len(loader)

                def __iter__(self):
                    return dying()
            return real(model, Partial(), *args, **kwargs)
        return real(model, loader, *args, **kwargs)

    monkeypatch.setattr(fit_module, "train_one_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        run.main([str(cfg), "--set", "name=killed"])
    monkeypatch.undo()
    killed_dir = next((tmp_path / "runs").glob("killed-*"))
    assert not (killed_dir / "final.json").exists()
    assert run.main([str(cfg), "--set", "name=killed", "--resume", str(killed_dir)]) == 0

    for variant in ("attention", "baseline"):
        a, b = weights(straight, variant), weights(killed_dir, variant)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=f"{variant}: {key}")
    final_a = json.loads((straight / "final.json").read_text())["results"]
    final_b = json.loads((killed_dir / "final.json").read_text())["results"]
    for variant in ("attention", "baseline"):
        assert final_a[variant]["mAP"] == pytest.approx(final_b[variant]["mAP"], abs=1e-6)
    rows = (killed_dir / "baseline" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    out = capsys.readouterr().out
    assert "| attention | 0.5 |" in out and "| baseline | 0 |" in out

    # --eval-only on the straight run's checkpoint reproduces its final metrics
    assert run.main([str(cfg), "--set", "name=evalonly", "--eval-only",
                     str(straight / "baseline" / "checkpoints" / "latest.pt")]) == 0
    only = json.loads(next((tmp_path / "runs").glob("evalonly-*")).joinpath("final.json").read_text())
    assert only["results"]["eval"]["mAP"] == pytest.approx(final_a["baseline"]["mAP"], abs=1e-6)


def test_resume_refuses_a_changed_config(tiny_world, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "old"
    run_dir.mkdir(parents=True)
    cfg = write_config(tmp_path, tiny_world)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"name": "t", "augment": {"p": 0.3}}))
    err = error_of(capsys, [str(cfg), "--resume", str(run_dir)])
    assert "augment.p: differs from the resumed run (0.3 there, 0.5 now)" in err


@pytest.mark.slow
def test_script_entry_point_and_run_folder(tiny_world, tmp_path):
    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 1, "eval_every": 0})
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    proc = subprocess.run([sys.executable, str(ROOT / "trainer" / "run.py"), str(cfg)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "runs").glob("t-*"))
    names = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if "tfevents" not in p.name}
    assert {"config.yaml", "train.log", "final.json", "baseline/metrics.csv", "baseline/tensorboard",
            "baseline/checkpoints/latest.pt", "baseline/checkpoints/epoch_001.pt"} <= names
    final = json.loads((run_dir / "final.json").read_text())
    assert set(final["provenance"]) >= {"seed", "manifest_sha256", "git_commit", "device", "versions"}
    assert 0 <= final["results"]["baseline"]["mAP"] <= 1 and "robust_mAP" in final["results"]["baseline"]
    assert "| baseline | 0 |" in proc.stdout
