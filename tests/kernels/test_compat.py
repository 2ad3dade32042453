"""All-pairs compatibility (kernels/compat.py) against a per-pair brute force built on cv2.resize."""
import numpy as np
import pytest

from attention_swap_reid.kernels import CANVAS, DonorKeys, compatibility, normalize_masks, roi_masks

RULES = dict(min_area_ratio=0.8, min_iou=0.5, same_viewpoint=True)


def keys_of(masks, pids, viewpoints, roi="full"):
    r = roi_masks(masks, roi)
    return DonorKeys(r.areas, normalize_masks(r), np.asarray(pids, np.int64), np.asarray(viewpoints, np.int64))


def brute_force(masks, pids, viewpoints, normalized_by, i, j, min_area_ratio, min_iou, same_viewpoint,
                same_identity=False):
    """Whether j may donate to i, from the raw masks, one pair at a time."""
    a_i, a_j = int(np.count_nonzero(masks[i])), int(np.count_nonzero(masks[j]))
    if i == j or a_i == 0 or a_j == 0 or (pids[i] == pids[j]) != same_identity:
        return False
    if same_viewpoint and viewpoints[i] >= 0 and viewpoints[j] >= 0 and viewpoints[i] != viewpoints[j]:
        return False
    if min(a_i, a_j) / max(a_i, a_j) < min_area_ratio:
        return False
    n_i, n_j = normalized_by(masks[i], CANVAS) > 0, normalized_by(masks[j], CANVAS) > 0
    union = np.count_nonzero(n_i | n_j)
    return union > 0 and np.count_nonzero(n_i & n_j) / union >= min_iou


@pytest.mark.parametrize("rules", [RULES, dict(min_area_ratio=0.6, min_iou=0.3, same_viewpoint=False),
                                   dict(min_area_ratio=0.0, min_iou=0.0, same_viewpoint=True),
                                   dict(RULES, same_identity=True),
                                   dict(min_area_ratio=0.0, min_iou=0.0, same_viewpoint=False, same_identity=True)])
def test_matches_brute_force(make_batch, cv2_normalized, rules):
    data = make_batch(24, 64, 32, seed=4, ids=6, views=3)
    masks, pids, views = data["masks"], data["pids"], data["viewpoints"]
    masks[5] = 0
    views[::4] = -1
    got = compatibility(keys_of(masks, pids, views), keys_of(masks, pids, views), **rules)
    assert got.dtype == bool and got.shape == (24, 24)
    expected = [[brute_force(masks, pids, views, cv2_normalized, i, j, **rules) for j in range(24)] for i in range(24)]
    assert np.array_equal(got, np.array(expected))
    assert 0 < got.sum() < 24 * 23  # the rules both accept and reject here


def test_pool_beyond_the_batch_excludes_self_only_in_the_batch(make_batch):
    data = make_batch(6, seed=5, ids=6)
    masks, pids, views = data["masks"], np.arange(6), np.zeros(6)
    batch = keys_of(masks, pids, views)
    pool = keys_of(np.concatenate([masks, masks]), np.concatenate([pids, pids + 100]), np.zeros(12))
    got = compatibility(batch, pool, min_area_ratio=0.0, min_iou=0.0, same_viewpoint=True)
    assert got.shape == (6, 12)
    assert not got[:, :6].diagonal().any() and got[:, 6:].diagonal().all()


def two(masks_b, pids=(0, 1), views=(0, 0), **rules):
    keys = keys_of(np.stack(masks_b), pids, views)
    return compatibility(keys, keys, **(RULES | rules))[0, 1]


def rect(h0, h1, w0, w1, shape=(32, 16)):
    m = np.zeros(shape, np.uint8)
    m[h0:h1, w0:w1] = 1
    return m


def test_rules_one_at_a_time():
    a = rect(4, 28, 4, 12)
    assert two([a, a])  # identical shapes, other pid, same viewpoint
    assert not two([a, a], pids=(3, 3))
    assert not two([a, a], views=(0, 1))
    assert two([a, a], views=(0, 1), same_viewpoint=False)
    assert two([a, a], views=(-1, 1)) and two([a, a], views=(2, -1))
    assert not two([a, np.zeros_like(a)]) and not two([np.zeros_like(a), a])
    half = rect(4, 16, 4, 12)  # same width, half the height: IoU of normalized masks 0.5
    assert not two([a, half])  # area ratio 0.5 < 0.8
    assert two([a, half], min_area_ratio=0.5)
    assert not two([a, half], min_area_ratio=0.5, min_iou=0.51)
    assert not two([a, half], min_area_ratio=0.51, min_iou=0.5)


def test_asymmetric_only_through_self_and_pool():
    keys = keys_of(np.stack([rect(2, 30, 2, 14), rect(4, 28, 4, 12), rect(0, 32, 0, 16)]), [0, 1, 2], [0, 0, 0])
    got = compatibility(keys, keys, **RULES)
    assert np.array_equal(got, got.T)
