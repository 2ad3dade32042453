"""Backgrounds and cameras of the synthetic world.

A *scene* is a place: a structured backdrop (sky or wall with a gradient, buildings with
window grids, trees, posters, poles, parked cars, a textured ground with perspective tiles,
low-frequency shading) drawn from its own seed. Images taken in a scene are crops of a
canvas somewhat larger than the frame, so they differ a little but stay recognisable.

A *camera* has a colour cast (per-channel gain), a gamma, a blur, a noise level and a JPEG
quality; `apply_camera` applies them to a composed frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

CANVAS_SCALE = (1.12, 1.3)    # scene canvas size relative to the frame (height, width)
KINDS = ("street", "indoor", "park", "plaza")


def _colour(rng: np.random.Generator, sat=(0.1, 0.8), val=(0.25, 0.95)) -> np.ndarray:
    """A random RGB colour (3,) float in [0, 255] from HSV ranges."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(float)


def _gradient(h: int, w: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()


def _windows(rng, img, x0, x1, y0, y1) -> None:
    """A facade between x0..x1, y0..y1 with a grid of windows."""
    cv2.rectangle(img, (x0, y0), (x1, y1), _colour(rng).tolist(), -1)
    glass, cols, rows = _colour(rng, (0.0, 0.5), (0.05, 0.6)), int(rng.integers(2, 5)), int(rng.integers(2, 6))
    cw, rh = (x1 - x0) / cols, (y1 - y0) / rows
    for i in range(cols):
        for j in range(rows):
            ax, ay = int(x0 + cw * (i + 0.2)), int(y0 + rh * (j + 0.2))
            cv2.rectangle(img, (ax, ay), (int(ax + cw * 0.6), int(ay + rh * 0.55)), glass.tolist(), -1)


def _upper(rng: np.random.Generator, kind: str, img: np.ndarray, horizon: int) -> None:
    """Draw what is above the horizon (in place)."""
    h, w = img.shape[:2]
    sky = _gradient(horizon, w, _colour(rng, (0.05, 0.5), (0.6, 1.0)), _colour(rng, (0.0, 0.3), (0.7, 1.0)))
    if kind == "indoor":
        img[:horizon] = _gradient(horizon, w, _colour(rng), _colour(rng))
        band = int(horizon * rng.uniform(0.6, 0.85))
        cv2.rectangle(img, (0, band), (w, horizon), _colour(rng).tolist(), -1)
        for _ in range(int(rng.integers(1, 4))):                        # posters, doors
            x, pw = int(rng.integers(0, w)), int(w * rng.uniform(0.12, 0.35))
            y = int(horizon * rng.uniform(0.1, 0.4))
            cv2.rectangle(img, (x, y), (x + pw, int(y + horizon * rng.uniform(0.3, 0.9))),
                          _colour(rng, (0.4, 1.0)).tolist(), -1)
        return
    img[:horizon] = sky
    if kind == "street":
        x = 0
        while x < w:
            fw = int(w * rng.uniform(0.3, 0.7))
            _windows(rng, img, x, min(x + fw, w), int(horizon * rng.uniform(0.0, 0.35)), horizon)
            x += fw
    elif kind == "park":
        for _ in range(int(rng.integers(3, 7))):
            x, r = int(rng.integers(0, w)), int(w * rng.uniform(0.15, 0.35))
            y = int(horizon * rng.uniform(0.2, 0.7))
            trunk = _colour(rng, (0.3, 0.7), (0.2, 0.45)).tolist()
            cv2.rectangle(img, (x - r // 6, y), (x + r // 6, horizon), trunk, -1)
            green = np.array([rng.uniform(20, 80), rng.uniform(90, 170), rng.uniform(20, 70)])
            cv2.ellipse(img, (x, y), (r, int(r * 0.8)), 0, 0, 360, green.tolist(), -1)
    else:  # plaza: a low skyline
        for _ in range(int(rng.integers(2, 5))):
            x0 = int(rng.integers(0, w))
            top, bw = int(horizon * rng.uniform(0.3, 0.8)), int(w * rng.uniform(0.2, 0.5))
            cv2.rectangle(img, (x0, top), (x0 + bw, horizon), _colour(rng, (0.0, 0.4)).tolist(), -1)


def _ground(rng: np.random.Generator, img: np.ndarray, horizon: int) -> None:
    """A ground plane below the horizon with a perspective tile grid or road markings (in place)."""
    h, w = img.shape[:2]
    img[horizon:] = _gradient(h - horizon, w, _colour(rng, val=(0.3, 0.8)), _colour(rng, val=(0.2, 0.7)))
    line = _colour(rng, val=(0.1, 1.0)).tolist()
    style = rng.integers(0, 3)
    if style == 0:                                                      # tiles
        vx = int(w * rng.uniform(0.2, 0.8))
        for i in range(-8, 9):
            cv2.line(img, (vx, horizon), (vx + i * w // 3, h + h // 2), line, 1)
        y, step = horizon, max(2.0, (h - horizon) * 0.08)
        while y < h:
            cv2.line(img, (0, int(y)), (w, int(y)), line, 1)
            y, step = y + step, step * 1.35
    elif style == 1:                                                    # road markings
        y = int(horizon + (h - horizon) * rng.uniform(0.3, 0.7))
        for x in range(int(rng.integers(-w // 4, 0)), w, max(4, w // 3)):
            cv2.rectangle(img, (x, y), (x + w // 6, y + max(1, h // 60)), line, -1)


def _objects(rng: np.random.Generator, img: np.ndarray, horizon: int) -> None:
    """Poles, signs, cars and random shapes standing on the ground (in place)."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(2, 6))):
        kind, colour = rng.integers(0, 4), _colour(rng, (0.2, 1.0)).tolist()
        x, base = int(rng.integers(0, w)), int(horizon + (h - horizon) * rng.uniform(0.0, 0.6))
        if kind == 0:                                                   # pole with a sign or a lamp
            top, pw = int(base - h * rng.uniform(0.4, 0.9)), max(1, w // 40)
            cv2.rectangle(img, (x, top), (x + pw, base), (colour[0] * 0.4, colour[1] * 0.4, colour[2] * 0.4), -1)
            cv2.rectangle(img, (x - w // 14, top), (x + w // 14, top + h // 14), colour, -1)
        elif kind == 1:                                                 # car
            cw, ch = int(w * rng.uniform(0.4, 0.8)), int(h * rng.uniform(0.1, 0.18))
            cv2.rectangle(img, (x, base - ch), (x + cw, base), colour, -1)
            cv2.rectangle(img, (x + cw // 6, base - ch - ch // 2), (x + cw * 5 // 6, base - ch), (40, 50, 60), -1)
            for wx in (x + cw // 5, x + cw * 4 // 5):
                cv2.circle(img, (wx, base), max(1, ch // 3), (15, 15, 15), -1)
        elif kind == 2:
            r = int(w * rng.uniform(0.05, 0.2))
            cv2.circle(img, (x, base - r), r, colour, -1)
        else:
            bw, bh = int(w * rng.uniform(0.1, 0.4)), int(h * rng.uniform(0.05, 0.3))
            cv2.rectangle(img, (x, base - bh), (x + bw, base), colour, -1)


@lru_cache(maxsize=256)
def render_scene(seed: int, scene: int, height: int, width: int) -> np.ndarray:
    """The canvas of scene `scene` for `height` x `width` frames: (Hc, Wc, 3) uint8 RGB, read-only.

    Hc, Wc = `CANVAS_SCALE` times the frame size. A pure function of its arguments (cached).
    """
    rng = np.random.default_rng([seed, 3, scene])
    h, w = round(height * CANVAS_SCALE[0]), round(width * CANVAS_SCALE[1])
    img = np.zeros((h, w, 3), float)
    horizon = int(h * rng.uniform(0.35, 0.7))
    _upper(rng, KINDS[rng.integers(len(KINDS))], img, horizon)
    _ground(rng, img, horizon)
    _objects(rng, img, horizon)
    coarse = rng.normal(0.0, 14.0, (4, 3, 1)) + rng.normal(0.0, 4.0, (4, 3, 3))   # mostly brightness
    img += cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0.0, 5.0, img.shape)
    img *= np.linspace(1 - rng.uniform(0, 0.3), 1 + rng.uniform(0, 0.2), w)[None, :, None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


def crop_scene(canvas: np.ndarray, height: int, width: int, u: float, v: float) -> np.ndarray:
    """The `height` x `width` window of `canvas` at relative offset (`u` down, `v` across) in [0, 1]."""
    y, x = round(u * (canvas.shape[0] - height)), round(v * (canvas.shape[1] - width))
    return canvas[y:y + height, x:x + width]


@dataclass(frozen=True)
class Camera:
    """Imaging model of one camera."""

    gain: tuple[float, float, float]   # colour cast: per-channel RGB gain
    gamma: float
    blur: float                        # Gaussian sigma in pixels at a 128-pixel frame height
    noise: float                       # Gaussian noise sigma, grey levels
    quality: int                       # JPEG quality


def draw_cameras(seed: int, count: int) -> tuple[Camera, ...]:
    """`count` cameras with distinct casts, drawn from `seed`."""
    rng = np.random.default_rng([seed, 4])
    return tuple(Camera(gain=tuple(float(g) for g in rng.uniform(0.82, 1.18, 3)), gamma=float(rng.uniform(0.8, 1.25)),
                        blur=float(rng.uniform(0.3, 1.1)), noise=float(rng.uniform(2.0, 7.0)),
                        quality=int(rng.integers(70, 96)))
                 for _ in range(count))


def apply_camera(frame: np.ndarray, camera: Camera, rng: np.random.Generator, exposure: float = 1.0) -> np.ndarray:
    """Cast, gamma, blur and noise of `camera` on `frame` (H, W, 3) uint8 RGB; returns the same layout.

    JPEG compression (the last step) happens when the frame is written, at `camera.quality`.
    """
    levels = np.arange(256, dtype=np.float32)[:, None] / 255.0
    lut = np.clip(levels * np.float32(exposure) * np.asarray(camera.gain, np.float32), 0, 1) ** np.float32(camera.gamma)
    img = cv2.LUT(frame, np.round(lut * 255.0).astype(np.uint8).reshape(256, 1, 3))
    img = cv2.GaussianBlur(img, (0, 0), camera.blur * frame.shape[0] / 128).astype(np.float32)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(camera.noise)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
