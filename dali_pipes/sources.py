"""Per-batch inputs fed to the DALI pipelines through `fn.external_source`.

The training source hands DALI one dense array per batch: each sample's row packs its labels,
positions and drawn BoT parameters (`dali_pipes.draws`) and its encoded image and mask files
(`RowLayout`); the graph cuts the rows back into fields (`pipeline.source_inputs`). DALI takes a
dense batch at one fixed cost on the thread that feeds it, a list of per-sample arrays at a cost
per sample. A batch is a pure function of (epoch, step), so it can be computed anywhere: on the
main thread, or in worker processes that read the files there (`dali_pipes.source_workers`).
The evaluation source is an iterator of per-sample arrays, run on the main thread.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral, Real

import cv2
import numpy as np

from attention_swap_reid.dali_pipes.draws import draw_bot_params
from attention_swap_reid.dali_pipes.manifest import Sample
from attention_swap_reid.dali_pipes.sampler import PKSampler

INTEGER_FIELDS = ("pid", "camid", "viewpoint", "label", "index", "position", "flip", "image_length", "mask_length")
"""The int64 fields of a training row: labels, row index, position in the epoch, flip bit, and
the byte lengths of the encoded image and mask files (0 without masks)."""
FLOAT_FIELDS = {"crop_anchor": 2, "erase_anchor": 2, "erase_shape": 2}
"""name -> width: the float32 fields of a training row, in order."""
EVAL_OUTPUTS = ("image", "pid", "camid", "index", "mask")


def read_bytes(path: str) -> np.ndarray:
    """The file's bytes as a (n,) uint8 array (what DALI's decoders take)."""
    return np.fromfile(path, dtype=np.uint8)


_NO_PERSON = cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].reshape(-1)
"""A 1x1 empty mask PNG: resized (nearest) to any size it stays empty."""


def mask_bytes(sample: Sample) -> np.ndarray:
    """The encoded mask of `sample`; an empty mask for a row without one (never a ROI nor a donor)."""
    return read_bytes(sample.mask) if sample.mask else _NO_PERSON


@dataclass(frozen=True)
class RowLayout:
    """Where a training sample's fields lie in its row of uint8: `INTEGER_FIELDS` (int64), then
    `FLOAT_FIELDS` (float32), then the encoded image file (room for `image_bytes`), then the
    encoded mask file (room for `mask_bytes`; 0 without masks). Bytes past a file's length are
    zero, and never read."""

    image_bytes: int
    mask_bytes: int

    floats_at = 8 * len(INTEGER_FIELDS)
    image_at = floats_at + 4 * sum(FLOAT_FIELDS.values())

    @property
    def mask_at(self) -> int:
        return self.image_at + self.image_bytes

    @property
    def row_bytes(self) -> int:
        return self.mask_at + self.mask_bytes


@dataclass(frozen=True)
class BotOptions:
    """The BoT augmentation (Luo et al., "Bag of Tricks"), drawn per sample after the attention
    augmentation.

    flip: float in [0, 1], default 0.5. Probability of a horizontal flip.
    pad: int >= 0, default 10. Zero padding (pixels, each side) before the random crop back to
        the output size; 0 crops nothing away.
    erasing: float in [0, 1], default 0.5. Probability of random erasing (one rectangle filled
        with the mean colour).
    """

    flip: float = 0.5
    pad: int = 10
    erasing: float = 0.5

    def __post_init__(self) -> None:
        for name in ("flip", "erasing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if isinstance(self.pad, bool) or not isinstance(self.pad, Integral) or self.pad < 0:
            raise ValueError(f"pad must be an integer >= 0, got {self.pad!r}")


class TrainSource:
    """One epoch after another of PK batches for one shard, as DALI's per-batch callable:
    `source(info)` is batch `info.iteration` of epoch `first_epoch + info.epoch_idx` (DALI counts
    its epochs from the pipeline's build: set `first_epoch` before building it) as a
    (B, layout.row_bytes) uint8 array of rows (`RowLayout`), and raises StopIteration after the
    epoch's last batch. "position" holds each sample's global position in the epoch (the
    augmentation's RNG key). Masks are in the rows when `with_masks`.

    A batch depends on nothing but (epoch, step): `fill` computes it anywhere, in any order, in
    a copy of the source (it pickles for worker processes). The layout makes room for the
    longest image and mask file of `samples` (their sizes, read once here).
    """

    def __init__(self, samples: list[Sample], labels: np.ndarray, sampler: PKSampler,
                 size: tuple[int, int], bot: BotOptions, with_masks: bool = True):
        self.samples, self.sampler = samples, sampler
        self.labels = np.asarray(labels, np.int64)
        self.pids, self.camids, self.viewpoints = (np.array([getattr(r, name) for r in samples], np.int64)
                                                   for name in ("pid", "camid", "viewpoint"))
        self.with_masks = with_masks
        self.size, self.bot = size, bot
        longest_mask = max([len(_NO_PERSON), *(os.path.getsize(r.mask) for r in samples if r.mask)])
        self.layout = RowLayout(max((os.path.getsize(r.image) for r in samples), default=0),
                                longest_mask if with_masks else 0)
        self.first_epoch = 0
        self._plan: tuple[int, np.ndarray] | None = None  # (epoch, its plan): the epoch being served

    def plan(self, epoch: int) -> np.ndarray:
        """(num_batches, B) sample indices of `epoch` for this shard."""
        if self._plan is None or self._plan[0] != epoch:
            self._plan = (epoch, self.sampler.epoch(epoch))
        return self._plan[1]

    def __call__(self, info) -> np.ndarray:
        epoch = self.first_epoch + info.epoch_idx
        if info.iteration >= len(self.plan(epoch)):
            raise StopIteration
        rows = np.empty((self.sampler.batch_size, self.layout.row_bytes), np.uint8)
        self.fill(rows, epoch, info.iteration)
        return rows

    def fill(self, rows: np.ndarray, epoch: int, step: int) -> None:
        """Write batch `step` of `epoch` into `rows` (B, layout.row_bytes) uint8."""
        idx = self.plan(epoch)[step]
        batch, layout = len(idx), self.layout
        s = self.sampler
        first = (step * s.num_shards + s.shard_id) * batch  # global position in the epoch
        params = draw_bot_params(batch, self.size, flip=self.bot.flip, pad=self.bot.pad,
                                 erasing=self.bot.erasing, seed=s.seed, epoch=epoch,
                                 shard=s.shard_id, step=step)
        lengths = np.zeros((2, batch), np.int64)
        rows[:, layout.image_at:] = 0  # past each file: zeros, so that a batch's bytes are a function of (epoch, step)
        for k, i in enumerate(idx):
            files = [(read_bytes(self.samples[i].image), layout.image_at)]
            if self.with_masks:
                files.append((mask_bytes(self.samples[i]), layout.mask_at))
            for f, (data, at) in enumerate(files):
                rows[k, at: at + len(data)] = data
                lengths[f, k] = len(data)
        integers = np.stack([self.pids[idx], self.camids[idx], self.viewpoints[idx], self.labels[idx], idx,
                             np.arange(first, first + batch), params.flip, *lengths], axis=1).astype(np.int64)
        rows[:, : layout.floats_at] = integers.view(np.uint8)
        floats = np.concatenate([params.crop_anchor, params.erase_anchor, params.erase_shape], axis=1, dtype=np.float32)
        rows[:, layout.floats_at: layout.image_at] = floats.view(np.uint8)


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
