"""Per-batch inputs fed to the DALI pipelines through `fn.external_source`.

A source is iterated once per epoch (DALI calls `iter()` again after `reset()`); each
`next()` returns one batch: the encoded files as per-sample arrays (their sizes differ), and
every other field (labels, positions, the random parameters drawn in `dali_pipes.draws`) as one
dense array whose leading axis is the batch, so the host work per batch does not grow with
per-sample Python.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from attention_swap_reid.dali_pipes.draws import draw_bot_params
from attention_swap_reid.dali_pipes.manifest import Sample
from attention_swap_reid.dali_pipes.sampler import PKSampler

TRAIN_OUTPUTS = ("image", "mask", "pid", "camid", "viewpoint", "label", "index", "position",
                 "flip", "crop_anchor", "erase_anchor", "erase_shape")
EVAL_OUTPUTS = ("image", "pid", "camid", "index", "mask")


def read_bytes(path: str) -> np.ndarray:
    """The file's bytes as a (n,) uint8 array (what DALI's decoders take)."""
    return np.fromfile(path, dtype=np.uint8)


_NO_PERSON = cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].reshape(-1)
"""A 1x1 empty mask PNG: resized (nearest) to any size it stays empty."""


def mask_bytes(sample: Sample) -> np.ndarray:
    """The encoded mask of `sample`; an empty mask for a row without one (never a ROI nor a donor)."""
    return read_bytes(sample.mask) if sample.mask else _NO_PERSON


@dataclass
class BotOptions:
    """BoT augmentation settings: flip probability, zero padding before the crop, erasing probability."""

    flip: float = 0.5
    pad: int = 10
    erasing: float = 0.5


class TrainSource:
    """One epoch of PK batches for one shard (outputs: `TRAIN_OUTPUTS`, without "mask"
    when `with_masks` is false). "position" holds each sample's global position in the epoch
    (the augmentation's RNG key, (B,) int64).

    With `with_keys`, `keys` receives, for every batch produced, ``(epoch, positions)``: the
    global positions of its samples in the epoch (the augmentation's RNG key). DALI runs
    operators (and the iterator yields batches) in batch order, so the augmentation pops them
    in the same order without a device sync.
    """

    def __init__(self, samples: list[Sample], labels: np.ndarray, sampler: PKSampler,
                 size: tuple[int, int], bot: BotOptions, with_masks: bool = True, with_keys: bool = True):
        self.samples, self.sampler = samples, sampler
        self.labels = np.asarray(labels, np.int64)
        self.pids, self.camids, self.viewpoints = (np.array([getattr(r, name) for r in samples], np.int64)
                                                   for name in ("pid", "camid", "viewpoint"))
        self.with_masks, self.with_keys = with_masks, with_keys
        self.size, self.bot = size, bot
        self.epoch = 0
        self.keys: deque = deque()
        self._plan = None
        self._step = 0

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names of what `next()` returns, in order."""
        return tuple(n for n in TRAIN_OUTPUTS if self.with_masks or n != "mask")

    def plan(self, epoch: int) -> np.ndarray:
        """(num_batches, B) sample indices of `epoch` for this shard."""
        return self.sampler.epoch(epoch)

    def __iter__(self):
        self._plan = None  # planned at the first batch: DALI restarts the iterator before `epoch` is set
        self._step = 0
        return self

    def __next__(self):
        if self._plan is None:
            self._plan = self.plan(self.epoch)
        if self._step >= len(self._plan):
            raise StopIteration
        step, idx = self._step, self._plan[self._step]
        self._step += 1
        batch = len(idx)
        s = self.sampler
        first = (step * s.num_shards + s.shard_id) * batch  # global position in the epoch
        positions = np.arange(first, first + batch, dtype=np.int64)
        if self.with_keys:
            self.keys.append((self.epoch, positions))
        params = draw_bot_params(batch, self.size, flip=self.bot.flip, pad=self.bot.pad,
                                 erasing=self.bot.erasing, seed=s.seed, epoch=self.epoch,
                                 shard=s.shard_id, step=step)
        rows = [self.samples[i] for i in idx]
        masks = [[mask_bytes(r) for r in rows]] if self.with_masks else []
        return (
            [read_bytes(r.image) for r in rows],
            *masks,
            self.pids[idx], self.camids[idx], self.viewpoints[idx], self.labels[idx],
            idx.astype(np.int64), positions,
            params.flip, params.crop_anchor, params.erase_anchor, params.erase_shape,
        )


def mask_batches(samples: list[Sample], batch_size: int):
    """Every sample's encoded mask once, in order: batches of (mask bytes, row index)."""
    for start in range(0, len(samples), batch_size):
        rows = range(start, min(start + batch_size, len(samples)))
        yield [mask_bytes(samples[i]) for i in rows], np.arange(rows.start, rows.stop, dtype=np.int64)


class EvalSource:
    """Every sample once, in manifest order, in batches of `batch_size` (the last may be smaller);
    outputs `EVAL_OUTPUTS`, without "mask" when `with_masks` is false."""

    def __init__(self, samples: list[Sample], batch_size: int, with_masks: bool = False):
        self.samples, self.batch_size, self.with_masks = samples, batch_size, with_masks
        self.pids, self.camids = (np.array([getattr(r, name) for r in samples], np.int64) for name in ("pid", "camid"))
        self._start = 0

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names of what `next()` returns, in order."""
        return tuple(n for n in EVAL_OUTPUTS if self.with_masks or n != "mask")

    def __len__(self) -> int:
        return -(-len(self.samples) // self.batch_size)

    def __iter__(self):
        self._start = 0
        return self

    def __next__(self):
        if self._start >= len(self.samples):
            raise StopIteration
        idx = np.arange(self._start, min(self._start + self.batch_size, len(self.samples)))
        self._start += self.batch_size
        rows = [self.samples[i] for i in idx]
        masks = [[mask_bytes(r) for r in rows]] if self.with_masks else []
        return ([read_bytes(r.image) for r in rows], self.pids[idx], self.camids[idx], idx, *masks)
