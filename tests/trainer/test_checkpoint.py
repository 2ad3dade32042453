"""trainer.checkpoint: atomic writes, latest/keep bookkeeping, RNG state round trip, loading
without running code, and falling back from a damaged checkpoint to the previous intact one."""
import logging
import os

import numpy as np
import pytest
import torch

from attention_swap_reid.trainer import checkpoint
from attention_swap_reid.trainer.checkpoint import (CheckpointError, Checkpointer, atomic_save,
                                                    load_checkpoint, rng_state, set_rng_state)


class CodeRunner:
    """Unpickling it calls `os.system`: what a crafted checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def plant_code_running_checkpoint(path, marker):
    """A .pt whose loading with weights_only=False would create `marker`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 1, "model": {"classifier.weight": torch.zeros(2, 2)}, "x": CodeRunner(marker)}, path)
    return path


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_save_latest_and_keep(tmp_path):
    ckpt = Checkpointer(tmp_path / "ck", keep=2)
    assert ckpt.load_latest() is None
    for epoch in (1, 2, 3):
        ckpt.save({"epoch": epoch, "w": torch.full((3,), float(epoch))}, epoch)
    assert ckpt.epochs() == [2, 3]
    state = ckpt.load_latest()
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.full((3,), 3.0))
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["epoch_002.pt", "epoch_003.pt", "latest.pt"]
    # real files: damage to latest.pt leaves the epoch file
    assert not os.path.samefile(ckpt.latest, tmp_path / "ck" / "epoch_003.pt")
    assert all(p.stat().st_nlink == 1 for p in (tmp_path / "ck").iterdir())
    assert (tmp_path / "ck" / "epoch_003.pt").read_bytes() == ckpt.latest.read_bytes()


def test_interrupted_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ckpt = Checkpointer(tmp_path, keep=3)
    ckpt.save({"epoch": 1}, 1)
    real_save = torch.save

    def dying_save(obj, f):
        real_save(obj, f)
        f.write(b"partial")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(checkpoint.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save({"epoch": 2}, 2)
    monkeypatch.undo()
    assert ckpt.load_latest()["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_001.pt", "latest.pt"]  # no temp files


def test_atomic_save_replaces(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"a": 1}, path)
    atomic_save({"a": 2}, path)
    assert load_checkpoint(path) == {"a": 2}
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_rng_round_trip_loads_without_pickled_code(tmp_path):
    atomic_save({"rng": rng_state()}, tmp_path / "rng.pt")
    a, b = torch.rand(3), np.random.rand(3)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])  # weights_only=True
    assert torch.equal(torch.rand(3), a) and np.array_equal(np.random.rand(3), b)


def test_code_running_checkpoint_is_refused_before_running(tmp_path):
    marker = tmp_path / "ran"
    path = plant_code_running_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(CheckpointError, match=rf"^{path}: refused: it needs more than tensors .*posix.system"):
        load_checkpoint(path)
    assert not marker.exists()


def test_damaged_and_incomplete_checkpoints_name_the_file(tmp_path):
    atomic_save({"epoch": 1, "w": torch.ones(1000)}, tmp_path / "x.pt")
    truncate(tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=rf"^{tmp_path / 'x.pt'}: damaged checkpoint \(truncated or corrupt"):
        load_checkpoint(tmp_path / "x.pt")
    (tmp_path / "e.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="e.pt: damaged checkpoint"):
        load_checkpoint(tmp_path / "e.pt")
    atomic_save({"epoch": 1}, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match=r"y.pt: incomplete checkpoint, no model, ranks"):
        load_checkpoint(tmp_path / "y.pt", required=("epoch", "model", "ranks"))


def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("trainer"), "propagate", True)  # a run's logging turns it off
    ckpt = Checkpointer(tmp_path, keep=2)
    for epoch in (1, 2, 3):
        ckpt.save({"epoch": epoch}, epoch)
    truncate(ckpt.latest)
    with caplog.at_level(logging.WARNING, logger="trainer"):
        assert ckpt.load_latest()["epoch"] == 3  # the epoch file of the same epoch survives
    assert f"{ckpt.latest}: damaged checkpoint" in caplog.text
    truncate(tmp_path / "epoch_003.pt")
    plant_code_running_checkpoint(ckpt.latest, tmp_path / "ran")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trainer"):
        assert ckpt.load_latest()["epoch"] == 2
    assert "latest.pt: refused" in caplog.text and "epoch_003.pt: damaged checkpoint" in caplog.text
    assert f"resuming from {tmp_path / 'epoch_002.pt'} (after epoch 2) instead of the unusable latest.pt, " \
           f"epoch_003.pt" in caplog.text
    truncate(tmp_path / "epoch_002.pt")
    with pytest.raises(CheckpointError, match=rf"^{tmp_path}: no usable checkpoint \(latest.pt, epoch_003.pt, "
                                              rf"epoch_002.pt damaged or refused"):
        ckpt.load_latest()
    assert not (tmp_path / "ran").exists()


def test_unreadable_checkpoint_names_the_file(tmp_path, monkeypatch):
    atomic_save({"epoch": 1}, tmp_path / "x.pt")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("attention_swap_reid.trainer.checkpoint.open", denied, raising=False)  # root ignores chmod
    with pytest.raises(CheckpointError, match=rf"^{tmp_path / 'x.pt'}: cannot read: Permission denied$"):
        load_checkpoint(tmp_path / "x.pt")
