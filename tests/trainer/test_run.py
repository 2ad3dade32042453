"""trainer/run.py end to end on the tiny synthetic world: bad configs stop before any work; an
interrupted run resumed with --resume ends with the weights of an uninterrupted one; faults of
the input (checkpoints, run folders, data) are one line with exit code 2 and leave nothing."""
import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from attention_swap_reid.dali_pipes import read_manifest, write_manifest

from tests.trainer.test_checkpoint import plant_code_running_checkpoint, truncate
from attention_swap_reid.trainer import fit as fit_module
from attention_swap_reid.trainer import cli
from attention_swap_reid.trainer.config import dump_config, load_config
from tests.conftest import patch_mkdir

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
    """stderr of a refused command from its "error: " on (a resumed run may show progress bars first)."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    return err[err.find("error: "):]


@pytest.mark.parametrize("override,expected", [
    ("loader.batch_pp=4", "loader.batch_pp: unknown key; did you mean 'batch_p'?"),
    ("train.epochs=two", "train.epochs: expected an integer, got 'two' (str)"),
    ("augment.p=1.5", "augment.p: must be <= 1, got 1.5"),
    ("loader.batch_p=99", "loader.batch_p: P=99 identities per batch x 1 shard(s) needs 99 training identities, "),
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
    assert f"data.unmasked: error: {count} training row(s) have no person mask" in err
    assert "allowed: keep (train them without the augmentation, never as donors), drop (leave them out)" in err


def test_unmasked_keep_trains_rows_without_a_mask(tiny_world, tmp_path):
    samples = read_manifest(tiny_world)
    first_pid = min(s.pid for s in samples if s.split == "train")
    rows = [replace(s, mask="") if s.split == "train" and s.pid == first_pid else s for s in samples]
    write_manifest(tmp_path / "some.csv", rows)
    cfg = write_config(tmp_path, tmp_path / "some.csv", train={"epochs": 1, "eval_every": 0})
    assert cli.main([str(cfg), "--set", "data.unmasked=keep"]) == 0
    text = next((tmp_path / "runs").glob("t-*/train.log")).read_text()
    count = sum(s.split == "train" and s.pid == first_pid for s in samples)
    assert f"{count} training row(s) have no person mask" in text and "never donors" in text


def test_a_users_world_is_never_regenerated_nor_one_made_where_the_config_does_not_put_it(tmp_path, capsys):
    from attention_swap_reid.prepare.synthetic import make_world
    from tests.conftest import TINY
    mine = make_world(tmp_path / "mine", progress=False, **TINY)  # the user's world, other parameters
    before = mine.read_bytes()
    cfg = write_config(tmp_path, tmp_path / "data" / "synth" / "manifest.csv",
                       data={"synthetic": {**TINY, "train_ids": 9}})
    err = error_of(capsys, [str(cfg), "--set", f"data.manifest={mine}"])
    assert err.startswith(f"error: data.manifest: {mine.parent}: holds a synthetic world made with other "
                          f"parameters, not replaced: train_ids=8 (wanted: 9); to train on the world there as it "
                          f"is: --set data.synthetic=null")
    assert mine.read_bytes() == before and len(read_manifest(mine)) == (8 + 4) * 6
    elsewhere = tmp_path / "elsewhere" / "manifest.csv"
    err = error_of(capsys, [str(cfg), "--set", f"data.manifest={elsewhere}"])
    assert "no synthetic world there, and none is made in this folder" in err and not elsewhere.parent.exists()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_a_users_own_dataset_given_by_set_trains_as_it_is(tiny_world, tmp_path, capsys):
    from tests.conftest import TINY
    mine = tmp_path / "mine"  # a dataset of the user's: no world.json, its manifest under another name
    shutil.copytree(tiny_world.parent, mine)
    (mine / "world.json").unlink()
    os.replace(mine / "manifest.csv", mine / "market.csv")
    files = {p: p.read_bytes() for p in mine.rglob("*") if p.is_file()}
    cfg = write_config(tmp_path, tmp_path / "data" / "synth" / "manifest.csv", data={"synthetic": TINY},
                       train={"epochs": 1, "eval_every": 0})
    assert cli.main([str(cfg), "--set", f"data.manifest={mine / 'market.csv'}"]) == 0
    note = (f"data.manifest: {mine / 'market.csv'} is not in a synthetic world (no world.json beside it): "
            f"trained on as it is, without {cfg}'s data.synthetic")
    run_dir = next((tmp_path / "runs").glob("t-*"))
    assert note in capsys.readouterr().out and note in (run_dir / "train.log").read_text()
    assert load_config(run_dir / "config.yaml").data.synthetic is None
    assert {p: p.read_bytes() for p in mine.rglob("*") if p.is_file()} == files
    assert not (tmp_path / "data").exists()
    # the same command with the world asked for on the command line too is the world's business: refused
    err = error_of(capsys, [str(cfg), "--set", f"data.manifest={mine / 'manifest.csv'}", "--set",
                            "data.synthetic.seed=0"])
    assert f"holds other files and no synthetic world (no world.json), not made over" in err


def test_missing_manifest_without_synthetic(tmp_path, capsys):
    err = error_of(capsys, [str(write_config(tmp_path, tmp_path / "none" / "manifest.csv"))])
    assert "data.manifest: " in err and "set data.synthetic" in err


def weights(run_dir, variant):
    return torch.load(run_dir / variant / "checkpoints" / "latest.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_straight_run(tiny_world, tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path, tiny_world, train={"epochs": 2, "eval_every": 0, "compare_baseline": True})
    assert cli.main([str(cfg), "--set", "name=straight"]) == 0
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
    assert cli.main([str(cfg), "--set", "name=killed"]) == 130
    monkeypatch.undo()
    killed_dir = next((tmp_path / "runs").glob("killed-*"))
    hint = f"interrupted; continue with: python trainer/run.py --resume {killed_dir}"
    assert f"\n{hint}\n" in capsys.readouterr().err  # a progress bar may close after it
    assert not (killed_dir / "final.json").exists()
    assert cli.main(["--resume", str(killed_dir)]) == 0  # the run's own config

    for variant in ("attention", "baseline"):
        a, b = weights(straight, variant), weights(killed_dir, variant)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=f"{variant}: {key}")
    final_a = json.loads((straight / "final.json").read_text())["results"]
    final_b = json.loads((killed_dir / "final.json").read_text())["results"]
    for variant in ("attention", "baseline"):
        assert final_a[variant]["mAP"] == pytest.approx(final_b[variant]["mAP"], abs=1e-6)
        assert 0 < final_a[variant]["gradcam"] < 1  # the synthetic world's queries have masks
    # the achieved swap rate: the mean of the epochs' rates in metrics.csv, the resumed run's too
    assert final_a["baseline"]["swap_rate"] == 0
    for final, run in ((final_a, straight), (final_b, killed_dir)):
        with open(run / "attention" / "metrics.csv", newline="") as f:
            rates = [float(r["train.swap_rate"]) for r in csv.DictReader(f)]
        assert len(rates) == 2 and final["attention"]["swap_rate"] == pytest.approx(sum(rates) / 2)
        assert 0 < final["attention"]["swap_rate"] < 1
    rows = (killed_dir / "baseline" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    out = capsys.readouterr().out
    assert "| attention | 0.5 |" in out and "| baseline | 0 |" in out

    # --eval-only on the straight run's checkpoint reproduces its final metrics, written beside the run
    assert cli.main(["--eval-only", str(straight / "baseline" / "checkpoints" / "latest.pt")]) == 0
    only = json.loads((straight / "eval-baseline-latest.json").read_text())
    assert only["results"]["eval"]["mAP"] == pytest.approx(final_a["baseline"]["mAP"], abs=1e-6)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted([straight.name, killed_dir.name])


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
    assert 0 < final["results"]["baseline"]["attention"] < 1  # the synthetic world's queries have masks
    assert "| baseline | 0 |" in proc.stdout


def tiny_run(tmp_path, manifest, *sets, epochs=2):
    """Train the baseline of the tiny world for `epochs` epochs; returns the run folder."""
    cfg = write_config(tmp_path, manifest, augment={"p": 0.0}, train={"epochs": epochs, "eval_every": 0})
    assert cli.main([str(cfg), *[a for s in sets for a in ("--set", s)]]) == 0
    return next((tmp_path / "runs").glob("t-*"))


def run_folders(tmp_path):
    return sorted((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else []


def test_code_running_checkpoint_is_refused_by_eval_only_and_resume(tiny_world, tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = plant_code_running_checkpoint(tmp_path / "evil.pt", marker)
    cfg = write_config(tmp_path, tiny_world)
    err = error_of(capsys, [str(cfg), "--eval-only", str(evil)])
    assert err.startswith(f"error: {evil}: refused: it needs more than tensors and plain containers to load")
    assert not marker.exists() and not run_folders(tmp_path)

    run_dir = tmp_path / "runs" / "old"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(dump_config(load_config(cfg)))
    plant_code_running_checkpoint(run_dir / "attention" / "checkpoints" / "latest.pt", marker)
    err = error_of(capsys, ["--resume", str(run_dir)])
    assert f"{run_dir / 'attention' / 'checkpoints'}: no usable checkpoint (latest.pt damaged or refused" in err
    assert "latest.pt: refused: it needs more than tensors" in (run_dir / "train.log").read_text()
    assert not marker.exists()


def test_dangling_symlink_as_output_dir_is_one_line(tiny_world, tmp_path, capsys):
    (tmp_path / "runs").symlink_to(tmp_path / "gone")
    err = error_of(capsys, [str(write_config(tmp_path, tiny_world))])
    assert err == f"error: output.dir: {tmp_path / 'runs'} is a broken symbolic link (to {tmp_path / 'gone'}); " \
                  f"remove it or point output.dir elsewhere\n"


def test_read_only_output_dir_is_one_line(tiny_world, tmp_path, capsys, monkeypatch):
    (tmp_path / "runs").mkdir()
    real_mkdir = os.mkdir

    def read_only(path, mode=0o777):
        if Path(path).parent == tmp_path / "runs":
            raise PermissionError(13, "Permission denied")
        real_mkdir(path, mode)

    patch_mkdir(monkeypatch, read_only)
    err = error_of(capsys, [str(write_config(tmp_path, tiny_world))])
    assert err == f"error: output.dir: cannot create a run folder in {tmp_path / 'runs'}: Permission denied\n"


def test_resume_of_a_run_in_use_is_refused(tiny_world, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "live"
    run_dir.mkdir(parents=True)
    cfg = write_config(tmp_path, tiny_world)
    (run_dir / "config.yaml").write_text(dump_config(load_config(cfg)))
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from attention_swap_reid.trainer.run_folder import RunLock; "
                               "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
                               str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        err = error_of(capsys, ["--resume", str(run_dir)])
    finally:
        holder.kill()
        holder.wait()
    assert err.startswith(f"error: {run_dir} is in use by process {holder.pid} ")
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "run.lock"]  # nothing written


def test_startup_error_after_the_folder_exists_leaves_no_orphan(tiny_world, tmp_path, capsys):
    rows = read_manifest(tiny_world)
    world = tmp_path / "world"
    shutil.copytree(Path(tiny_world).parent, world)
    bad = next(s for s in rows if s.split == "train")
    (world / Path(bad.image).relative_to(Path(tiny_world).parent)).write_bytes(b"not a jpeg")
    err = error_of(capsys, [str(write_config(tmp_path, world / "manifest.csv"))])
    assert f"manifest.csv:{bad.row}: " in err
    assert not run_folders(tmp_path)


def test_unmasked_drop_without_any_mask_is_one_line(tiny_world, tmp_path, capsys):
    rows = [replace(s, mask="") if s.split == "train" else s for s in read_manifest(tiny_world)]
    write_manifest(tmp_path / "nomask.csv", rows)
    err = error_of(capsys, [str(write_config(tmp_path, tmp_path / "nomask.csv")), "--set", "data.unmasked=drop"])
    assert "data.unmasked: drop: no training row has a person mask" in err and "nothing would be left to train" in err

    # empty masks (a detector found nobody) are only seen by the loader, after the run folder exists
    world = tmp_path / "world"
    shutil.copytree(Path(tiny_world).parent, world)
    for s in read_manifest(world / "manifest.csv", ["train"]):
        cv2.imwrite(s.mask, np.zeros(cv2.imread(s.mask, cv2.IMREAD_GRAYSCALE).shape, np.uint8))
    err = error_of(capsys, [str(write_config(tmp_path, world / "manifest.csv")), "--set", "data.unmasked=drop"])
    assert err.startswith("error: data.manifest: ") and "(data.unmasked: drop)" in err and "\n" not in err[:-1]
    assert not run_folders(tmp_path)


def test_duplicate_section_in_the_config_is_one_line(tiny_world, tmp_path, capsys):
    cfg = write_config(tmp_path, tiny_world)
    cfg.write_text(cfg.read_text() + "train:\n  epochs: 5\n")
    err = error_of(capsys, [str(cfg)])
    assert "not valid YAML: line " in err and "duplicate key 'train' (first on line " in err
    assert not run_folders(tmp_path)


def test_ctrl_c_prints_the_resume_command_and_resume_alone_finishes(tiny_world, tmp_path, capsys, monkeypatch):
    real = fit_module.train_one_epoch

    def interrupted_in_epoch_2(*args, **kwargs):
        if kwargs["epoch"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 2, "eval_every": 0})
    monkeypatch.setattr(fit_module, "train_one_epoch", interrupted_in_epoch_2)
    assert cli.main([str(cfg)]) == 130
    monkeypatch.undo()
    [run_dir] = run_folders(tmp_path)
    hint = f"interrupted; continue with: python trainer/run.py --resume {run_dir}"
    assert f"\n{hint}\n" in capsys.readouterr().err and hint in (run_dir / "train.log").read_text()
    assert cli.main(["--resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "final.json").read_text())["results"]["baseline"]["mAP"] > 0


def test_damaged_latest_falls_back_to_the_previous_intact_epoch(tiny_world, tmp_path):
    run_dir = tiny_run(tmp_path, tiny_world, "train.keep_checkpoints=2", "loader.batch_k=8")
    log = (run_dir / "train.log").read_text()
    assert "loader.batch_k: K=8 images per identity, but 8 of 8 training identities" in log
    folder = run_dir / "baseline" / "checkpoints"
    truncate(folder / "latest.pt")
    truncate(folder / "epoch_002.pt")
    assert cli.main(["--resume", str(run_dir), "--set", "train.epochs=3"]) == 0
    log = (run_dir / "train.log").read_text()
    assert f"{folder / 'latest.pt'}: damaged checkpoint" in log
    assert f"resuming from {folder / 'epoch_001.pt'} (after epoch 1) instead of the unusable latest.pt, " \
           f"epoch_002.pt" in log
    rows = (run_dir / "baseline" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_resume_with_changed_training_identities_is_one_line(tiny_world, tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    rows = read_manifest(tiny_world)
    write_manifest(manifest, rows)
    run_dir = tiny_run(tmp_path, manifest, epochs=1)
    first = min(s.pid for s in rows if s.split == "train")
    write_manifest(manifest, [s for s in rows if not (s.split == "train" and s.pid == first)])
    ids = len({s.pid for s in rows if s.split == "train"})
    saved = (run_dir / "config.yaml").read_text()
    err = error_of(capsys, ["--resume", str(run_dir), "--set", "train.epochs=2"])
    assert err.startswith(f"error: data.manifest: the training identities changed since this run started "
                          f"({ids} then, {ids - 1} now, in {manifest})")
    assert "the training identities changed" in (run_dir / "train.log").read_text()
    assert (run_dir / "config.yaml").read_text() == saved  # the refused --resume changed nothing


def test_eval_only_writes_beside_the_run_or_into_out(tiny_world, tmp_path, capsys):
    run_dir = tiny_run(tmp_path, tiny_world, epochs=1)
    final = json.loads((run_dir / "final.json").read_text())["results"]["baseline"]
    ckpt = run_dir / "baseline" / "checkpoints" / "latest.pt"
    assert cli.main(["--eval-only", str(ckpt)]) == 0  # the run's own config
    record = json.loads((run_dir / "eval-baseline-latest.json").read_text())
    assert record["checkpoint"] == str(ckpt) and record["results"]["eval"]["mAP"] == pytest.approx(final["mAP"])
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]  # no new run folder
    assert cli.main(["--eval-only", str(ckpt), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "eval-baseline-latest.json").is_file()
    shutil.copy(ckpt, tmp_path / "loose.pt")
    err = error_of(capsys, ["--eval-only", str(tmp_path / "loose.pt")])
    assert "loose.pt is not in a run folder (RUN/<variant>/checkpoints/); give the CONFIG" in err


def test_config_example_prints_the_default_config(capsys):
    from attention_swap_reid.trainer.cli import main

    assert main(["--config-example"]) == 0
    assert capsys.readouterr().out == (ROOT / "pipeline.yaml").read_text()
