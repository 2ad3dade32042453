"""PK sampling: batches of P identities x K images, one permutation per epoch, sharded.

Every epoch is a pure function of ``(seed, epoch, shard_id, num_shards)``:

1. The identities are permuted and dealt to shards, balancing the number of K-groups, so
   shards see disjoint identities (hence disjoint images) and together cover the epoch.
2. In each shard, every identity's images are shuffled and padded to a multiple of K with
   repeats of its own images (an identity with a single image gives K copies), then cut into
   groups of K. Every image appears at least once per epoch.
3. Batches take one group from each of P distinct identities, chosen at random among those
   with groups left; when fewer than P identities have groups left, the batch is topped up
   with fresh groups of other identities of the shard. All shards are padded the same way to
   the same number of batches (DDP needs equal step counts).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np


def _groups(indices: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle one identity's indices, pad to a multiple of k with its own repeats, cut in k."""
    order = rng.permutation(indices)
    short = (-len(order)) % k
    if short:
        order = np.concatenate([order, rng.choice(indices, size=short, replace=True)])
    return list(order.reshape(-1, k))


def pk_problem(identities: int, p: int, num_shards: int = 1) -> str | None:
    """Why `identities` training identities cannot fill batches of P identities on each of
    `num_shards` shards (each shard needs its own P), or None when they can."""
    needed = p * num_shards
    if identities >= needed:
        return None
    return (f"P={p} identities per batch x {num_shards} shard(s) needs {needed} training identities, "
            f"the data has {identities}; allowed: 1..{identities // num_shards}")


class PKSampler:
    """Epoch plans of sample indices, shape ``(num_batches, P*K)``, for one shard.

    `pids`: (N,) identity of each training sample (any integers). Raises ValueError when
    a shard would hold fewer than P identities.
    """

    def __init__(self, pids: Sequence[int], num_identities: int, num_instances: int, *,
                 seed: int = 0, shard_id: int = 0, num_shards: int = 1):
        if num_identities < 1 or num_instances < 1:
            raise ValueError(f"P (identities per batch) and K (instances) must be >= 1, "
                             f"got P={num_identities}, K={num_instances}")
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"shard_id must be in [0, {num_shards}), got {shard_id}")
        by_pid: dict[int, list[int]] = defaultdict(list)
        for i, pid in enumerate(pids):
            by_pid[int(pid)].append(i)
        self.pid_list = sorted(by_pid)
        self.indices = [np.asarray(by_pid[p], dtype=np.int64) for p in self.pid_list]
        problem = pk_problem(len(self.pid_list), num_identities, num_shards)
        if problem:
            raise ValueError(f"impossible P x K: {problem}")
        self.p, self.k = num_identities, num_instances
        self.seed, self.shard_id, self.num_shards = seed, shard_id, num_shards

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def _deal(self, epoch: int) -> list[list[int]]:
        """Identity positions per shard for this epoch, balanced by group count."""
        rng = np.random.default_rng([self.seed, epoch, 0xD1])
        loads = np.zeros(self.num_shards, dtype=np.int64)
        shards: list[list[int]] = [[] for _ in range(self.num_shards)]
        for pos in rng.permutation(len(self.pid_list)):
            # fewest groups first, then fewest identities (a shard needs >= P identities)
            counts = np.array([len(s) for s in shards])
            target = int(np.lexsort((counts, loads))[0]) if counts.min() >= self.p else int(np.argmin(counts))
            shards[target].append(int(pos))
            loads[target] += -(-len(self.indices[pos]) // self.k)
        return shards

    def _shard_batches(self, positions: list[int], rng: np.random.Generator) -> list[np.ndarray]:
        groups = {pos: _groups(self.indices[pos], self.k, rng) for pos in positions}
        batches = []
        while any(groups.values()):
            alive = [pos for pos in positions if groups[pos]]
            chosen = [int(pos) for pos in rng.choice(alive, size=min(self.p, len(alive)), replace=False)]
            batch = [groups[pos].pop() for pos in chosen]
            if len(chosen) < self.p:  # top up with a fresh group of other identities
                others = [pos for pos in positions if pos not in chosen]
                extra = rng.choice(others, size=self.p - len(chosen), replace=False)
                batch += [_groups(self.indices[pos], self.k, rng)[0] for pos in extra]
            batches.append(np.concatenate(batch))
        return batches

    def _extra_batch(self, positions: list[int], rng: np.random.Generator) -> np.ndarray:
        chosen = rng.choice(positions, size=self.p, replace=False)
        return np.concatenate([_groups(self.indices[pos], self.k, rng)[0] for pos in chosen])

    def epoch(self, epoch: int) -> np.ndarray:
        """(num_batches, P*K) int64 sample indices of this shard for `epoch`."""
        dealt = self._deal(epoch)
        plans = []
        for shard, positions in enumerate(dealt):
            rng = np.random.default_rng([self.seed, epoch, 0xB7, shard])
            plans.append((positions, rng, self._shard_batches(positions, rng)))
        length = max(len(b) for _, _, b in plans)
        positions, rng, batches = plans[self.shard_id]
        batches += [self._extra_batch(positions, rng) for _ in range(length - len(batches))]
        return np.stack(batches)

    def __len__(self) -> int:
        """Batches per epoch for epoch 0 (the count can differ by one between epochs)."""
        return len(self.epoch(0))
