from collections import Counter

import numpy as np
import pytest

from attention_swap_reid.dali_pipes.sampler import PKSampler


def _pids(seed=0, ids=40, singles=3):
    rng = np.random.default_rng(seed)
    counts = rng.integers(2, 15, size=ids)
    counts[:singles] = 1  # identities with a single image
    return np.repeat(np.arange(100, 100 + ids), counts)


@pytest.mark.parametrize("p,k", [(4, 4), (8, 2), (5, 3)])
def test_batches_are_p_identities_times_k_and_cover_every_image(p, k):
    pids = _pids()
    plan = PKSampler(pids, p, k, seed=1).epoch(0)
    assert plan.shape[1] == p * k
    for batch in plan:
        counts = Counter(pids[batch].tolist())
        assert len(counts) == p and set(counts.values()) == {k}
    assert set(plan.ravel().tolist()) == set(range(len(pids)))


def test_seed_and_epoch_determine_the_plan():
    pids = _pids()
    a, b = PKSampler(pids, 4, 4, seed=3), PKSampler(pids, 4, 4, seed=3)
    assert np.array_equal(a.epoch(5), b.epoch(5))
    assert not np.array_equal(a.epoch(5)[:3], a.epoch(6)[:3])
    assert not np.array_equal(a.epoch(5)[:3], PKSampler(pids, 4, 4, seed=4).epoch(5)[:3])


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_are_disjoint_equal_length_and_cover_the_epoch(shards):
    pids = _pids(ids=60)
    plans = [PKSampler(pids, 4, 4, seed=0, shard_id=s, num_shards=shards).epoch(2) for s in range(shards)]
    assert len({len(p) for p in plans}) == 1
    sets = [set(p.ravel().tolist()) for p in plans]
    for i in range(shards):
        for j in range(i + 1, shards):
            assert not sets[i] & sets[j]
    assert set().union(*sets) == set(range(len(pids)))


def test_impossible_p_is_a_clear_error():
    with pytest.raises(ValueError, match="P=50 identities per batch x 1 shard.*needs 50.*has 40"):
        PKSampler(_pids(), 50, 4)
    with pytest.raises(ValueError, match="shard_id"):
        PKSampler(_pids(), 4, 4, shard_id=2, num_shards=2)
