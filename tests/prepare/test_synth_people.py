"""Procedural people: masks, viewpoints, identities, scenes and cameras."""
from dataclasses import replace

import cv2
import numpy as np
import pytest

from attention_swap_reid.prepare.synth_people import draw_identity, draw_pose, render_person
from attention_swap_reid.prepare.synth_scenes import apply_camera, crop_scene, draw_cameras, render_scene

H, W = 128, 64


def person(pid, viewpoint, k=0):
    ident = draw_identity(np.random.default_rng([0, pid]))
    pose = draw_pose(np.random.default_rng([1, pid, k]), ident, viewpoint, H, W)
    return ident, pose, *render_person(ident, pose, H, W)


@pytest.mark.parametrize("viewpoint", [0, 1, 2])
def test_person_layer_and_mask(viewpoint):
    for pid in range(20):
        _, pose, rgb, mask = person(pid, viewpoint)
        assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8 and mask.shape == (H, W) and mask.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 255}
        assert not rgb[mask == 0].any()
        assert cv2.connectedComponents(mask)[0] == 2            # one person, one piece
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert 0.7 * H < rows[-1] - rows[0] + 1 <= H and cols[-1] - cols[0] + 1 < 0.9 * W
        assert abs((cols[0] + cols[-1]) / 2 - pose.centre_x) < 0.2 * W


def test_viewpoints_look_different_and_side_views_mirror():
    def changed(a, b):   # share of a's person pixels that change by more than 30 grey levels
        return (np.abs(a[2].astype(int) - b[2]).max(-1) > 30).sum() / (a[3] > 0).sum()
    for pid in range(10):
        front, back, side = (person(pid, v) for v in (0, 1, 2))
        assert changed(front, back) > 0.05 and changed(front, side) > 0.3   # measured >= 0.08 and >= 0.5
    ident = draw_identity(np.random.default_rng(5))
    pose = draw_pose(np.random.default_rng(6), ident, 2, H, W)
    left = render_person(ident, replace(pose, facing=-1, centre_x=(W - 1) / 2), H, W)[1]
    right = render_person(ident, replace(pose, facing=1, centre_x=(W - 1) / 2), H, W)[1]
    flipped = left[:, ::-1] > 0
    iou = (flipped & (right > 0)).sum() / (flipped | (right > 0)).sum()
    assert iou > 0.95                                           # up to rounding at edges


def test_identities_differ_and_colours_are_shared():
    idents = [draw_identity(np.random.default_rng([0, pid])) for pid in range(200)]
    looks = {(i.shirt, i.pants, i.pattern, i.backpack, i.bag, i.hat) for i in idents}
    assert len(looks) == 200
    assert np.mean([i.backpack is not None for i in idents]) == pytest.approx(0.3, abs=0.1)


def test_bad_viewpoint_is_rejected():
    ident = draw_identity(np.random.default_rng(0))
    with pytest.raises(ValueError, match="viewpoint must be one of"):
        draw_pose(np.random.default_rng(0), ident, 3, H, W)


def test_scene_is_structured_deterministic_and_cropped():
    a, b = render_scene(0, 7, H, W), render_scene(0, 7, H, W)
    assert a.shape == (round(H * 1.12), round(W * 1.3), 3) and np.array_equal(a, b)
    assert not np.array_equal(a, render_scene(0, 8, H, W)) and not np.array_equal(a, render_scene(1, 7, H, W))
    edges = cv2.Canny(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), 50, 150)
    assert edges.mean() > 0                                      # not a flat colour
    assert crop_scene(a, H, W, 0.0, 0.0).shape == (H, W, 3)
    assert np.array_equal(crop_scene(a, H, W, 1.0, 1.0), a[-H:, -W:])


def test_cameras_cast_colours_deterministically():
    cams = draw_cameras(0, 6)
    assert cams == draw_cameras(0, 6) and len({c.gain for c in cams}) == 6
    grey = np.full((H, W, 3), 128, np.uint8)
    out = [apply_camera(grey, c, np.random.default_rng(0)) for c in cams]
    assert np.array_equal(out[0], apply_camera(grey, cams[0], np.random.default_rng(0)))
    means = np.array([o.reshape(-1, 3).mean(0) for o in out])
    assert np.ptp(means, axis=0).min() > 10                      # casts differ per channel
