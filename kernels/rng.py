"""Counter-based random numbers: a splitmix64 hash of (seed, epoch, sample index, stream).

No state: a draw depends only on its key, so results replay exactly and the NumPy code here
and the CUDA code in `cuda/donors.cu` (which repeats `_mix` line for line) give the same draws.

    key    = mix(mix(seed + G) ^ epoch + G)          # host, Python ints
    h      = mix(mix(key ^ index + G) ^ stream + G)  # per sample, uint64 arithmetic (wraps)
    u      = (h >> 11) * 2**-53                      # uniform in [0, 1), 53 bits

with `mix` the splitmix64 finalizer and G = 0x9E3779B97F4A7C15. Streams: 0 = the swap
decision (`u < p`), 1 = the donor choice (`h % n_candidates`).
"""
from __future__ import annotations

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
STREAM_SWAP = 0
STREAM_DONOR = 1


def _mix_int(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def epoch_key(seed: int, epoch: int) -> int:
    """The 64-bit key of (seed, epoch), an int in [0, 2**64); negative values wrap."""
    key = _mix_int((seed + GOLDEN) & MASK64)
    return _mix_int(((key ^ (epoch & MASK64)) + GOLDEN) & MASK64)


def sample_hash(key: int, index: np.ndarray, stream: int) -> np.ndarray:
    """(B,) uint64 hashes of each sample's `index` ((B,) int64 >= 0) in `stream`."""
    golden = np.uint64(GOLDEN)
    h = _mix((np.uint64(key) ^ index.astype(np.uint64)) + golden)
    return _mix((h ^ np.uint64(stream)) + golden)


def uniform(h: np.ndarray) -> np.ndarray:
    """(B,) float64 in [0, 1) from the top 53 bits of uint64 hashes."""
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53
