"""trainer/run.py, extract and visrank against the faults of the second reliability round, on the
tiny synthetic world: a diverging training, checkpoints that must not be used (weights not
finite, other model settings), SIGTERM and SIGHUP, leftovers of a killed run, a run made before
a config key existed, and the smaller ones (a run folder outside output.dir, NaN in final.json,
misleading messages). Each case: what the user reads, and what stays on disk."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from attention_swap_reid.dali_pipes import read_manifest, write_manifest
from attention_swap_reid.trainer import checkpoint as checkpoint_module
from attention_swap_reid.trainer import cli, extract, visrank
from attention_swap_reid.trainer import fit as fit_module
from attention_swap_reid.trainer.losses import ReIDLoss
from tests.trainer.test_run import ROOT, error_of, run_folders, tiny_run, write_config


@pytest.fixture(scope="module")
def trained(tiny_world, tmp_path_factory):
    """A run folder with a ResNet-18 baseline trained one epoch on the tiny world (read only:
    tests copy what they change)."""
    return tiny_run(tmp_path_factory.mktemp("faults"), tiny_world, epochs=1)


def latest(run_dir, variant="baseline"):
    return run_dir / variant / "checkpoints" / "latest.pt"


def temporary_files(folder):
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def copy_run(run_dir, tmp_path):
    target = tmp_path / "runs" / run_dir.name
    shutil.copytree(run_dir, target)
    return target


def poison(path, key="bottleneck.weight"):
    """Put a NaN into the weight `key` of the checkpoint at `path` (a diverged training's file)."""
    state = torch.load(path, weights_only=True)
    state["model"][key][0] = float("nan")
    torch.save(state, path)


# --- divergence -------------------------------------------------------------------------------

def nan_loss_from(monkeypatch, epoch, step):
    """ReIDLoss gives NaN from `step` (1-based) of `epoch` on, as a diverging training does."""
    real = ReIDLoss.forward
    calls = {"epoch": 0, "step": 0}
    real_epoch = fit_module.train_one_epoch

    def counting_epoch(*args, **kwargs):
        calls["epoch"], calls["step"] = kwargs["epoch"], 0
        return real_epoch(*args, **kwargs)

    def forward(self, *args):
        calls["step"] += 1
        loss, parts = real(self, *args)
        if (calls["epoch"], calls["step"]) >= (epoch, step):
            loss = loss * float("nan")
        return loss, parts

    monkeypatch.setattr(fit_module, "train_one_epoch", counting_epoch)
    monkeypatch.setattr(ReIDLoss, "forward", forward)


@pytest.mark.slow
def test_a_diverging_training_stops_and_keeps_the_last_good_checkpoint(tiny_world, tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 3, "eval_every": 0})
    nan_loss_from(monkeypatch, epoch=2, step=3)
    assert cli.main([str(cfg)]) == 3
    err = capsys.readouterr().err
    [run_dir] = run_folders(tmp_path)
    folder = run_dir / "baseline" / "checkpoints"
    message = (f"error: baseline: training diverged: the loss is not finite (NaN or infinite) from step 3 of "
               f"epoch 2; the last good checkpoint, {folder / 'latest.pt'} (after epoch 1), is kept; try a lower "
               f"optim.lr (now 0.001) or check the data\n")
    assert err.endswith(message)
    assert message.removeprefix("error: ").strip() in (run_dir / "train.log").read_text()
    state = torch.load(folder / "latest.pt", weights_only=True)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_001.pt", "latest.pt"]
    assert not (run_dir / "final.json").exists()


def test_divergence_before_any_checkpoint_leaves_no_run_folder(tiny_world, tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 1, "eval_every": 0})
    nan_loss_from(monkeypatch, epoch=1, step=1)
    assert cli.main([str(cfg)]) == 3
    assert "from step 1 of epoch 1; no checkpoint was written yet;" in capsys.readouterr().err
    assert not run_folders(tmp_path)


@pytest.mark.slow
def test_weights_that_stop_being_finite_after_the_last_step_are_caught(tiny_world, tmp_path, capsys, monkeypatch):
    real = fit_module.train_one_epoch

    def poisoned(model, *args, **kwargs):
        stats = real(model, *args, **kwargs)
        with torch.no_grad():
            model.bottleneck.weight[0] = float("inf")  # the last step's update, after the loss was read
        return stats

    monkeypatch.setattr(fit_module, "train_one_epoch", poisoned)
    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 1, "eval_every": 0})
    assert cli.main([str(cfg)]) == 3
    assert "training diverged: the weights are not finite after epoch 1 (first: bottleneck.weight)" in \
        capsys.readouterr().err


