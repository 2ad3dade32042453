"""Atomic training checkpoints and the random-number state they carry.

Files in a checkpoint folder: `latest.pt` and `epoch_NNN.pt` (the last `keep` of them), all
real files: `latest.pt` is written first, then copied to the epoch file, each through a
temporary name and a rename (`os.replace`), so a run killed at any moment leaves the previous
checkpoint intact and never a half-written one, and damage to one file leaves the others.

A checkpoint holds only tensors, plain containers, strings and numbers (the NumPy RNG state
included), so it loads with `torch.load(..., weights_only=True)`: loading never runs code from
the file, and a file that needs more than that to load is refused.

A model whose weights are not all finite (a diverged training) is never written: `save`
refuses it, so the previous checkpoint stays; such a file from elsewhere is passed over by
`load_latest` and refused by `model_weights`, as is one whose recorded model settings
("model_settings": {"model.name": ..., ...}) differ from those it is loaded for.
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

from attention_swap_reid.trainer.disk import atomic_write
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


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """`torch.save` to `path` via a temporary file in the same folder, fsync and rename
    (`trainer.disk.atomic_write`: a failed write is a one-line `DiskError`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def _atomic_copy(source: Path, path: Path) -> None:
    """Copy `source` to `path` as a real file, atomically."""
    with open(source, "rb") as src:
        atomic_write(path, lambda f: shutil.copyfileobj(src, f, 1 << 20))


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
        """Write `state` as `latest.pt` and its copy `epoch_<epoch>.pt`, drop old epoch files.
        A `state["model"]` with a non-finite weight is refused (`CheckpointError`; nothing is
        written)."""
        bad = nonfinite_tensors(state.get("model", {}))
        if bad:
            raise CheckpointError(f"{self.latest}: not written: {_nonfinite_text(bad)}; the previous checkpoint "
                                  f"is kept")
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
                bad = nonfinite_tensors(state.get("model", {}))
                if bad:
                    raise CheckpointError(f"{path}: refused: {_nonfinite_text(bad)}")
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


def nonfinite_tensors(tensors: dict) -> list[str]:
    """Names of the floating-point tensors of `tensors` (a state dict) holding a NaN or an
    infinity. One device sync (the tensors are on one device)."""
    floats = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}
    if not floats:
        return []
    finite = torch.stack([torch.isfinite(v).all() for v in floats.values()]).tolist()
    return [name for name, ok in zip(floats, finite) if not ok]


def _nonfinite_text(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"the model's weights are not finite (NaN or infinite in {shown}): the training diverged"


def model_weights(path: str | os.PathLike, state: dict, settings: dict[str, object]) -> dict:
    """The model state dict of checkpoint `state` (loaded from `path`, or a bare state dict),
    for a model built with `settings` ({"model.name": ..., "model.last_stride": ...});
    `CheckpointError` naming the file when it holds no model of this trainer, its weights are
    not finite, or the settings it recorded differ (each differing key named)."""
    weights = state.get("model", state)
    if not isinstance(weights.get("classifier.weight"), torch.Tensor):
        raise CheckpointError(f"{path}: holds no model with a classifier.weight (not a checkpoint of this trainer)")
    saved = state.get("model_settings") or {}
    differ = [f"{key} {saved[key]!r} there, {value!r} here" for key, value in settings.items()
              if key in saved and saved[key] != value]
    if differ:
        raise CheckpointError(f"{path}: its model settings differ from the config's ({'; '.join(differ)}); "
                              f"use the config the checkpoint was trained with")
    bad = nonfinite_tensors(weights)
    if bad:
        raise CheckpointError(f"{path}: refused: {_nonfinite_text(bad)}")
    return weights


def load_weights(model: torch.nn.Module, weights: dict, path: str | os.PathLike, what: str) -> None:
    """Load `weights` into `model` (`what`: the model, as the message names it); when their
    names or shapes differ, `CheckpointError` in one line with the first few of each kind."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    reshaped = [f"{k} {list(weights[k].shape)} there, {list(own[k].shape)} here" for k in own
                if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
    parts = [f"{len(keys)} {kind} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
             for kind, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", reshaped))
             if keys]
    if parts:
        raise CheckpointError(f"{path}: does not fit {what}: weights {'; '.join(parts)}")
    model.load_state_dict(weights)
