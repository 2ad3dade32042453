"""The BoT tail of the training graph: horizontal flip, pad + crop, normalization, random erasing.

Per sample b of a (B, H, W, 3) uint8 batch, with the parameters of a `Tail`:

1. flip: where `flip[b]` is non-zero, mirror the image horizontally (x -> W - 1 - x).
2. pad + crop: the H x W window whose top-left corner is `crop_anchor[b]` = (y, x) (whole
   pixels, truncated to integers; negative or past the far edge = inside the zero padding) of
   the flipped image; pixels outside the image are 0.
3. normalize: float32 (B, 3, H, W) = (float32(pixel) - mean_c) / std_c, both float32, in
   that order (two rounded float32 operations).
4. erase: output rows y and columns x with ay <= y < ay + h and ax <= x < ax + w (float32
   comparisons), (ay, ax) = `erase_anchor[b]`, (h, w) = `erase_shape[b]`, are set to `fill`
   (per channel, output units; default 0, the mean colour after normalization; shape 0:
   nothing erased).

The result is (B, 3, H, W) float32, or float16 / bfloat16 rounded to nearest even from that
float32 (`Tail.dtype`; NumPy and CuPy have no bfloat16: its bits come as uint16, torch gets
torch.bfloat16): C-contiguous, or with `channels_last` NHWC memory viewed as (B, 3, H, W)
(strides of torch's channels_last format).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .arrays import device_context, from_torch, from_torch_if_tensor, is_cupy, library_of, to_torch
from .tables import OUT_TYPES

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


ARRAYS = ("flip", "crop_anchor", "erase_anchor", "erase_shape")


@dataclass(frozen=True)
class Tail:
    """Per-batch parameters of the BoT tail (arrays of the images' library and device).

    flip: (B,) int32, 0 or 1. crop_anchor: (B, 2) float32 (y, x) of the crop window, whole
    pixels. erase_anchor: (B, 2) float32 (y, x). erase_shape: (B, 2) float32 (h, w), 0 = no
    erasing. mean, std: per-channel (R, G, B) in 0-255 units. fill: per-channel value of erased
    pixels, in output units (0 = the mean colour after normalization; with mean 0 and std 1 the
    output is in pixels and the mean colour is `mean`'s usual value). channels_last: the
    output's memory is NHWC (viewed as (B, 3, H, W)) instead of NCHW. dtype: the output's
    element type, one of `OUT_TYPES` (written by the tail itself, not cast after it). The
    arrays may also be torch tensors (CPU or CUDA, as the images).
    Other dtypes are accepted and converted (on the GPU at one device operation each).
    """

    flip: object
    crop_anchor: object
    erase_anchor: object
    erase_shape: object
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    fill: tuple = (0.0, 0.0, 0.0)
    channels_last: bool = False
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("mean", "std", "fill"):
            value = getattr(self, name)
            if len(value) != 3:
                raise ValueError(f"Tail.{name}={value!r}: expected 3 numbers (R, G, B)")
        if not isinstance(self.channels_last, bool):
            raise ValueError(f"Tail.channels_last={self.channels_last!r}: expected True or False")
        if self.dtype not in OUT_TYPES:
            raise ValueError(f"Tail.dtype={self.dtype!r}: expected one of {list(OUT_TYPES)}")

    def without_tensors(self) -> "Tail":
        """This tail with its torch tensors as numpy/cupy arrays sharing their memory (DLPack)."""
        return dataclasses.replace(self, **{name: from_torch_if_tensor(getattr(self, name)) for name in ARRAYS})


def checked_tail(tail: Tail, b: int, xp) -> tuple:
    """(flip int32 (B,), crop_anchor, erase_anchor, erase_shape float32 (B, 2)) as C-contiguous
    arrays of `xp`; wrong shapes raise ValueError."""
    if not isinstance(tail, Tail):
        raise TypeError(f"tail must be a kernels.Tail, got {type(tail).__name__}")
    arrays = []
    for name, shape, dtype in (("flip", (b,), np.int32), ("crop_anchor", (b, 2), np.float32),
                               ("erase_anchor", (b, 2), np.float32), ("erase_shape", (b, 2), np.float32)):
        a = getattr(tail, name)
        if tuple(a.shape) != shape:
            raise ValueError(f"Tail.{name} must have shape {shape} for a batch of {b}, got {tuple(a.shape)}")
        if is_cupy(a) != (xp is not np):
            raise ValueError(f"Tail.{name} must live where the images do ({xp.__name__} arrays)")
        arrays.append(xp.ascontiguousarray(a) if a.dtype == dtype else xp.ascontiguousarray(a).astype(dtype))
    return tuple(arrays)


def bot_tail(images, tail: Tail):
    """The BoT tail (module doc) of `images` (B, H, W, 3) uint8: (B, 3, H, W) of `tail.dtype`.

    Same array library as `images` (numpy, cupy, or torch tensors via DLPack, CUDA ones on
    torch's current stream); the tail's arrays live where the images do. The cupy backend runs
    one kernel and does not synchronize.

    >>> img = np.zeros((1, 2, 2, 3), np.uint8); img[0, 0, 0] = 255
    >>> t = Tail(np.array([1], np.int32), np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32),
    ...          np.zeros((1, 2), np.float32), mean=(0, 0, 0), std=(1, 1, 1))
    >>> bot_tail(img, t)[0, 0].tolist()
    [[0.0, 255.0], [0.0, 0.0]]
    """
    if library_of(images) == "torch":
        with device_context(images):
            return tail_to_torch(bot_tail(from_torch(images), tail.without_tensors()), tail)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"bot_tail: images must be (B, H, W, 3) uint8, got shape {tuple(images.shape)} "
                         f"dtype {images.dtype}")
    if is_cupy(images):
        import sys

        from . import cupy_ops

        return cupy_ops.bot_tail(images, *checked_tail(tail, images.shape[0], sys.modules["cupy"]), tail)
    flip, crop_anchor, erase_anchor, erase_shape = checked_tail(tail, images.shape[0], np)
    b, h, w, _ = images.shape
    flipped = np.where(flip.astype(bool)[:, None, None, None], images[:, :, ::-1], images)
    anchor = crop_anchor.astype(np.int64)  # truncated, as torch's .long()
    ys = anchor[:, :1] + np.arange(h)  # (B, H)
    xs = anchor[:, 1:] + np.arange(w)  # (B, W)
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    window = flipped[np.arange(b)[:, None, None], np.clip(ys, 0, h - 1)[:, :, None], np.clip(xs, 0, w - 1)[:, None, :]]
    window = np.where(inside[..., None], window, np.uint8(0))
    mean, std = np.asarray(tail.mean, np.float32), np.asarray(tail.std, np.float32)
    out = (window.astype(np.float32) - mean) / std  # (B, H, W, 3)
    rows = np.arange(h, dtype=np.float32)
    cols = np.arange(w, dtype=np.float32)
    in_y = (rows >= erase_anchor[:, :1]) & (rows < erase_anchor[:, :1] + erase_shape[:, :1])  # (B, H)
    in_x = (cols >= erase_anchor[:, 1:]) & (cols < erase_anchor[:, 1:] + erase_shape[:, 1:])  # (B, W)
    out[in_y[:, :, None] & in_x[:, None, :]] = np.asarray(tail.fill, np.float32)
    out = _as_out_type(out, tail.dtype).transpose(0, 3, 1, 2)
    return out if tail.channels_last else np.ascontiguousarray(out)


def _as_out_type(values: np.ndarray, dtype: str) -> np.ndarray:
    """float32 values in `dtype`'s storage (`OUT_TYPES`), rounded to nearest even; bfloat16:
    the upper 16 bits of the float32 after adding 0x7fff + the lowest kept bit (NaN: 0x7fc0)."""
    if dtype == "float32":
        return values
    if dtype == "float16":
        with np.errstate(over="ignore"):  # beyond 65504: infinity, as intended
            return values.astype(np.float16)
    bits = values.view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(values), np.uint16(0x7FC0), rounded)


def tail_to_torch(out, tail: Tail):
    """The tail's numpy/cupy output as a torch tensor (DLPack), bfloat16 bits as torch.bfloat16."""
    tensor = to_torch(out)
    if tail.dtype == "bfloat16":
        import torch

        tensor = tensor.view(torch.bfloat16)
    return tensor
