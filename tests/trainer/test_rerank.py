"""trainer.rerank: against a plain-Python transcription of Zhong et al. 2017, and properties."""
import math

import numpy as np
import pytest

from attention_swap_reid.trainer.evaluate import evaluate
from attention_swap_reid.trainer.rerank import rerank


def sq_dist(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def oracle(q_g, q_q, g_g, k1, k2, lam):
    """Loops and sets, float64; Jaccard with an explicit sum of maxima."""
    nq, ng = len(q_g), len(q_g[0])
    full = [list(q_q[i]) + list(q_g[i]) for i in range(nq)] + \
           [[q_g[j][i] for j in range(nq)] + list(g_g[i]) for i in range(ng)]
    n = nq + ng
    d = [[x / max(row) for x in row] for row in full]

    def nearest(i, k):  # k + 1 nearest, i itself included, ties by index
        return sorted(range(n), key=lambda j: (d[i][j], j))[:k + 1]

    def reciprocal(i, k):
        return {j for j in nearest(i, k) if i in nearest(j, k)}

    v = [[0.0] * n for _ in range(n)]
    for i in range(n):
        base = reciprocal(i, k1)
        expanded = set(base)
        for c in base:
            rc = reciprocal(c, round(k1 / 2))
            if len(rc & base) > 2 / 3 * len(rc):
                expanded |= rc
        total = sum(math.exp(-d[i][j]) for j in expanded)
        for j in expanded:
            v[i][j] = math.exp(-d[i][j]) / total
    if k2 > 1:
        v = [[sum(v[j][c] for j in nearest(i, k2 - 1)) / k2 for c in range(n)] for i in range(n)]
    out = np.zeros((nq, ng))
    for i in range(nq):
        for g in range(ng):
            vi, vg = v[i], v[nq + g]
            jac = 1 - sum(min(a, b) for a, b in zip(vi, vg)) / sum(max(a, b) for a, b in zip(vi, vg))
            out[i, g] = (1 - lam) * jac + lam * d[i][nq + g]
    return out


@pytest.mark.parametrize("nq,ng,k1,k2,lam", [(4, 12, 4, 3, 0.3), (6, 24, 20, 6, 0.3), (3, 9, 5, 1, 0.5)])
def test_matches_loop_oracle(nq, ng, k1, k2, lam):
    rng = np.random.default_rng(nq * 100 + ng)
    q, g = rng.normal(size=(nq, 4)), rng.normal(size=(ng, 4))
    q_g, q_q, g_g = sq_dist(q, g), sq_dist(q, q), sq_dist(g, g)
    got = rerank(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam)
    assert got.shape == (nq, ng) and got.dtype == np.float32
    np.testing.assert_allclose(got, oracle(q_g.tolist(), q_q.tolist(), g_g.tolist(), k1, k2, lam), atol=1e-5)


def test_lambda_one_gives_row_normalized_distance():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(5, 3)), rng.normal(size=(10, 3))
    q_g, q_q = sq_dist(q, g), sq_dist(q, q)
    got = rerank(q_g, q_q, sq_dist(g, g), lambda_value=1.0)
    row_max = np.maximum(q_q.max(1), q_g.max(1))[:, None]
    np.testing.assert_allclose(got, q_g / row_max, rtol=1e-5)


def test_separated_clusters_rank_perfectly():
    # two identities, features in tight, far-apart clusters: re-ranking keeps each cluster first
    rng = np.random.default_rng(1)
    centers = np.array([[0.0, 0.0], [10.0, 10.0]])
    g_pids = np.repeat([0, 1], 12)
    q_pids = np.array([0, 1])
    g = centers[g_pids] + rng.normal(scale=0.1, size=(24, 2))
    q = centers[q_pids] + rng.normal(scale=0.1, size=(2, 2))
    dist = rerank(sq_dist(q, g), sq_dist(q, q), sq_dist(g, g), k1=6, k2=3, lambda_value=0.3)
    r = evaluate(dist, q_pids, g_pids, np.zeros(2, int), np.ones(24, int), max_rank=10)
    assert r["mAP"] == 1.0
    assert (dist[0, :12].max() < dist[0, 12:].min()) and (dist[1, 12:].max() < dist[1, :12].min())


def test_bad_shapes():
    with pytest.raises(ValueError, match="expected q_q_dist"):
        rerank(np.zeros((2, 3)), np.zeros((3, 3)), np.zeros((3, 3)))
