"""The synthetic world's opt-in sets (prepare.synth_extras): the defaults leave the world as it
was, byte for byte; the test part can be made independent of bg_bias; the neutral layout, the
held-out scenes, the query probes and the training controls are what they say."""
import hashlib
import json
import os
from collections import Counter

import cv2
import numpy as np
import pytest

from attention_swap_reid.dali_pipes.check import check_manifest
from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.prepare.synth_extras import CONTROLS, HELDOUT, PROBES
from attention_swap_reid.prepare.synth_layout import Shot, neutral_scenes, plan_world
from attention_swap_reid.prepare.synth_render import PLAIN, render_shot, render_variant
from attention_swap_reid.prepare.synthetic import main, make_world
from tests.conftest import TINY

ALL = dict(heldout_scenes=3, probes=True, controls=True)


def world_hash(root) -> str:
    """SHA-256 over every file of a world folder: relative names and contents, in name order."""
    h = hashlib.sha256()
    for folder, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            path = os.path.join(folder, name)
            h.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


# Recorded with the generator before the opt-in parameters existed (commit 06568f2, the pinned
# stack of constraints.txt: numpy 2.4.6, OpenCV 5.0.0): the defaults must write these bytes.
BEFORE = [(TINY, "50f35a81d0274685f5e3726991884c8b816af4b667dd276680a97340bd9691a2"),
          ({**TINY, "seed": 1, "bg_bias": 0.3}, "92ccac09111c51e124341fb0ff10a2f565dac8ba679ff8b55af60f916a1a3527")]


RECORDED_WITH = ("5.0.0", "2.4.6")  # (cv2, numpy) versions that wrote BEFORE


@pytest.mark.parametrize("params, expected", BEFORE)
def test_default_worlds_are_the_bytes_they_were(tmp_path, params, expected):
    explicit = {"independent_test": False, "heldout_scenes": 0, "probes": False, "controls": False}
    default = world_hash(make_world(tmp_path / "a", progress=False, **params).parent)
    assert world_hash(make_world(tmp_path / "b", progress=False, **params, **explicit).parent) == default
    if (cv2.__version__, np.__version__) != RECORDED_WITH:
        pytest.skip(f"the recorded bytes come from OpenCV {RECORDED_WITH[0]} and NumPy {RECORDED_WITH[1]} "
                    f"(here {cv2.__version__}, {np.__version__}): other versions encode the images differently")
    assert default == expected


@pytest.fixture(scope="module")
def extras_world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("extras") / "w", progress=False, **TINY, **ALL)


def test_opt_in_sets_pass_the_check_and_keep_the_main_manifest(extras_world, tiny_world):
    root = extras_world.parent
    assert json.loads((root / "world.json").read_text())["probes"] is True
    main_rows = read_manifest(extras_world)
    # the opt-in sets change nothing of the default world's files (the tiny world, same parameters)
    for name in ("manifest.csv", "robustness.csv"):
        assert (root / name).read_bytes() == (tiny_world.parent / name).read_bytes()
    for name in PROBES.values():
        assert check_manifest(root / name) == []
    test = sorted((s.pid, s.camid, s.viewpoint, s.split, os.path.basename(s.image)) for s in main_rows
                  if s.split != "train")
    for name in (*PROBES.values(), *CONTROLS.values()):   # the same test images, some of them re-rendered
        rows = read_manifest(root / name)
        assert sorted((s.pid, s.camid, s.viewpoint, s.split, os.path.basename(s.image)) for s in rows
                      if s.split != "train") == test
    for name in CONTROLS.values():
        rows = read_manifest(root / name)
        assert [(s.pid, s.camid, s.viewpoint) for s in rows if s.split == "train"] == \
               [(s.pid, s.camid, s.viewpoint) for s in main_rows if s.split == "train"]
        assert [s.image for s in rows if s.split != "train"] == [s.image for s in main_rows if s.split != "train"]
    problems = check_manifest(root / CONTROLS["background_only"])
    assert problems and {p.kind for p in problems} == {"unmasked"}   # no person, no mask: only for p = 0
    assert check_manifest(root / CONTROLS["person_only"]) == []


def test_heldout_and_probe_scenes_are_used_by_no_split(extras_world):
    root = extras_world.parent
    used = {int(s.extra["scene"]) for name in ("manifest.csv", "robustness.csv", PROBES["neutral"])
            for s in read_manifest(root / name)}
    heldout = {int(n[1:4]) for n in os.listdir(root / HELDOUT)}
    assert len(heldout) == 3 and Counter(int(n[1:4]) for n in os.listdir(root / HELDOUT)) == {s: 6 for s in heldout}
    moved = read_manifest(root / PROBES["query_new_bg"], ["query"])
    new = {int(s.extra["scene"]) for s in moved}
    assert min(heldout) > max(used) and min(new) > max(heldout)
    for s in moved:   # the person is where it was, the scene is another one
        original = cv2.imread(s.image.replace("probes/query_new_background", "images")).astype(int)
        diff = np.abs(cv2.imread(s.image).astype(int) - original).mean(-1)
        mask = cv2.erode(cv2.imread(s.mask, cv2.IMREAD_GRAYSCALE), np.ones((5, 5), np.uint8)) > 0
        outside = cv2.dilate(cv2.imread(s.mask, cv2.IMREAD_GRAYSCALE), np.ones((5, 5), np.uint8)) == 0
        assert diff[mask].mean() < 0.35 * diff[outside].mean()


