"""Atomic training checkpoints and the random-number state they carry.

Files in a checkpoint folder: `epoch_NNN.pt` (the last `keep` of them) and `latest.pt`, a hard
link to the newest. Each file is written to a temporary name and renamed (`os.replace`), so a
run killed at any moment leaves the previous checkpoint intact and never a half-written one.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

_EPOCH_FILE = re.compile(r"epoch_(\d+)\.pt$")


def rng_state() -> dict:
    """The process's torch (CPU and CUDA) and NumPy global RNG states."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": np.random.get_state()}


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """`torch.save` to `path` via a temporary file in the same folder, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Checkpointer:
    """Saves and finds the checkpoints of one training in `folder`."""

    def __init__(self, folder: str | os.PathLike, keep: int = 2):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.folder, self.keep = Path(folder), keep

    @property
    def latest(self) -> Path:
        return self.folder / "latest.pt"

    def epochs(self) -> list[int]:
        """Epoch numbers of the per-epoch files present, ascending."""
        if not self.folder.is_dir():
            return []
        found = (_EPOCH_FILE.match(p.name) for p in self.folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, state: dict, epoch: int) -> Path:
        """Write `state` as `epoch_<epoch>.pt`, point `latest.pt` at it, drop old epoch files."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"epoch_{epoch:03d}.pt"
        atomic_save(state, path)
        link = self.folder / f".latest.pt.tmp{os.getpid()}"
        link.unlink(missing_ok=True)
        os.link(path, link)
        os.replace(link, self.latest)
        for old in self.epochs()[:-self.keep]:
            (self.folder / f"epoch_{old:03d}.pt").unlink(missing_ok=True)
        return path

    def load_latest(self, map_location: str | torch.device = "cpu") -> dict | None:
        """The newest checkpoint's state, or None when there is none."""
        if not self.latest.is_file():
            return None
        return load_checkpoint(self.latest, map_location)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by `Checkpointer.save` (or a bare model state dict).

    Checkpoints hold NumPy RNG state, so they are unpickled in full: load only your own files.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location=map_location, weights_only=False)
