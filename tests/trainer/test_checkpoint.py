"""trainer.checkpoint: atomic writes, latest/keep bookkeeping, RNG state round trip."""
import os

import numpy as np
import pytest
import torch

from trainer import checkpoint
from trainer.checkpoint import Checkpointer, atomic_save, load_checkpoint, rng_state, set_rng_state


def test_save_latest_and_keep(tmp_path):
    ckpt = Checkpointer(tmp_path / "ck", keep=2)
    assert ckpt.load_latest() is None
    for epoch in (1, 2, 3):
        ckpt.save({"epoch": epoch, "w": torch.full((3,), float(epoch))}, epoch)
    assert ckpt.epochs() == [2, 3]
    state = ckpt.load_latest()
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.full((3,), 3.0))
    assert os.path.samefile(ckpt.latest, tmp_path / "ck" / "epoch_003.pt")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["epoch_002.pt", "epoch_003.pt", "latest.pt"]


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
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_rng_round_trip():
    state = rng_state()
    a, b = torch.rand(3), np.random.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), a) and np.array_equal(np.random.rand(3), b)