@pytest.mark.parametrize("layout", ["default", "independent"])
def test_independent_test_part_is_the_same_for_every_bg_bias(tmp_path, layout):
    flag = {"independent_test": True, "probes": True} if layout == "independent" else {}
    worlds = [make_world(tmp_path / f"b{b}", progress=False, **{**TINY, "bg_bias": b}, **flag).parent
              for b in (0.0, 1.0)]
    names = ["manifest.csv", "robustness.csv"] + ([PROBES["neutral"]] if flag else [])
    rows = [[read_manifest(w / n, ["query", "gallery"]) for n in names] for w in worlds]
    same = all([(s.pid, s.camid, s.split, s.extra["scene"]) for s in a] ==
               [(s.pid, s.camid, s.split, s.extra["scene"]) for s in b] for a, b in zip(*rows))
    if layout == "default":   # the confound the option removes: the training draws move the test part
        assert not same
        return
    assert same
    for a, b in zip(rows[0][0] + rows[0][1], rows[1][0] + rows[1][1]):
        assert open(a.image, "rb").read() == open(b.image, "rb").read()
    train = [read_manifest(w / "manifest.csv", ["train"]) for w in worlds]
    assert [s.extra["scene"] for s in train[0]] != [s.extra["scene"] for s in train[1]]


def test_default_layout_punishes_backgrounds_and_the_neutral_one_does_not():
    plan = plan_world(train_ids=40, test_ids=60, images_per_id=10, seed=0, bg_bias=0.8)

    def shared_scene_rates(shots):
        query = [s for s in shots if s.split == "query"]
        gallery = [s for s in shots if s.split == "gallery"]
        pairs = [(q.pid == g.pid, q.scene == g.scene) for q in query for g in gallery]
        same_scene = [same for same, shared in pairs if shared]
        return np.mean(same_scene), np.mean([same for same, _ in pairs])

    test = [s for s in plan.shots if s.split != "train"]
    among_shared, overall = shared_scene_rates(test)
    assert among_shared == 0 and overall > 0.01        # a shared scene always means another person
    among_shared, overall = shared_scene_rates(neutral_scenes(plan, seed=0))
    assert abs(among_shared - overall) < 0.5 * overall  # measured 0.0176 vs 0.0167: as often as chance
    assert {s.scene for s in neutral_scenes(plan, seed=0)} <= set(plan.pool)


def test_variants_share_pose_camera_and_noise_and_differ_only_where_they_say():
    """Before JPEG: without the person, the picture is the original wherever the person is not
    (away from the blur); on the plain backdrop, the person's pixels are the original's."""
    for index, viewpoint in enumerate((0, 1, 2)):
        for split in ("train", "query"):
            s = Shot(pid=5, index=index, split=split, camid=index, viewpoint=viewpoint, scene=2)
            original = render_shot(s, seed=0, height=128, width=64)
            empty = render_variant(s, seed=0, height=128, width=64, scene=2, person=False)
            plain = render_variant(s, seed=0, height=128, width=64, scene=None)
            mask = original.mask > 0
            near = cv2.dilate(original.mask, np.ones((9, 9), np.uint8)) != cv2.erode(original.mask, np.ones((9, 9), np.uint8))
            assert np.array_equal(empty[~mask & ~near], original.image[~mask & ~near])
            assert np.abs(empty[mask & ~near].astype(int) - original.image[mask & ~near]).mean() > 10
            assert np.array_equal(plain[mask & ~near], original.image[mask & ~near])
            backdrop = plain[~mask & ~near].astype(float)
            assert backdrop.std(axis=0).max() < 12 and abs(backdrop.mean() - np.mean(PLAIN)) < 40


@pytest.mark.parametrize("bad, match", [({"heldout_scenes": -1}, "heldout_scenes"), ({"probes": 1}, "probes"),
                                        ({"independent_test": "yes"}, "independent_test")])
def test_bad_opt_in_parameters_name_the_key(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        make_world(tmp_path / "x", progress=False, **TINY, **bad)


def test_cli_flags(tmp_path):
    args = ["--out", str(tmp_path / "w"), "--train-ids", "4", "--test-ids", "2", "--images-per-id", "4",
            "--height", "32", "--width", "16", "--no-progress", "--probes", "--controls", "--heldout-scenes", "2",
            "--independent-test"]
    assert main(args) == 0
    stamp = json.loads((tmp_path / "w" / "world.json").read_text())
    assert {k: stamp[k] for k in ALL} == {**ALL, "heldout_scenes": 2}
    assert stamp["independent_test"] is True
    assert all((tmp_path / "w" / name).is_file() for name in (*PROBES.values(), *CONTROLS.values()))
