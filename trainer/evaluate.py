"""ReID evaluation: CMC, mAP and mINP under the standard protocol (docs/design.md).

For each query: rank the gallery by distance, drop gallery items with the query's pid **and**
camid, skip the query if no match is left. CMC = mean over valid queries of the cumulative hit
indicator; AP = mean of the precision at each hit; INP = hits / (rank of the last hit)
(Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook", 2021).
"""
from __future__ import annotations

import numpy as np


def _check(distmat, q_pids, g_pids, q_camids, g_camids, max_rank) -> np.ndarray:
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be (num_query, num_gallery), got shape {distmat.shape}")
    nq, ng = distmat.shape
    for name, arr, n in (("q_pids", q_pids, nq), ("q_camids", q_camids, nq),
                         ("g_pids", g_pids, ng), ("g_camids", g_camids, ng)):
        if np.shape(arr) != (n,):
            raise ValueError(f"{name} must have shape ({n},) to match distmat {distmat.shape}, "
                             f"got {np.shape(arr)}")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    if not np.isfinite(distmat).all():
        raise ValueError("distmat contains NaN or infinite values")
    return distmat


def evaluate(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50) -> dict:
    """Evaluate a query x gallery distance matrix.

    Args:
        distmat: (Q, G) float, smaller = more similar (NumPy array or anything `np.asarray` takes).
        q_pids, q_camids: (Q,) int; g_pids, g_camids: (G,) int.
        max_rank: length of the CMC curve.

    Returns a dict: "cmc" (max_rank,) float64 with cmc[k] = share of valid queries matched within
    the top k+1; "mAP", "mINP" floats; all fractions in [0, 1]; "num_valid" int (queries kept).

    Ties: the ranking is a *stable* sort by distance, so gallery items at equal distance keep
    their gallery order (the lower gallery index ranks first). When a query's remaining
    gallery is shorter than `max_rank`, its curve is padded with its last value (1: a valid query
    always has a hit). Raises ValueError on mismatched shapes, non-finite distances, or when no
    query has a match.
    """
    distmat = _check(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    order = np.argsort(distmat, axis=1, kind="stable")  # (Q, G)
    matches = g_pids[order] == q_pids[:, None]  # (Q, G) bool, in ranked order
    keep = ~(matches & (g_camids[order] == q_camids[:, None]))  # drop same pid and same camera

    cmc_sum = np.zeros(max_rank, dtype=np.float64)
    ap_sum = inp_sum = 0.0
    num_valid = 0
    for hits, kept in zip(matches, keep):
        hits = hits[kept]
        if not hits.any():
            continue
        num_valid += 1
        positions = np.flatnonzero(hits)  # 0-based ranks of the hits
        first = positions[0]
        if first < max_rank:
            cmc_sum[first:] += 1
        precision = np.arange(1, len(positions) + 1) / (positions + 1)
        ap_sum += precision.mean()
        inp_sum += len(positions) / (positions[-1] + 1)
    if num_valid == 0:
        raise ValueError("no query has a gallery match from another camera; cannot evaluate")
    return {"cmc": cmc_sum / num_valid, "mAP": ap_sum / num_valid, "mINP": inp_sum / num_valid,
            "num_valid": num_valid}
