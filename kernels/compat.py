"""All-pairs donor compatibility.

Sample i (of the batch) accepts donor j (of the pool: the batch itself, then the donor bank)
when all hold: both ROIs non-empty; j is not i; pid_j != pid_i (pid_j == pid_i with
`same_identity`, a control of `controls.DONORS`, numpy only); same viewpoint when
`same_viewpoint` and both are known (>= 0); min(A_i, A_j) >= min_area_ratio * max(A_i, A_j);
and inter >= min_iou * union > 0 for the normalized masks, with union = n_i + n_j - inter.
The comparisons run in float64 in both backends. All-pairs `inter` is exact in both: the cupy
backend takes it from the float32 matrix product N_batch @ N_pool.T (cuBLAS; 0/1 products
summed below 2**24); the numpy backend counts the same ones as popcounts of bit-packed masks,
because a small multi-threaded BLAS product can be 100x slower on a busy CPU.
"""
from __future__ import annotations

import numpy as np

from .arrays import is_cupy
from .records import DonorKeys


def compatibility(batch: DonorKeys, pool: DonorKeys, *, min_area_ratio: float, min_iou: float,
                  same_viewpoint: bool, same_identity: bool = False):
    """(B, N) bool: entry (i, j) says whether pool sample j may donate to batch sample i.

    The first B pool entries must be the batch itself (so that j == i is excluded there).
    `same_identity` (numpy only): donors of the sample's own pid instead of other pids.
    """
    if is_cupy(batch.normalized):
        if same_identity:
            raise ValueError("compatibility: same_identity runs on the numpy backend only")
        from . import cupy_ops

        return cupy_ops.compatibility(batch, pool, min_area_ratio, min_iou, same_viewpoint)
    b = batch.normalized.shape[0]
    inter = _intersections(batch.normalized, pool.normalized).astype(np.float64)
    ones_i = batch.normalized.sum(axis=1, dtype=np.float64)[:, None]
    union = ones_i + pool.normalized.sum(axis=1, dtype=np.float64) - inter
    a_i = batch.areas.astype(np.float64)[:, None]
    a_j = pool.areas.astype(np.float64)[None, :]
    ok = (a_i > 0) & (a_j > 0)
    ok &= np.minimum(a_i, a_j) >= min_area_ratio * np.maximum(a_i, a_j)
    ok &= (union > 0) & (inter >= min_iou * union)
    ok &= (batch.pids[:, None] == pool.pids[None, :]) == same_identity
    if same_viewpoint:
        v_i, v_j = batch.viewpoints[:, None], pool.viewpoints[None, :]
        ok &= (v_i < 0) | (v_j < 0) | (v_i == v_j)
    ok[:, :b] &= ~np.eye(b, dtype=bool)
    return ok


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(B, N) int64 counts of common ones of 0/1 rows (B, K) and (N, K): popcounts of packed bits."""
    words = -(-a.shape[1] // 64)
    packed = [np.zeros((len(x), words * 8), np.uint8) for x in (a, b)]
    for dst, src in zip(packed, (a, b)):
        bits = np.packbits(src != 0, axis=1)
        dst[:, : bits.shape[1]] = bits
    pa, pb = (p.view(np.uint64) for p in packed)
    return np.bitwise_count(pa[:, None, :] & pb[None, :, :]).sum(axis=2, dtype=np.int64)