def test_checkpoints_with_weights_not_finite_are_refused(trained, tiny_world, tmp_path, capsys):
    run_dir = copy_run(trained, tmp_path)
    ckpt = latest(run_dir)
    poison(ckpt)
    refusal = (f"error: {ckpt}: refused: the model's weights are not finite (NaN or infinite in bottleneck.weight): "
               f"the training diverged\n")
    assert extract.main([str(ckpt), str(tiny_world), "--out", str(tmp_path / "f.npz")]) == 2
    assert capsys.readouterr().err == refusal and not (tmp_path / "f.npz").exists()
    assert visrank.main([str(run_dir), "--out", str(tmp_path / "r.png")]) == 2
    assert capsys.readouterr().err == refusal and not (tmp_path / "r.png").exists()
    assert error_of(capsys, ["--eval-only", str(ckpt)]) == refusal
    assert not list(run_dir.glob("eval-*.json"))


def test_save_never_writes_weights_that_are_not_finite(tmp_path):
    ckpt = checkpoint_module.Checkpointer(tmp_path)
    ckpt.save({"epoch": 1, "model": {"w": torch.ones(3)}}, 1)
    before = ckpt.latest.read_bytes()
    with pytest.raises(checkpoint_module.CheckpointError, match=r"latest.pt: not written: the model's weights are "
                                                                r"not finite \(NaN or infinite in w\)"):
        ckpt.save({"epoch": 2, "model": {"w": torch.tensor([1.0, float("nan"), 1.0])}}, 2)
    assert ckpt.latest.read_bytes() == before and ckpt.epochs() == [1]


# --- checkpoints of other model settings -------------------------------------------------------

def config_like(run_dir, tmp_path, **model):
    raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    raw["model"] |= model
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_checkpoint_of_other_model_settings_is_refused_naming_the_keys(trained, tiny_world, tmp_path, capsys):
    ckpt = latest(trained)
    other = config_like(trained, tmp_path, last_stride=2)  # the same weights, a third of the mAP
    expected = (f"error: {ckpt}: its model settings differ from the config's (model.last_stride 1 there, 2 here); "
                f"use the config the checkpoint was trained with\n")
    assert error_of(capsys, [str(other), "--eval-only", str(ckpt), "--out", str(tmp_path / "out")]) == expected
    assert extract.main([str(ckpt), str(tiny_world), "--out", str(tmp_path / "f.npz"), "--config", str(other)]) == 2
    assert capsys.readouterr().err == expected
    deeper = config_like(trained, tmp_path, name="resnet34")
    assert "(model.name 'resnet18' there, 'resnet34' here)" in error_of(capsys, [str(deeper), "--eval-only", str(ckpt)])
    assert not (tmp_path / "out").exists() and not (tmp_path / "f.npz").exists()


def test_a_checkpoint_of_another_depth_without_recorded_settings_is_one_short_line(trained, tmp_path, capsys):
    state = torch.load(latest(trained), weights_only=True)
    del state["model_settings"]  # as written before the settings were recorded
    old = tmp_path / "old.pt"
    torch.save(state, old)
    err = error_of(capsys, [str(config_like(trained, tmp_path, name="resnet34")), "--eval-only", str(old)])
    assert err.startswith(f"error: {old}: does not fit model.name resnet34 (last_stride 1): weights ")
    assert "missing (base.4.2.conv1.weight, " in err and err.count("\n") == 1 and len(err) < 400


