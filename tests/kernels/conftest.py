"""Test data for `kernels`: synthetic street scenes with person-shaped masks, and the GPU switch.

A scene is a structured background (gradient sky and ground, rectangles, mild noise, blur);
a person is a head, torso and two legs of random size and place. `make_batch` pastes a
person of its own colours into each scene, so the true background behind every person is known.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest


def scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 background with edges and gradients."""
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    image = rng.uniform(40, 220, 3) * (1 - t) + rng.uniform(40, 220, 3) * t + np.zeros((h, w, 3))
    horizon = int(rng.integers(h // 3, 2 * h // 3))
    image[horizon:] = image[horizon:] * 0.6 + rng.uniform(0, 100, 3)
    for _ in range(int(rng.integers(3, 7))):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        height, width = int(rng.integers(h // 25 + 1, h // 3)), int(rng.integers(w // 12 + 1, w // 2))
        image[y: y + height, x: x + width] = rng.uniform(0, 255, 3)
    image += rng.normal(0.0, 3.0, image.shape)
    return np.clip(cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.0), 0, 255).astype(np.uint8)


def person_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w) uint8 {0, 1}: head, torso, legs; may touch the image border."""
    mask = np.zeros((h, w), np.uint8)
    body_h = int(rng.uniform(0.6, 0.95) * h)
    body_w = max(4, int(rng.uniform(0.2, 0.4) * w))
    cx = int(rng.integers(body_w // 2, w - body_w // 2 + 1))
    top = int(rng.integers(0, h - body_h + 1))
    cv2.ellipse(mask, (cx, top + body_h // 10), (max(1, body_w // 4), max(1, body_h // 10)), 0, 0, 360, 1, -1)
    cv2.rectangle(mask, (cx - body_w // 2, top + body_h // 5), (cx + body_w // 2, top + body_h // 2 + 2), 1, -1)
    gap = max(1, body_w // 10)
    cv2.rectangle(mask, (cx - body_w // 2, top + body_h // 2), (cx - gap, top + body_h - 1), 1, -1)
    cv2.rectangle(mask, (cx + gap, top + body_h // 2), (cx + body_w // 2, top + body_h - 1), 1, -1)
    return mask


def batch(b: int, h: int = 64, w: int = 32, seed: int = 0, ids: int | None = None, views: int = 1) -> dict:
    """A batch of `b` people in scenes: images, masks, backgrounds, pids ((B,) int64, `ids`
    identities, default b // 2), viewpoints ((B,) int64 in [0, views))."""
    rng = np.random.default_rng(seed)
    backgrounds = np.stack([scene(rng, h, w) for _ in range(b)])
    masks = np.stack([person_mask(rng, h, w) for _ in range(b)])
    clothes = rng.integers(0, 256, (b, 1, 1, 3), dtype=np.uint8)
    texture = rng.integers(0, 40, (b, h, w, 1), dtype=np.uint8)
    images = np.where(masks[..., None] == 1, clothes + texture, backgrounds).astype(np.uint8)
    return dict(images=images, masks=masks, backgrounds=backgrounds,
                pids=rng.integers(0, ids or max(1, b // 2), b).astype(np.int64),
                viewpoints=rng.integers(0, views, b).astype(np.int64))


def normalized_by_cv2(mask: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """(Hc * Wc,) float32: `mask` cropped to its bounding box, `cv2.resize`d nearest to width Wc
    keeping the aspect ratio (round(h * Wc / w) rows, at least 1), top-aligned in the canvas."""
    ch, cw = canvas
    out = np.zeros((ch, cw), np.float32)
    ys, xs = np.nonzero(mask)
    if len(ys):
        crop = mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
        rows = max(1, round(crop.shape[0] * cw / crop.shape[1]))
        out[: min(rows, ch)] = cv2.resize(crop, (cw, rows), interpolation=cv2.INTER_NEAREST)[:ch] != 0
    return out.ravel()


@pytest.fixture
def cv2_normalized():
    """`normalized_by_cv2(mask, canvas)`: the test oracle of normalized masks."""
    return normalized_by_cv2


@pytest.fixture
def make_batch():
    """`batch(b, h=64, w=32, seed=0, ids=None, views=1)` as a fixture."""
    return batch


def _usable_cupy():
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # no CuPy, no driver, no device
        return None


CUDA_DIR = os.environ.get("ASR_CUDA_DIR")
"""Test plumbing for tests/kernels/test_mutations.py: a folder of altered copies of the CUDA
sources that this session's kernels are built from instead of kernels/cuda/."""
if CUDA_DIR:
    from attention_swap_reid.kernels import cuda_sources

    cuda_sources.CUDA_DIR = Path(CUDA_DIR)
REQUIRE_GPU = bool(os.environ.get("ASR_REQUIRE_GPU"))
"""Set by benchmarks/gpu_check.sh: on a GPU machine a GPU test that finds no GPU fails."""
SANITIZER = os.environ.get("ASR_EMULATION_SANITIZER") or None
"""The sanitizer the CPU emulation is built with in this session ("thread" or "address"; the
Makefile's emulation-tsan / emulation-asan targets set it and preload the sanitizer's runtime)."""


@pytest.fixture(scope="session")
def _emulator_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cuda-emulator")


@pytest.fixture(params=[pytest.param("cuda", marks=pytest.mark.gpu), "emulated"])
def cp(request, _emulator_dir):
    """The cupy backend's array module: real CuPy on a GPU ("cuda", skipped without one), or
    the CPU emulation of the same CUDA kernels ("emulated", see kernels/testing/emulation.py; needs g++)."""
    if request.param == "cuda":
        cupy = _usable_cupy()
        if cupy is None:
            (pytest.fail if REQUIRE_GPU else pytest.skip)("needs a CUDA GPU with CuPy")
        yield cupy
        return
    if shutil.which("g++") is None:
        pytest.skip("the CUDA emulation needs g++")
    from attention_swap_reid.kernels.testing.emulation import installed, make_module

    with installed(make_module(_emulator_dir, sanitizer=SANITIZER)) as fake:
        yield fake


@pytest.fixture
def emulated(_emulator_dir):
    """The CPU emulation of the cupy backend alone (for what only it can do: counting the device
    operations and host synchronizations of a call, see kernels/testing/emulation.py)."""
    if shutil.which("g++") is None:
        pytest.skip("the CUDA emulation needs g++")
    from attention_swap_reid.kernels.testing.emulation import installed, make_module

    with installed(make_module(_emulator_dir, sanitizer=SANITIZER)) as fake:
        yield fake
