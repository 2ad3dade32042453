"""trainer.evaluate: hand-computed cases and a brute-force oracle on random data."""
import numpy as np
import pytest

from attention_swap_reid.trainer.evaluate import evaluate


def brute_force(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Independent oracle: explicit per-query sort (distance, then gallery index), filter, count."""
    cmcs, aps, inps = [], [], []
    for i in range(len(q_pids)):
        order = sorted(range(len(g_pids)), key=lambda j: (distmat[i][j], j))
        kept = [j for j in order if not (g_pids[j] == q_pids[i] and g_camids[j] == q_camids[i])]
        hits = [1 if g_pids[j] == q_pids[i] else 0 for j in kept]
        if sum(hits) == 0:
            continue
        first = hits.index(1)
        cmcs.append([1.0 if r >= first else 0.0 for r in range(max_rank)])
        found, precisions, last = 0, [], 0
        for rank, h in enumerate(hits, start=1):
            if h:
                found += 1
                precisions.append(found / rank)
                last = rank
        aps.append(sum(precisions) / len(precisions))
        inps.append(found / last)
    return np.mean(cmcs, axis=0), float(np.mean(aps)), float(np.mean(inps)), len(aps)


def test_hand_computed_same_camera_exclusion():
    # gallery ranked by distance: g0 same pid+cam (dropped), g1 miss, g2 hit, g3 miss, g4 hit
    distmat = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    r = evaluate(distmat, q_pids=np.array([1]), g_pids=np.array([1, 2, 1, 3, 1]),
                 q_camids=np.array([0]), g_camids=np.array([0, 1, 1, 1, 2]), max_rank=10)
    # kept ranking: miss, hit, miss, hit -> first hit at rank 2
    np.testing.assert_allclose(r["cmc"], [0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    assert r["mAP"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert r["mINP"] == pytest.approx(2 / 4)
    assert r["num_valid"] == 1


def test_only_same_pid_and_same_camera_is_dropped():
    # same pid other camera counts; other pid same camera stays as a distractor
    distmat = np.array([[0.1, 0.2]])
    r = evaluate(distmat, np.array([1]), np.array([2, 1]), np.array([0]), np.array([0, 1]), max_rank=10)
    assert r["cmc"][0] == 0 and r["cmc"][1] == 1
    assert r["mAP"] == pytest.approx(0.5)


def test_queries_without_matches_are_skipped():
    distmat = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.5, 0.5, 0.5]])
    q_pids, q_cams = np.array([1, 2, 3]), np.array([0, 0, 0])
    g_pids, g_cams = np.array([1, 2, 2]), np.array([1, 0, 1])
    # query 2 (pid 2): g1 same cam dropped, g2 hit at rank 1; query 3: pid 3 absent -> skipped
    r = evaluate(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    assert r["num_valid"] == 2
    assert r["cmc"][0] == 1.0 and r["mAP"] == 1.0 and r["mINP"] == 1.0


def test_query_whose_only_match_is_same_camera_is_skipped():
    r = evaluate(np.array([[0.1, 0.2], [0.1, 0.2]]), np.array([1, 2]), np.array([1, 2]),
                 np.array([0, 0]), np.array([0, 1]), max_rank=10)
    assert r["num_valid"] == 1  # query 1's only match shares its camera
    assert r["cmc"][0] == 0.0 and r["mAP"] == pytest.approx(0.5)


def test_ties_keep_gallery_order():
    same = np.array([[0.5, 0.5]])
    miss_first = evaluate(same, np.array([1]), np.array([2, 1]), np.array([0]), np.array([1, 1]), max_rank=10)
    hit_first = evaluate(same, np.array([1]), np.array([1, 2]), np.array([0]), np.array([1, 1]), max_rank=10)
    assert miss_first["cmc"][0] == 0.0 and miss_first["mAP"] == pytest.approx(0.5)
    assert hit_first["cmc"][0] == 1.0 and hit_first["mAP"] == 1.0


def test_max_rank_beyond_gallery_is_padded():
    r = evaluate(np.array([[0.3, 0.1, 0.2]]), np.array([1]), np.array([1, 2, 3]), np.array([0]),
                 np.array([1, 1, 1]), max_rank=50)
    assert r["cmc"].shape == (50,)
    np.testing.assert_allclose(r["cmc"], [0, 0] + [1] * 48)


def test_errors():
    with pytest.raises(ValueError, match="no query has a gallery match"):
        evaluate(np.array([[0.1]]), np.array([1]), np.array([2]), np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match=r"g_pids must have shape \(3,\)"):
        evaluate(np.zeros((2, 3)), np.array([1, 2]), np.array([1, 2]), np.array([0, 0]), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="distmat must be"):
        evaluate(np.zeros(3), np.array([1]), np.array([1]), np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.array([[np.nan]]), np.array([1]), np.array([1]), np.array([0]), np.array([1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    nq, ng, max_rank = 40, 150, 20
    q_pids, g_pids = rng.integers(0, 12, nq), rng.integers(0, 12, ng)
    q_cams, g_cams = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    distmat = np.round(rng.random((nq, ng)), 2)  # rounding makes many ties
    r = evaluate(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank)
    cmc, m_ap, m_inp, valid = brute_force(distmat.tolist(), q_pids.tolist(), g_pids.tolist(),
                                          q_cams.tolist(), g_cams.tolist(), max_rank)
    assert r["num_valid"] == valid
    np.testing.assert_allclose(r["cmc"], cmc, atol=1e-6)
    assert abs(r["mAP"] - m_ap) < 1e-6 and abs(r["mINP"] - m_inp) < 1e-6
    assert 0 <= r["mINP"] <= 1 and 0 <= r["mAP"] <= 1