# --- SIGTERM and SIGHUP ------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_stops_a_run_that_resumes_with_the_printed_command(tiny_world, tmp_path):
    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 3, "eval_every": 0})
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    proc = subprocess.Popen([sys.executable, str(ROOT / "trainer" / "run.py"), str(cfg)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while not list((tmp_path / "runs").glob("t-*/baseline/checkpoints/epoch_001.pt")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    [run_dir] = run_folders(tmp_path)
    hint = f"stopped by SIGTERM; continue with: python trainer/run.py --resume {run_dir}"
    assert f"\n{hint}\n" in err and hint in (run_dir / "train.log").read_text()
    assert temporary_files(run_dir) == [] and not (run_dir / "final.json").exists()
    assert cli.main(["--resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "final.json").read_text())["results"]["baseline"]["mAP"] > 0


@pytest.mark.slow
def test_a_sigterm_during_a_checkpoint_write_and_a_sighup_stop_cleanly(tiny_world, tmp_path, capsys, monkeypatch):
    real_save = checkpoint_module.torch.save
    saves = []

    def sigterm_in_the_second_save(obj, f):  # the signal arrives in the middle of epoch 2's write
        real_save(obj, f)
        saves.append(obj["epoch"])
        if obj["epoch"] == 2:
            f.write(b"more")
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(checkpoint_module.torch, "save", sigterm_in_the_second_save)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 3, "eval_every": 0})
    assert cli.main([str(cfg)]) == 143
    [run_dir] = run_folders(tmp_path)
    hint = f"stopped by SIGTERM; continue with: python trainer/run.py --resume {run_dir}"
    assert f"\n{hint}\n" in capsys.readouterr().err and hint in (run_dir / "train.log").read_text()
    assert temporary_files(run_dir) == [] and saves == [1, 2]
    assert torch.load(latest(run_dir), weights_only=True)["epoch"] == 1  # the write under way is dropped
    monkeypatch.undo()

    def hang_up(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGHUP)  # the terminal closes

    monkeypatch.setattr(fit_module, "train_one_epoch", hang_up)
    assert cli.main(["--resume", str(run_dir)]) == 129
    hint = f"stopped by SIGHUP; continue with: python trainer/run.py --resume {run_dir}"
    assert f"\n{hint}\n" in capsys.readouterr().err and hint in (run_dir / "train.log").read_text()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == handlers  # the CLI's are gone


def test_temporary_files_of_a_killed_run_are_removed_at_the_next_start(trained, tmp_path, capsys):
    run_dir = copy_run(trained, tmp_path)
    folder = run_dir / "baseline" / "checkpoints"
    leftovers = [folder / ".latest.pt.tmp4242", folder / ".epoch_002.tmp4242.pt", run_dir / ".final.tmp4242.json"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)  # what SIGKILL in the middle of a write leaves
    assert cli.main(["--resume", str(run_dir)]) == 0  # trained already: final.json again
    assert temporary_files(run_dir) == []
    log = (run_dir / "train.log").read_text()
    assert all(f"removed {path}, a temporary file left by a process killed while writing it" in log
               for path in leftovers)


# --- upgrades ----------------------------------------------------------------------------------

def test_a_run_made_before_a_key_existed_resumes_with_its_default(trained, tmp_path, capsys):
    run_dir = copy_run(trained, tmp_path)
    raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    del raw["eval"]["unmatched_queries"], raw["data"]["max_image_pixels"]  # keys of a later version
    (run_dir / "config.yaml").write_text(yaml.safe_dump(raw))
    assert cli.main(["--resume", str(run_dir)]) == 0  # trained already: final.json again
    log = (run_dir / "train.log").read_text()
    assert (f"eval.unmatched_queries: not in {run_dir / 'config.yaml'} (the run was made before the key existed); "
            f"resuming with its default 'error'") in log
    assert "data.max_image_pixels: not in " in log and "resuming with its default 16777216" in log
    assert json.loads((run_dir / "final.json").read_text())["config"]["eval"]["unmatched_queries"] == "error"

    raw["eval"]["no_such_key"] = 1  # a key this version does not have: one line, as before
    (run_dir / "config.yaml").write_text(yaml.safe_dump(raw))
    err = error_of(capsys, ["--resume", str(run_dir)])
    assert "eval.no_such_key: unknown key" in err


def test_a_new_key_given_another_value_than_its_default_is_a_change(trained, tmp_path, capsys):
    run_dir = copy_run(trained, tmp_path)
    raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    del raw["eval"]["unmatched_queries"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(raw))
    err = error_of(capsys, ["--resume", str(run_dir), "--set", "eval.unmatched_queries=drop"])
    assert "eval.unmatched_queries: differs from the resumed run ('error' there, 'drop' now)" in err


# --- the smaller ones --------------------------------------------------------------------------

def test_name_cannot_put_the_run_folder_outside_output_dir(tiny_world, tmp_path, capsys):
    err = error_of(capsys, [str(write_config(tmp_path, tiny_world)), "--set", "name=../escaped"])
    assert "name: '../escaped' is not a folder name: the run folder is <output.dir>/<name>-<timestamp>" in err
    assert not list(tmp_path.glob("escaped*")) and not run_folders(tmp_path)


def test_final_json_is_strict_json_with_null_for_nan(trained, tmp_path, monkeypatch):
    run_dir = copy_run(trained, tmp_path)
    real = cli.fit

    def nan_metric(*args, **kwargs):
        return real(*args, **kwargs) | {"mINP": float("nan")}

    monkeypatch.setattr(cli, "fit", nan_metric)
    (run_dir / "final.json").unlink()
    assert cli.main(["--resume", str(run_dir)]) == 0
    text = (run_dir / "final.json").read_text()
    assert "NaN" not in text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in final.json"))[
        "results"]["baseline"]["mINP"] is None


def test_eval_only_of_a_run_folder_names_its_checkpoints(trained, capsys):
    err = error_of(capsys, ["--eval-only", str(trained)])
    assert err == (f"error: --eval-only: {trained} is a folder; give a checkpoint file (e.g. "
                   f"{latest(trained)})\n")
    err = error_of(capsys, ["--eval-only", str(trained / "nope.pt")])
    assert err == f"error: --eval-only: checkpoint not found: {trained / 'nope.pt'}\n"


def stop_at_the_first_epoch(monkeypatch):
    """Ctrl-C when training starts: what the run said before it is all a test needs."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "train_one_epoch", interrupted)


def test_resume_without_a_checkpoint_says_it_starts_from_epoch_1(trained, tmp_path, monkeypatch):
    run_dir = copy_run(trained, tmp_path)
    shutil.rmtree(run_dir / "baseline")
    (run_dir / "final.json").unlink()
    stop_at_the_first_epoch(monkeypatch)
    assert cli.main(["--resume", str(run_dir)]) == 130
    folder = run_dir / "baseline" / "checkpoints"
    assert f"baseline: no checkpoint to resume from in {folder}; training it from epoch 1" in \
        (run_dir / "train.log").read_text()


def test_queries_without_a_gallery_match_can_be_left_out(tiny_world, tmp_path, capsys, monkeypatch):
    rows = read_manifest(tiny_world)
    query = next(s for s in rows if s.split == "query")
    rows = [s.__class__(**{**s.__dict__, "camid": query.camid}) if s.pid == query.pid and s.split != "train"
            else s for s in rows]
    write_manifest(tmp_path / "m.csv", rows)
    cfg = write_config(tmp_path, tmp_path / "m.csv", augment={"p": 0.0}, train={"epochs": 1, "eval_every": 0})
    assert "allowed: eval.unmatched_queries: drop" in error_of(capsys, [str(cfg)])
    assert not run_folders(tmp_path)
    stop_at_the_first_epoch(monkeypatch)
    assert cli.main([str(cfg), "--set", "eval.unmatched_queries=drop"]) == 130
    dropped = sum(s.split == "query" and s.pid == query.pid for s in rows)
    assert (f"{tmp_path / 'm.csv'}: {dropped} query row(s) have no gallery image of their pid from another camera "
            f"and are left out of the evaluation (eval.unmatched_queries: drop; first: row ") in capsys.readouterr().out


def test_the_image_limits_are_config_keys(tiny_world, tmp_path, capsys):
    err = error_of(capsys, [str(write_config(tmp_path, tiny_world)), "--set", "data.max_image_pixels=1000"])
    assert "image JPEG header says 32x64 pixels (WxH), over the limit of 1000 pixels (raise it with " \
           "data.max_image_pixels" in err
    err = error_of(capsys, [str(write_config(tmp_path, tiny_world)), "--set", "data.max_image_bytes=100"])
    assert "bytes, over the limit of 100 bytes (raise it with data.max_image_bytes" in err
    assert not run_folders(tmp_path)


def test_a_pid_beyond_int64_stops_before_training(tiny_world, tmp_path, capsys):
    rows = read_manifest(tiny_world)
    first = next(s for s in rows if s.split == "train")
    write_manifest(tmp_path / "m.csv", [s.__class__(**{**s.__dict__, "pid": 10 ** 20}) if s is first else s
                                        for s in rows])
    err = error_of(capsys, [str(write_config(tmp_path, tmp_path / "m.csv"))])
    assert f"m.csv:{first.row}: column 'pid' is 100000000000000000000, outside the 64-bit integer range" in err
    assert not run_folders(tmp_path)
