"""Seeded draws of the BoT augmentation parameters (flip, pad+crop, random erasing).

Draw and application are separate (STYLE rule 3): these pure functions turn
``(seed, epoch, shard, batch)`` into explicit per-sample parameters that DALI operators then
apply, so every batch can be replayed exactly (resume, two shards, two devices).
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


def _erasing(rng: np.random.Generator, height: int, width: int, p: float,
             area: tuple[float, float] = (0.02, 0.4), aspect: float = 0.3, attempts: int = 100):
    """One random-erasing rectangle as BoT draws it (area 2-40 %, aspect 0.3-3.33)."""
    if rng.random() >= p:
        return (0.0, 0.0), (0.0, 0.0)
    for _ in range(attempts):
        target = rng.uniform(*area) * height * width
        ratio = rng.uniform(aspect, 1.0 / aspect)
        h = int(round(np.sqrt(target * ratio)))
        w = int(round(np.sqrt(target / ratio)))
        if 0 < h < height and 0 < w < width:
            return (float(rng.integers(0, height - h + 1)), float(rng.integers(0, width - w + 1))), (float(h), float(w))
    return (0.0, 0.0), (0.0, 0.0)


def draw_bot_params(batch: int, size: tuple[int, int], *, flip: float, pad: int, erasing: float,
                    seed: int, epoch: int, shard: int, step: int) -> BotParams:
    """Draw the flip / pad-crop / erasing parameters of one batch (`size` = (H, W))."""
    height, width = size
    rng = np.random.default_rng([seed, epoch, shard, step, 0xB07])
    flips = (rng.random(batch) < flip).astype(np.int32)
    crop = (rng.integers(0, 2 * pad + 1, size=(batch, 2)) - pad).astype(np.float32)
    erase = [_erasing(rng, height, width, erasing) for _ in range(batch)]
    return BotParams(
        flip=flips,
        crop_anchor=crop,
        erase_anchor=np.array([a for a, _ in erase], np.float32).reshape(batch, 2),
        erase_shape=np.array([s for _, s in erase], np.float32).reshape(batch, 2),
    )
