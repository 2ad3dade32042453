"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017), in NumPy.

Over the N = Q + G probe and gallery items, with d the given distances scaled by each row's
maximum:

1. N(i, k): the k + 1 nearest items of i (i itself included); the k-reciprocal set
   R(i, k) = {j in N(i, k) : i in N(j, k)}.
2. Expansion: R*(i) = R(i, k1) united with every R(c, round(k1 / 2)), c in R(i, k1), that shares
   more than 2/3 of its items with R(i, k1).
3. V[i, j] = exp(-d[i, j]) / sum_{j' in R*(i)} exp(-d[i, j']) for j in R*(i), else 0.
4. Local query expansion: V[i] = mean of V[j] over the k2 nearest j of i (k2 = 1: none).
5. Jaccard distance d_J(i, j) = 1 - sum min(V_i, V_j) / sum max(V_i, V_j); rows of V sum to 1,
   so sum max = 2 - sum min.
6. Final distance = (1 - lambda) * d_J + lambda * d.
Rankings use a stable sort (ties keep index order).
"""
from __future__ import annotations

import numpy as np


def _reciprocal(ranks: np.ndarray, i: int, k: int) -> np.ndarray:
    """R(i, k): items among the k + 1 nearest of i that have i among their k + 1 nearest."""
    forward = ranks[i, :k + 1]
    return forward[(ranks[forward, :k + 1] == i).any(axis=1)]


def _expanded_set(ranks: np.ndarray, i: int, k1: int) -> np.ndarray:
    base = _reciprocal(ranks, i, k1)
    members = [base]
    half = int(np.around(k1 / 2))
    for c in base:
        candidate = _reciprocal(ranks, int(c), half)
        if len(np.intersect1d(candidate, base)) > 2 / 3 * len(candidate):
            members.append(candidate)
    return np.unique(np.concatenate(members))


def rerank(q_g_dist: np.ndarray, q_q_dist: np.ndarray, g_g_dist: np.ndarray,
           k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> np.ndarray:
    """Re-rank a query-gallery distance matrix.

    Args:
        q_g_dist: (Q, G), q_q_dist: (Q, Q), g_g_dist: (G, G) non-negative distances (BoT passes
            squared Euclidean distances of the features); used as given.
        k1, k2, lambda_value: the paper's parameters (20, 6, 0.3 on Market-1501).

    Returns (Q, G) float32 re-ranked distances (smaller = more similar). Memory is O((Q+G)^2).
    """
    q_g_dist, q_q_dist, g_g_dist = (np.asarray(a, dtype=np.float32) for a in (q_g_dist, q_q_dist, g_g_dist))
    nq, ng = q_g_dist.shape
    if q_q_dist.shape != (nq, nq) or g_g_dist.shape != (ng, ng):
        raise ValueError(f"expected q_q_dist ({nq}, {nq}) and g_g_dist ({ng}, {ng}) for q_g_dist "
                         f"{q_g_dist.shape}, got {q_q_dist.shape} and {g_g_dist.shape}")
    if k1 < 1 or k2 < 1 or not 0 <= lambda_value <= 1:
        raise ValueError(f"need k1 >= 1, k2 >= 1, 0 <= lambda_value <= 1; got {k1}, {k2}, {lambda_value}")
    dist = np.block([[q_q_dist, q_g_dist], [q_g_dist.T, g_g_dist]])  # (N, N)
    dist = dist / np.maximum(dist.max(axis=1, keepdims=True), np.finfo(np.float32).tiny)
    n = dist.shape[0]
    ranks = np.argsort(dist, axis=1, kind="stable")

    v = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        members = _expanded_set(ranks, i, min(k1, n - 1))
        weight = np.exp(-dist[i, members])
        v[i, members] = weight / weight.sum()
    if k2 > 1:
        v = np.stack([v[ranks[i, :k2]].mean(axis=0) for i in range(n)])

    jaccard = np.empty((nq, ng), dtype=np.float32)
    gallery = v[nq:]  # (G, N)
    for i in range(nq):
        nonzero = np.flatnonzero(v[i])
        shared = np.minimum(v[i, nonzero], gallery[:, nonzero]).sum(axis=1)  # (G,)
        jaccard[i] = 1 - shared / (2 - shared)
    return (1 - lambda_value) * jaccard + lambda_value * dist[:nq, nq:]
