"""Render and write the images of the synthetic world, one identity at a time.

Every random draw of an image comes from generators seeded by `(seed, stream, pid, index)`,
never from global state, so an image is the same whichever process renders it and in
whatever order. A test image and its robustness re-render share the person, pose, crop
position, exposure, camera and noise; only the scene differs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from attention_swap_reid.prepare.synth_layout import NUM_CAMERAS, Shot
from attention_swap_reid.prepare.synth_people import Identity, draw_identity, draw_pose, render_person
from attention_swap_reid.prepare.synth_scenes import (Camera, apply_camera, crop_scene, draw_cameras,
                                                      render_scene)

# Subfolders of a world directory.
IMAGES, MASKS, ROBUSTNESS = "images", "masks", "robustness"


@lru_cache(maxsize=4096)
def identity(seed: int, pid: int) -> Identity:
    """The look of person `pid` in the world of `seed`."""
    return draw_identity(np.random.default_rng([seed, 1, pid]))


@lru_cache(maxsize=16)
def cameras(seed: int) -> tuple[Camera, ...]:
    return draw_cameras(seed, NUM_CAMERAS)


@dataclass(frozen=True)
class Rendered:
    """A rendered shot: `image` (H, W, 3) uint8 RGB before JPEG, `mask` (H, W) uint8 {0, 255},
    `swapped` the robustness re-render (None for train shots)."""

    image: np.ndarray
    mask: np.ndarray
    swapped: np.ndarray | None


def render_shot(shot: Shot, *, seed: int, height: int, width: int) -> Rendered:
    """Render `shot` (and its robustness twin when `shot.swap_scene >= 0`)."""
    rng = np.random.default_rng([seed, 2, shot.pid, shot.index])
    person = identity(seed, shot.pid)
    pose = draw_pose(rng, person, shot.viewpoint, height, width)
    u, v = rng.random(2)
    exposure = float(rng.uniform(0.85, 1.15))
    rgb, mask = render_person(person, pose, height, width)
    camera = cameras(seed)[shot.camid]

    def photograph(scene: int) -> np.ndarray:
        background = crop_scene(render_scene(seed, scene, height, width), height, width, u, v)
        frame = np.where(mask[..., None] > 0, rgb, background)
        return apply_camera(frame, camera, np.random.default_rng([seed, 6, shot.pid, shot.index]), exposure)

    swapped = photograph(shot.swap_scene) if shot.swap_scene >= 0 else None
    return Rendered(photograph(shot.scene), mask, swapped)


def _write(path: str, image: np.ndarray, params: list[int]) -> None:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image, params):
        raise OSError(f"cannot write {path}")


def write_shots(shots: list[Shot], *, root: str, seed: int, height: int, width: int) -> int:
    """Render `shots` and write `root/images/NAME.jpg`, `root/masks/NAME.png` and, for test
    shots, `root/robustness/NAME.jpg`. Returns the number of shots written."""
    for shot in shots:
        out = render_shot(shot, seed=seed, height=height, width=width)
        quality = [cv2.IMWRITE_JPEG_QUALITY, cameras(seed)[shot.camid].quality]
        _write(os.path.join(root, IMAGES, shot.name + ".jpg"), out.image, quality)
        _write(os.path.join(root, MASKS, shot.name + ".png"), out.mask, [])
        if out.swapped is not None:
            _write(os.path.join(root, ROBUSTNESS, shot.name + ".jpg"), out.swapped, quality)
    return len(shots)
