"""Who is photographed where: the layout (`WorldPlan`) of the synthetic world.

Scenes `0 .. num_scenes-1`: each training identity owns 1-2 scenes nobody else uses, then a
shared pool follows. The layout builds in the *background shortcut* of real ReID data:

- train: `round(bg_bias * images_per_id)` images of each identity in its own scenes (balanced
  between them), the rest in random pool scenes; random cameras and viewpoints.
- test (query + gallery, identities disjoint from train): each identity is seen by 2-3
  cameras; its first image from each of up to 3 cameras is a query, the rest gallery. Its
  query scenes and its gallery scenes are disjoint pool scenes, and every query scene also
  holds gallery images (necessarily of other identities; gallery images go to such scenes
  first), so a background matches the wrong people.
- robustness: every test image re-rendered with pool scene `s` replaced by `swap[s]`, a
  scene owned by a training identity (one per training identity, injective), which keeps the
  structure above on backgrounds a shortcut-learning model associates with someone else.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

NUM_CAMERAS = 6
NUM_VIEWPOINTS = 3


@dataclass(frozen=True)
class Shot:
    """One image to render: who, which split, which camera, viewpoint and scene."""

    pid: int
    index: int            # the pid's index-th image (0-based)
    split: str            # train | query | gallery
    camid: int
    viewpoint: int        # 0 front, 1 back, 2 side
    scene: int
    swap_scene: int = -1  # test images: scene of the robustness re-render; -1 for train

    @property
    def name(self) -> str:
        """File stem, e.g. ``0042_c3_07``."""
        return f"{self.pid:04d}_c{self.camid}_{self.index:02d}"


@dataclass(frozen=True)
class WorldPlan:
    """The full layout: shots in pid/index order, scene ownership and the shared pool."""

    shots: tuple[Shot, ...]
    own_scenes: dict[int, tuple[int, ...]]   # train pid -> the scenes only it uses
    pool: tuple[int, ...]                    # shared scenes (train remainder, test)
    num_scenes: int


def pool_size(train_ids: int, test_ids: int) -> int:
    """Number of shared scenes: about one per six identities, at least 4, at most `train_ids`."""
    return min(train_ids, max(4, round((train_ids + test_ids) / 6)))


def plan_world(*, train_ids: int, test_ids: int, images_per_id: int, seed: int, bg_bias: float,
               independent_test: bool = False) -> WorldPlan:
    """Lay out the world (pure function of its arguments). Train pids are 1..train_ids, test pids follow.
    `independent_test`: draw the test part from its own stream (the same for every `bg_bias`)."""
    rng = np.random.default_rng([seed, 5])
    own, next_scene = {}, 0
    for pid in range(1, train_ids + 1):
        count = int(rng.integers(1, 3))
        own[pid] = tuple(range(next_scene, next_scene + count))
        next_scene += count
    pool = tuple(range(next_scene, next_scene + pool_size(train_ids, test_ids)))
    shots = [shot for pid in own for shot in _train_shots(rng, pid, own[pid], pool, images_per_id, bg_bias)]
    if independent_test:
        rng = np.random.default_rng([seed, 7])
    test = _test_shots(rng, range(train_ids + 1, train_ids + test_ids + 1), pool, images_per_id)
    donors = rng.permutation(np.arange(1, train_ids + 1))[:len(pool)]
    swap = {s: own[int(d)][0] for s, d in zip(pool, donors)}
    shots += [replace(s, swap_scene=swap[s.scene]) for s in test]
    return WorldPlan(tuple(shots), own, pool, pool[-1] + 1)


def _train_shots(rng, pid: int, own: tuple[int, ...], pool: tuple[int, ...], n: int, bg_bias: float) -> list[Shot]:
    n_own = round(bg_bias * n)
    scenes = [own[k % len(own)] for k in range(n_own)] + [int(rng.choice(pool)) for _ in range(n - n_own)]
    rng.shuffle(scenes)
    cams, views = rng.integers(0, NUM_CAMERAS, n), rng.integers(0, NUM_VIEWPOINTS, n)
    return [Shot(pid, k, "train", int(cams[k]), int(views[k]), scenes[k]) for k in range(n)]


def _test_shots(rng, pids: range, pool: tuple[int, ...], n: int) -> list[Shot]:
    """Query and gallery shots of the test identities `pids` (see the module docstring)."""
    people, common = [], None
    for pid in pids:
        cams = rng.choice(NUM_CAMERAS, size=min(3, n), replace=False)
        n_query = min(len(cams), max(1, n // 4), len(pool) - 1)
        # the last identity avoids the scenes every other one queries in: each query scene
        # must stay open to some other identity's gallery images
        allowed = [s for s in pool if pid != pids[-1] or s not in common]
        query = [int(rng.choice(allowed)) for _ in range(n_query)]
        common = set(query) if common is None else common & set(query)
        people.append((pid, cams, rng.integers(0, NUM_VIEWPOINTS, n), query))
    uncovered = {s for *_, query in people for s in query}      # query scenes with no gallery image yet
    shots = []
    for pid, cams, views, query in people:
        for k in range(n):
            if k < len(query):
                split, scene = "query", query[k]
            else:
                options = sorted(uncovered - set(query)) or [s for s in pool if s not in query]
                split, scene = "gallery", int(rng.choice(options))
                uncovered.discard(scene)
            shots.append(Shot(pid, k, split, int(cams[k % len(cams)]), int(views[k]), scene))
    if uncovered:
        raise ValueError(f"synthetic world too small: query scene(s) {sorted(uncovered)} hold no gallery image; "
                         f"use more test identities or images per identity")
    return shots


def neutral_scenes(plan: WorldPlan, seed: int) -> tuple[Shot, ...]:
    """The test shots of `plan` (query and gallery, in order) each moved to a pool scene drawn
    uniformly from its own stream, independently of identity, split and every other draw."""
    test = [s for s in plan.shots if s.split != "train"]
    scenes = np.random.default_rng([seed, 9]).choice(plan.pool, size=len(test))
    return tuple(replace(s, scene=int(scene), swap_scene=-1) for s, scene in zip(test, scenes))


def heldout_scenes(plan: WorldPlan, count: int, skip: int = 0) -> tuple[int, ...]:
    """`count` scene numbers after every scene of `plan` (and after `skip` more): no shot of any
    split uses them."""
    return tuple(range(plan.num_scenes + skip, plan.num_scenes + skip + count))
