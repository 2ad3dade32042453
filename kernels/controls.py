"""Controls of the augmentation's mechanism: whose image lends the background (`DONORS`) and
where a swapped sample's new background comes from (`BACKGROUNDS`).

The paper's augmentation is the first entry of each ("other": another identity's image;
"donor": that image with its person inpainted). The other entries are experiment-only
controls that separate the donor swap from simpler explanations:

- donor "same": another image of the *same* identity, composited the same way (dilated hole,
  inpainted): the compositing stays, the background still goes with the identity.
- background "images": a picture drawn from a folder (`AugmentConfig.background_dir`), e.g.
  scenes no training image shows; background "noise": uniform noise. Neither needs a donor:
  a sample with a non-empty ROI whose swap draw comes out (`u < p`) gets one.

The controls run on the numpy backend only; `backend_problem` names them on cupy, the way
`INPAINTERS` refuses "telea" there. The draws are those of `donors` (stream 0 decides the swap;
stream 1 picks the picture, `h % number of pictures`), and the noise of a sample comes from a
generator keyed by (seed, epoch, sample index), so the controls replay exactly too.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from . import rng
from .records import DonorDraw

PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class DonorRule:
    """same_identity: a donor must have the sample's pid (True) or another pid (False).
    backends: the array backends it runs on."""

    same_identity: bool
    backends: tuple[str, ...]


DONORS = {
    "other": DonorRule(False, ("numpy", "cupy")),
    "same": DonorRule(True, ("numpy",)),
}
"""name -> `DonorRule`: the choices of `AugmentConfig.donor`."""


@dataclass(frozen=True)
class Background:
    """make: (pictures (N, H, W, 3) uint8 or None, shape (k, H, W, 3), key, index (k,) int64)
    -> (k, H, W, 3) uint8 new backgrounds of k samples; None: the donor's inpainted background.
    backends: the array backends it runs on."""

    make: Callable | None
    backends: tuple[str, ...]


def _pictures(pictures: np.ndarray, shape: tuple, key: int, index: np.ndarray) -> np.ndarray:
    """Picture `h % N` (stream 1) of `pictures` for each sample, resized (area) to the batch's size."""
    h, w = shape[1:3]
    if pictures.shape[1:3] != (h, w):
        pictures = np.stack([cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA) for p in pictures])
    return pictures[rng.sample_hash(key, index, rng.STREAM_DONOR) % np.uint64(len(pictures))]


def _noise(pictures, shape: tuple, key: int, index: np.ndarray) -> np.ndarray:
    """Uniform noise in [0, 255], each sample's from a generator keyed by (key, its index)."""
    return np.stack([np.random.default_rng([key, int(i)]).integers(0, 256, shape[1:], dtype=np.uint8)
                     for i in index]).reshape(shape)


BACKGROUNDS = {
    "donor": Background(None, ("numpy", "cupy")),
    "images": Background(_pictures, ("numpy",)),
    "noise": Background(_noise, ("numpy",)),
}
"""name -> `Background`: the choices of `AugmentConfig.background`."""


def backend_problem(table: Mapping, name: str, backend: str) -> str | None:
    """Why entry `name` of a table whose entries declare `backends` (`INPAINTERS`, `DONORS`,
    `BACKGROUNDS`) cannot run on array backend `backend` ("numpy" or "cupy"), or None.

    >>> backend_problem(DONORS, "same", "cupy")
    "'same' runs on the numpy backend only; on cupy use 'other'"
    """
    backends = table[name].backends
    if backend in backends:
        return None
    usable = " or ".join(repr(other) for other, entry in table.items() if backend in entry.backends)
    return (f"{name!r} runs on the {' and '.join(backends)} backend{'s' if len(backends) > 1 else ''} only; "
            f"on {backend} use {usable}")


def load_pictures(folder: str | os.PathLike) -> np.ndarray:
    """Every picture in `folder` (by name; .jpg, .jpeg, .png, .bmp) as (N, H, W, 3) uint8 RGB.
    Raises ValueError naming the folder when it has none, or a file that is unreadable or of
    another size than the first."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"background_dir: {folder!r} is not a folder")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(PICTURE_SUFFIXES))
    if not names:
        raise ValueError(f"background_dir: {folder!r} holds no picture ({', '.join(PICTURE_SUFFIXES)})")
    pictures = []
    for name in names:
        image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"background_dir: cannot read {os.path.join(folder, name)}")
        if pictures and image.shape != pictures[0].shape:
            raise ValueError(f"background_dir: {os.path.join(folder, name)} is {image.shape[1]}x{image.shape[0]}, "
                             f"the first picture {pictures[0].shape[1]}x{pictures[0].shape[0]}; use one size")
        pictures.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return np.stack(pictures)


def draw_generic(areas: np.ndarray, index: np.ndarray, *, p: float, seed: int, epoch: int) -> DonorDraw:
    """The swap draw of a background without donor: sample i (ROI area `areas[i]`, (B,) int) is
    swapped when `u_i < p` (stream 0, as `draw_donors`) and its ROI is not empty. donor: all -1;
    candidates: 1 where the ROI is not empty (a background is always there)."""
    key = rng.epoch_key(seed, epoch)
    wanted = rng.uniform(rng.sample_hash(key, index, rng.STREAM_SWAP)) < p
    return DonorDraw(donor=np.full(len(index), -1, np.int64), wanted=wanted, candidates=(areas > 0).astype(np.int32))


def new_backgrounds(name: str, pictures: np.ndarray | None, shape: tuple, seed: int, epoch: int,
                    index: np.ndarray) -> np.ndarray:
    """(k, H, W, 3) uint8 backgrounds of `BACKGROUNDS[name]` for the k samples `index` ((k,) int64)."""
    return BACKGROUNDS[name].make(pictures, shape, rng.epoch_key(seed, epoch), index)
