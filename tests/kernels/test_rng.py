"""Counter-based RNG (kernels/rng.py): known values, wrapping, independence of keys."""
import numpy as np

from attention_swap_reid.kernels import rng


def test_mix_is_splitmix64():
    # The first output of the reference splitmix64 generator seeded with 0.
    assert rng._mix_int(rng.GOLDEN) == 0xE220A8397B1DCDAF
    z = np.array([rng.GOLDEN, 1, 2**63 + 12345, 2**64 - 1], np.uint64)
    assert [int(v) for v in rng._mix(z)] == [rng._mix_int(int(v)) for v in z]


def test_vector_hash_equals_scalar_definition():
    key = rng.epoch_key(7, 3)
    index = np.array([0, 1, 5, 2**40], np.int64)
    expected = []
    for i in index:
        h = rng._mix_int(((key ^ int(i)) + rng.GOLDEN) & rng.MASK64)
        expected.append(rng._mix_int(((h ^ 1) + rng.GOLDEN) & rng.MASK64))
    assert [int(v) for v in rng.sample_hash(key, index, 1)] == expected


def test_keys_differ_and_wrap():
    keys = {rng.epoch_key(s, e) for s in range(4) for e in range(4)}
    assert len(keys) == 16
    assert rng.epoch_key(-1, 0) == rng.epoch_key(2**64 - 1, 0)


def test_uniform_is_uniform_and_streams_independent():
    index = np.arange(200_000)
    u0 = rng.uniform(rng.sample_hash(rng.epoch_key(0, 0), index, 0))
    u1 = rng.uniform(rng.sample_hash(rng.epoch_key(0, 0), index, 1))
    assert 0.0 <= u0.min() and u0.max() < 1.0
    counts = np.histogram(u0, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - 20_000) < 5 * np.sqrt(20_000))
    assert abs(np.corrcoef(u0, u1)[0, 1]) < 0.01
