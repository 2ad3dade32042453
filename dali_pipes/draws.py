"""Seeded draws of the BoT augmentation parameters (flip, pad+crop, random erasing).

Draw and application are separate: these pure functions turn ``(seed, epoch, shard, batch)``
into explicit per-sample parameters, one array per field for the whole batch (no loop over the
samples), that DALI operators or the GPU tail kernel then apply, so every batch can be replayed
exactly (resume, two shards, two devices).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BotParams:
    """Per-sample parameters for one batch of B samples.

    flip: (B,) int32 0/1 horizontal flip; crop_anchor: (B, 2) float32 (y, x) of the HxW crop
    window in the unpadded image (negative = inside the zero padding); erase_anchor,
    erase_shape: (B, 2) float32 (y, x) and (h, w) of the erased rectangle (shape 0 = none).
    """

    flip: np.ndarray
    crop_anchor: np.ndarray
    erase_anchor: np.ndarray
    erase_shape: np.ndarray


ERASE_ATTEMPTS = 16
"""Candidate rectangles drawn per sample; the first that fits the image is used (BoT tries up to
100 one at a time; at 16 a sample finds none with probability below 1e-6 at 256x128)."""


def _erasing(rng: np.random.Generator, batch: int, height: int, width: int, p: float,
             area: tuple[float, float] = (0.02, 0.4), aspect: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Random-erasing rectangles as BoT draws them (area 2-40 %, aspect 0.3-3.33), for the whole
    batch at once: (B, 2) float32 anchors (y, x) and shapes (h, w), shape 0 where none."""
    erase = rng.random(batch) < p
    target = rng.uniform(*area, size=(batch, ERASE_ATTEMPTS)) * height * width
    ratio = rng.uniform(aspect, 1.0 / aspect, size=(batch, ERASE_ATTEMPTS))
    h = np.round(np.sqrt(target * ratio)).astype(np.int64)
    w = np.round(np.sqrt(target / ratio)).astype(np.int64)
    fits = (h > 0) & (h < height) & (w > 0) & (w < width)
    first = fits.argmax(axis=1)
    rows = np.arange(batch)
    h, w = h[rows, first], w[rows, first]
    erase &= fits[rows, first]
    y = np.floor(rng.random(batch) * (height - h + 1))
    x = np.floor(rng.random(batch) * (width - w + 1))
    anchor = np.where(erase[:, None], np.stack([y, x], axis=1), 0.0).astype(np.float32)
    shape = np.where(erase[:, None], np.stack([h, w], axis=1), 0).astype(np.float32)
    return anchor, shape


def draw_bot_params(batch: int, size: tuple[int, int], *, flip: float, pad: int, erasing: float,
                    seed: int, epoch: int, shard: int, step: int) -> BotParams:
    """Draw the flip / pad-crop / erasing parameters of one batch (`size` = (H, W)), vectorised."""
    height, width = size
    rng = np.random.default_rng([seed, epoch, shard, step, 0xB07])
    flips = (rng.random(batch) < flip).astype(np.int32)
    crop = (rng.integers(0, 2 * pad + 1, size=(batch, 2)) - pad).astype(np.float32)
    erase_anchor, erase_shape = _erasing(rng, batch, height, width, erasing)
    return BotParams(flip=flips, crop_anchor=crop, erase_anchor=erase_anchor, erase_shape=erase_shape)
