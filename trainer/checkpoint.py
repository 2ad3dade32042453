"""Atomic training checkpoints and the random-number state they carry.

Files in a checkpoint folder: `latest.pt` and `epoch_NNN.pt` (the last `keep` of them), all
real files: `latest.pt` is written first, then copied to the epoch file, each through a
temporary name and a rename (`os.replace`), so a run killed at any moment leaves the previous
checkpoint intact and never a half-written one, and damage to one file leaves the others.

A checkpoint holds only tensors, plain containers, strings and numbers (the NumPy RNG state
included), so it loads with `torch.load(..., weights_only=True)`: loading never runs code from
the file, and a file that needs more than that to load is refused.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from attention_swap_reid.trainer.errors import TrainerError

log = logging.getLogger("trainer")
_EPOCH_FILE = re.compile(r"epoch_(\d+)\.pt$")


class CheckpointError(TrainerError):
    """A checkpoint that cannot be used: missing, unreadable, damaged, refused or incomplete."""


def rng_state() -> dict:
    """The process's torch (CPU and CUDA) and NumPy global RNG states, as tensors and numbers."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"bit_generator": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}}


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["bit_generator"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))


def _atomic_write(path: Path, write) -> None:
    """Call `write(file)` on a temporary file beside `path`, fsync it and rename it to `path`."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """`torch.save` to `path` via a temporary file in the same folder, fsync and rename."""
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


def _atomic_copy(source: Path, path: Path) -> None:
    """Copy `source` to `path` as a real file, atomically."""
    with open(source, "rb") as src:
        _atomic_write(path, lambda f: shutil.copyfileobj(src, f, 1 << 20))


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

    def _epoch_file(self, epoch: int) -> Path:
        return self.folder / f"epoch_{epoch:03d}.pt"

    def save(self, state: dict, epoch: int) -> Path:
        """Write `state` as `latest.pt` and its copy `epoch_<epoch>.pt`, drop old epoch files."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._epoch_file(epoch)
        atomic_save(state, self.latest)
        _atomic_copy(self.latest, path)
        for old in self.epochs()[:-self.keep]:
            self._epoch_file(old).unlink(missing_ok=True)
        return path

    def candidates(self) -> list[Path]:
        """The checkpoint files present, the one to resume from first: `latest.pt`, then the
        epoch files from the newest."""
        files = [self._epoch_file(e) for e in reversed(self.epochs())]
        return [self.latest] * self.latest.is_file() + files

    def load_latest(self, map_location: str | torch.device = "cpu",
                    required: tuple[str, ...] = ("epoch",)) -> dict | None:
        """The newest intact checkpoint's state (it loads and has the `required` keys), or None
        when there is none. A damaged or refused file is logged and the next older one is tried;
        raises `CheckpointError` when files exist but none is usable."""
        skipped = []
        for path in self.candidates():
            try:
                state = load_checkpoint(path, map_location, required)
            except CheckpointError as e:
                log.warning("%s; trying the previous checkpoint", e)
                skipped.append(path.name)
                continue
            if skipped:
                log.warning("resuming from %s (after epoch %s) instead of the unusable %s", path, state["epoch"],
                            ", ".join(skipped))
            return state
        if skipped:
            raise CheckpointError(f"{self.folder}: no usable checkpoint ({', '.join(skipped)} damaged or refused, "
                                  f"see above); start a new run")
        return None


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    required: tuple[str, ...] = ()) -> dict:
    """Load a checkpoint written by `Checkpointer.save` (or a bare model state dict) without
    running code from it (`weights_only=True`); `required`: keys the state must have.

    Raises `CheckpointError` naming the file when it is missing, unreadable, damaged, needs
    more than tensors and plain containers to load (refused), or lacks a required key.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror or e}") from None
    with f:
        try:
            state = torch.load(f, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            raise CheckpointError(f"{path}: refused: it needs more than tensors and plain containers to load "
                                  f"({_refusal_reason(e)}), and loading it could run code from the file") from None
        except Exception as e:  # noqa: BLE001 -- torch raises OSError, RuntimeError, EOFError, ... on a damaged file
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"{path}: damaged checkpoint (truncated or corrupt: {first})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint (holds a {type(state).__name__}, not a mapping)")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, no {', '.join(missing)}")
    return state


def _refusal_reason(error: pickle.UnpicklingError) -> str:
    """The line of torch's weights-only refusal that says what the file asked for."""
    lines = [line.strip() for line in str(error).splitlines() if "unsupported" in line.lower()]
    return lines[0].rstrip(".") if lines else "unsupported content"
