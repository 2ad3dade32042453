"""The world layout: scene ownership, splits and cameras, for many sizes (no rendering)."""
from collections import Counter, defaultdict

import pytest

from attention_swap_reid.prepare.synth_layout import NUM_CAMERAS, plan_world, pool_size

SIZES = [dict(train_ids=2, test_ids=2, images_per_id=2), dict(train_ids=8, test_ids=4, images_per_id=6),
         dict(train_ids=100, test_ids=50, images_per_id=12), dict(train_ids=5, test_ids=40, images_per_id=30)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bg_bias", [0.0, 0.8, 1.0])
def test_layout_structure(size, seed, bg_bias):
    plan = plan_world(seed=seed, bg_bias=bg_bias, **size)
    n, train_ids = size["images_per_id"], size["train_ids"]
    assert len(plan.shots) == (train_ids + size["test_ids"]) * n
    assert len(plan.pool) == pool_size(train_ids, size["test_ids"])
    owned = [sc for scenes in plan.own_scenes.values() for sc in scenes]
    assert len(owned) == len(set(owned)) and not set(owned) & set(plan.pool)
    assert sorted(owned + list(plan.pool)) == list(range(plan.num_scenes))
    by_pid = defaultdict(list)
    for shot in plan.shots:
        by_pid[shot.pid].append(shot)
        assert 0 <= shot.camid < NUM_CAMERAS and shot.viewpoint in (0, 1, 2)
    for pid, shots in by_pid.items():
        assert [s.index for s in shots] == list(range(n))
        if pid <= train_ids:
            assert {s.split for s in shots} == {"train"} and all(s.swap_scene == -1 for s in shots)
            own = Counter(s.scene for s in shots if s.scene in plan.own_scenes[pid])
            assert sum(own.values()) == round(bg_bias * n)
            assert max(own.values(), default=0) - min(own.values(), default=0) <= 1   # balanced
            assert all(s.scene in plan.pool for s in shots if s.scene not in own)
            continue
        query = [s for s in shots if s.split == "query"]
        gallery = [s for s in shots if s.split == "gallery"]
        assert query and gallery
        assert len({s.camid for s in query}) == len(query)
        for q in query:
            assert {g.camid for g in gallery} - {q.camid}, "needs a gallery match from another camera"
        for scene_of in (lambda s: s.scene, lambda s: s.swap_scene):
            assert not {scene_of(s) for s in query} & {scene_of(s) for s in gallery}
    test = [s for s in plan.shots if s.split != "train"]
    gallery_scenes = {s.scene for s in test if s.split == "gallery"}
    assert {s.scene for s in test if s.split == "query"} <= gallery_scenes
    assert {s.scene for s in test} <= set(plan.pool)
    swap = {s.scene: s.swap_scene for s in test}
    assert len(set(swap.values())) == len(swap) and set(swap.values()) <= set(owned)


def test_train_and_test_identities_are_disjoint_and_numbered():
    plan = plan_world(train_ids=10, test_ids=5, images_per_id=4, seed=0, bg_bias=0.8)
    train = {s.pid for s in plan.shots if s.split == "train"}
    test = {s.pid for s in plan.shots if s.split != "train"}
    assert train == set(range(1, 11)) and test == set(range(11, 16))
    assert plan.shots[0].name == f"0001_c{plan.shots[0].camid}_00"
