"""Donor draws (kernels/donors.py): rates, uniformity, reproducibility, keys."""
import numpy as np
import pytest

from attention_swap_reid.kernels import draw_donors


def full_compat(b, n=None):
    compat = np.ones((b, n or b), bool)
    compat[:, :b] &= ~np.eye(b, dtype=bool)
    return compat


def test_shapes_and_dtypes():
    d = draw_donors(full_compat(5), np.arange(5), p=0.5, seed=0, epoch=0)
    assert d.donor.dtype == np.int64 and d.wanted.dtype == bool and d.candidates.dtype == np.int32
    assert d.donor.shape == d.wanted.shape == d.candidates.shape == (5,)
    assert d.candidates.tolist() == [4] * 5


def test_p_zero_and_one():
    compat = full_compat(40)
    compat[3] = False  # sample 3 has no candidate
    none = draw_donors(compat, np.arange(40), p=0.0, seed=1, epoch=0)
    assert not none.wanted.any() and (none.donor == -1).all()
    every = draw_donors(compat, np.arange(40), p=1.0, seed=1, epoch=0)
    assert every.wanted.all() and every.donor[3] == -1 and (np.delete(every.donor, 3) >= 0).all()


def test_donors_are_candidates():
    rng = np.random.default_rng(0)
    compat = rng.random((64, 100)) < 0.1
    d = draw_donors(compat, np.arange(64), p=1.0, seed=2, epoch=5)
    has = compat.any(axis=1)
    assert (d.donor[~has] == -1).all()
    assert compat[np.flatnonzero(has), d.donor[has]].all()


def test_uniform_among_candidates():
    compat = np.zeros((20_000, 10), bool)
    compat[:, [1, 4, 7, 8]] = True
    d = draw_donors(compat, np.arange(20_000), p=1.0, seed=3, epoch=0)
    counts = np.bincount(d.donor, minlength=10)[[1, 4, 7, 8]]
    assert np.all(np.abs(counts - 5000) < 5 * np.sqrt(5000 * 0.75))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_swap_rate_is_p(p):
    compat = full_compat(50)
    wanted = [draw_donors(compat, np.arange(k * 50, k * 50 + 50), p=p, seed=4, epoch=1).wanted for k in range(400)]
    assert abs(np.mean(wanted) - p) < 4 * np.sqrt(p * (1 - p) / 20_000)


def test_draws_depend_only_on_seed_epoch_index():
    compat = full_compat(8)
    index = np.array([10, 11, 12, 13, 14, 15, 16, 17])
    a = draw_donors(compat, index, p=0.5, seed=7, epoch=3)
    b = draw_donors(compat, index, p=0.5, seed=7, epoch=3)
    assert np.array_equal(a.donor, b.donor) and np.array_equal(a.wanted, b.wanted)
    order = np.array([3, 0, 7, 1, 6, 2, 5, 4])
    c = draw_donors(compat, index[order], p=0.5, seed=7, epoch=3)
    assert np.array_equal(c.wanted, a.wanted[order])  # a sample's swap decision follows its index
    others = [draw_donors(compat, index, p=0.5, seed=s, epoch=e).wanted for s, e in ((8, 3), (7, 4))]
    assert all(not np.array_equal(o, a.wanted) for o in others)
