"""Donor draws: the random part of the augmentation, apart from applying it.

Sample i wants a swap when `u_i < p` (stream 0 of `rng`); if it has n_i > 0 candidates its
donor is the k-th candidate in pool order (batch 0..B-1, then bank slots B..), with
`k = h_i % n_i` (stream 1). Both draws depend only on (seed, epoch, index_i).
"""
from __future__ import annotations

import numpy as np

from . import rng
from .arrays import is_cupy
from .records import DonorDraw


def draw_donors(compat, index, *, p: float, seed: int, epoch: int) -> DonorDraw:
    """Draw donors from `compat` ((B, N) bool) for samples `index` ((B,) int64 >= 0)."""
    key = rng.epoch_key(seed, epoch)
    if is_cupy(compat):
        from . import cupy_ops

        return cupy_ops.draw_donors(compat, index, key, p)
    wanted = rng.uniform(rng.sample_hash(key, index, rng.STREAM_SWAP)) < p
    candidates = compat.sum(axis=1, dtype=np.int32)
    k = rng.sample_hash(key, index, rng.STREAM_DONOR) % np.maximum(candidates, 1).astype(np.uint64)
    chosen = (np.cumsum(compat, axis=1) > k.astype(np.int64)[:, None]).argmax(axis=1)
    donor = np.where(wanted & (candidates > 0), chosen, -1).astype(np.int64)
    return DonorDraw(donor=donor, wanted=wanted, candidates=candidates)
