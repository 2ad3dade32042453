"""A full disk at each write of a run: one line naming the file and "No space left on device",
the files written before intact, no half-written file, no temporary file, no empty run folder.

Most cases fill the disk with the `full_disk` fixture (tests/conftest.py: Python's writes into a
folder fail with ENOSPC); the last one runs the trainer on a real tmpfs that is too small, where
this machine may mount one (root)."""
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
import torch

from attention_swap_reid.trainer import cli
from attention_swap_reid.trainer import fit as fit_module
from attention_swap_reid.trainer.disk import DiskError, append_whole, atomic_write_text
from tests.trainer.test_run import ROOT, error_of, run_folders, write_config

NO_SPACE = "cannot write: No space left on device"


def temporary_files(folder):
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def test_atomic_write_keeps_the_old_file_whole(tmp_path, full_disk):
    path = tmp_path / "final.json"
    path.write_text('{"old": 1}')
    full_disk(tmp_path, free=5)
    with pytest.raises(DiskError) as info:
        atomic_write_text(path, json.dumps({"new": list(range(100))}))
    assert str(info.value) == f"{path}: {NO_SPACE}"
    assert path.read_text() == '{"old": 1}' and temporary_files(tmp_path) == []


def test_append_whole_leaves_no_part_of_a_record(tmp_path, full_disk):
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"epoch,loss\r\n1,0.5\r\n")
    full_disk(tmp_path, free=3)  # the row's first bytes fit, the rest does not
    with pytest.raises(DiskError, match=f"metrics.csv: {NO_SPACE}"):
        append_whole(path, b"2,0.25\r\n")
    assert path.read_bytes() == b"epoch,loss\r\n1,0.5\r\n"


def test_a_full_disk_at_start_leaves_no_run_folder(tiny_world, tmp_path, capsys, full_disk):
    (tmp_path / "runs").mkdir()
    full_disk(tmp_path / "runs")
    err = error_of(capsys, [str(write_config(tmp_path, tiny_world))])
    assert err.startswith(f"error: {tmp_path / 'runs'}/t-") and err.endswith(f"/run.lock: {NO_SPACE}\n")
    assert err.count("\n") == 1 and run_folders(tmp_path) == []


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_and_at_final_json(tiny_world, tmp_path, capsys, monkeypatch, full_disk):
    """Epoch 2's checkpoint meets a full disk; after space is freed the resumed run meets it again
    at final.json; then it finishes."""
    real_epoch = fit_module.train_one_epoch

    def full_after_epoch_2(*args, **kwargs):
        stats = real_epoch(*args, **kwargs)
        if kwargs["epoch"] == 2:
            full_disk(tmp_path / "runs")
        return stats

    monkeypatch.setattr(fit_module, "train_one_epoch", full_after_epoch_2)
    cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 2, "eval_every": 0})
    err = error_of(capsys, [str(cfg)])
    [run_dir] = run_folders(tmp_path)
    folder = run_dir / "baseline" / "checkpoints"
    assert err == f"error: {folder / 'latest.pt'}: {NO_SPACE}\n"
    assert torch.load(folder / "latest.pt", weights_only=True)["epoch"] == 1  # epoch 1's files whole
    assert torch.load(folder / "epoch_001.pt", weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_001.pt", "latest.pt"]
    assert temporary_files(run_dir) == [] and not (run_dir / "final.json").exists()
    rows = (run_dir / "baseline" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["epoch", "1"]  # the row of epoch 1, no part of epoch 2's
    full_disk.free()
    monkeypatch.setattr(fit_module, "train_one_epoch", real_epoch)  # (undo() would lift full_disk's patches too)

    real_fit = cli.fit

    def full_after_training(*args, **kwargs):
        metrics = real_fit(*args, **kwargs)
        full_disk(run_dir)
        return metrics

    monkeypatch.setattr(cli, "fit", full_after_training)
    err = error_of(capsys, ["--resume", str(run_dir)])
    assert err == f"error: {run_dir / 'final.json'}: {NO_SPACE}\n"
    assert not (run_dir / "final.json").exists() and temporary_files(run_dir) == []
    assert torch.load(folder / "latest.pt", weights_only=True)["epoch"] == 2
    full_disk.free()
    monkeypatch.setattr(cli, "fit", real_fit)
    assert cli.main(["--resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "final.json").read_text())["results"]["baseline"]["mAP"] > 0


def test_a_log_file_on_a_full_disk_is_one_warning(tmp_path, capsys):
    class FullStream:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

    handler = cli._RunLog(tmp_path / "train.log")
    handler.stream = FullStream()
    logger = logging.getLogger(f"test-{uuid.uuid4()}")
    logger.addHandler(handler)
    for i in range(3):
        logger.warning("line %d", i)
    err = capsys.readouterr().err
    assert err == (f"warning: {tmp_path / 'train.log'}: {NO_SPACE}; the log goes on on the terminal only\n")


def _mount_tmpfs(folder, size):
    folder.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a tmpfs here (needs root)")


@pytest.mark.slow
def test_a_real_full_disk_is_one_line_and_leaves_nothing(tiny_world, tmp_path):
    """A 20 MB tmpfs: the run folder and its first files fit, the first checkpoint (45 MB of
    ResNet-18 weights, and Adam's state) does not."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "20m")
    try:
        cfg = write_config(tmp_path, tiny_world, augment={"p": 0.0}, train={"epochs": 1, "eval_every": 0},
                           output={"dir": str(disk / "runs")})
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
        proc = subprocess.run([sys.executable, str(ROOT / "trainer" / "run.py"), str(cfg)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 2, proc.stderr[-3000:]
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {disk / 'runs'}/t-") and last.endswith(f"latest.pt: {NO_SPACE}"), last
        assert "Traceback" not in proc.stderr
        assert list((disk / "runs").iterdir()) == []  # no checkpoint: the run folder is removed
    finally:
        subprocess.run(["umount", str(disk)], check=False, capture_output=True)
