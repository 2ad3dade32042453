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


PLAIN = (128, 128, 128)
"""The backdrop of `render_variant(..., scene=None)`: a plain grey wall (before the camera)."""


def _setup(shot: Shot, seed: int, height: int, width: int):
    """The person layer, its mask and `photograph(scene, person=True)` of `shot`: the draws
    of every picture of the shot, in one fixed order (so variants share pose, crop, exposure,
    camera and noise). `scene` None photographs the plain backdrop `PLAIN`."""
    rng = np.random.default_rng([seed, 2, shot.pid, shot.index])
    person = identity(seed, shot.pid)
    pose = draw_pose(rng, person, shot.viewpoint, height, width)
    u, v = rng.random(2)
    exposure = float(rng.uniform(0.85, 1.15))
    rgb, mask = render_person(person, pose, height, width)
    camera = cameras(seed)[shot.camid]

    def photograph(scene: int | None, person: bool = True) -> np.ndarray:
        if scene is None:
            background = np.broadcast_to(np.uint8(PLAIN), (height, width, 3))
        else:
            background = crop_scene(render_scene(seed, scene, height, width), height, width, u, v)
        frame = np.where(mask[..., None] > 0, rgb, background) if person else np.ascontiguousarray(background)
        return apply_camera(frame, camera, np.random.default_rng([seed, 6, shot.pid, shot.index]), exposure)
    return mask, photograph


def render_shot(shot: Shot, *, seed: int, height: int, width: int) -> Rendered:
    """Render `shot` (and its robustness twin when `shot.swap_scene >= 0`)."""
    mask, photograph = _setup(shot, seed, height, width)
    swapped = photograph(shot.swap_scene) if shot.swap_scene >= 0 else None
    return Rendered(photograph(shot.scene), mask, swapped)


def render_variant(shot: Shot, *, seed: int, height: int, width: int, scene: int | None,
                   person: bool = True) -> np.ndarray:
    """`shot` photographed in another `scene` (None: the plain backdrop `PLAIN`), with or without
    its person: (H, W, 3) uint8 RGB, the same pose, crop, camera and noise as `render_shot`."""
    return _setup(shot, seed, height, width)[1](scene, person)


def render_background(seed: int, scene: int, index: int, *, height: int, width: int) -> tuple[np.ndarray, int]:
    """The `index`-th picture of `scene` without anyone in it, by a camera, crop and exposure
    drawn from (seed, scene, index): ((H, W, 3) uint8 RGB, the camera's number)."""
    rng = np.random.default_rng([seed, 10, scene, index])
    camid = int(rng.integers(NUM_CAMERAS))
    u, v = rng.random(2)
    exposure = float(rng.uniform(0.85, 1.15))
    background = crop_scene(render_scene(seed, scene, height, width), height, width, u, v)
    return apply_camera(np.ascontiguousarray(background), cameras(seed)[camid], rng, exposure), camid


def write_image(path: str, image: np.ndarray, params: list[int]) -> None:
    """Write an RGB image (or a grey mask) with OpenCV `params`; OSError when it cannot."""
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
        write_image(os.path.join(root, IMAGES, shot.name + ".jpg"), out.image, quality)
        write_image(os.path.join(root, MASKS, shot.name + ".png"), out.mask, [])
        if out.swapped is not None:
            write_image(os.path.join(root, ROBUSTNESS, shot.name + ".jpg"), out.swapped, quality)
    return len(shots)
