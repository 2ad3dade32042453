"""`AttentionAugment`: the implicit-attention background swap on a batch.

Per call: ROI masks -> normalized masks -> all-pairs compatibility against the pool (batch +
bank) -> donor draw (counter-based RNG) -> gather donors -> dilate their ROIs -> inpaint the
holes -> composite -> (optionally) the BoT tail -> store the batch in the bank. The numpy
backend runs the public steps one after the other on the swapped samples only. The cupy
backend runs the same computation as a few fused kernels on all samples (a sample without a
donor keeps its image): about a dozen device operations per batch, no host synchronization,
no host-to-device copy (see `cupy_fused.attention_augment`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import rng
from .arrays import array_module, device_context, from_torch, library_of, to_torch, torch_on_gpu
from .bank import DonorBank
from .compat import compatibility
from .composite import composite
from .config import AugmentConfig, backend_problems
from .controls import BACKGROUNDS, DONORS, draw_generic, load_pictures, new_backgrounds
from .dilate import dilate
from .donors import draw_donors
from .inpaint import inpaint
from .layouts import masks_bhw, to_uint8_bhwc
from .masks import normalize_masks, roi_masks
from .records import DonorKeys
from .tables import CANVAS, INPAINTERS
from .tail import Tail, bot_tail, checked_tail, tail_to_torch

BACKENDS = ("numpy", "cupy", "auto")


@dataclass(frozen=True)
class AugmentOutput:
    """Result of `AttentionAugment` for a batch of B samples, in the caller's array library.

    images: (B, H, W, 3) uint8, augmented; with a tail, float32 (B, 3, H, W) after the tail
    (NCHW memory, or NHWC memory with channels_last strides when the tail asks for it).
    donor: (B,) int64 pool index of the donor (j < B: a sample of the batch, B + s: bank slot
    s), -1 where not swapped. swapped: (B,) bool. donor_pids: (B,) int64 pid of the donor, -1
    where not swapped. Labels are unchanged.
    """

    images: object
    donor: object
    swapped: object
    donor_pids: object
    wanted: object  # (B,) bool backend array: the swap draw came out (u < p)
    candidates: object  # (B,) int32 backend array: compatible donors per sample

    @cached_property
    def stats(self) -> dict:
        """swapped, no_donor (wanted a swap, had no candidate), wanted, from_bank (counts),
        candidates_mean (float). Computed on first access; on the GPU this synchronizes."""
        xp = array_module(self.candidates)
        b = self.candidates.shape[0]
        donor, swapped = (a if library_of(a) != "torch" else from_torch(a) for a in (self.donor, self.swapped))
        counts = xp.stack([swapped.sum(), (self.wanted & (self.candidates == 0)).sum(),
                           self.wanted.sum(), (donor >= b).sum(), self.candidates.sum()])
        swapped, no_donor, wanted, from_bank, candidates = (int(c) for c in counts.tolist())
        return dict(swapped=swapped, no_donor=no_donor, wanted=wanted, from_bank=from_bank,
                    candidates_mean=candidates / b if b else 0.0, batch_size=b)


class AttentionAugment:
    """Background swap keeping each sample's ROI (person, upper or lower body).

    backend: "numpy" (host arrays), "cupy" (GPU arrays) or "auto" (by where the input lives).
    Calls take numpy or cupy arrays, or torch tensors (via DLPack, CPU -> numpy backend, CUDA ->
    cupy backend on torch's current stream), and return the same kind. The cupy backend runs on
    the current CuPy stream as a few fused kernels and does not synchronize (only `out.stats`
    does); pass pids, viewpoints, index and the tail's arrays on the device, or they are copied
    there first.

    >>> aug = AttentionAugment(AugmentConfig(p=1.0, min_iou=0.0, min_area_ratio=0.0, dilate=3))
    >>> images = np.zeros((2, 16, 8, 3), np.uint8); images[1] = 200
    >>> masks = np.zeros((2, 16, 8), np.uint8); masks[:, 4:12, 2:6] = 1
    >>> out = aug(images, masks, np.array([1, 2]), np.array([0, 0]))
    >>> out.donor.tolist(), int(out.images[0, 0, 0, 0]), int(out.images[0, 8, 4, 0])
    ([1, 0], 200, 0)
    """

    def __init__(self, config: AugmentConfig = AugmentConfig(), backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"AttentionAugment: backend={backend!r}: expected one of {list(BACKENDS)}")
        if not isinstance(config, AugmentConfig):
            raise TypeError(f"AttentionAugment: config must be an AugmentConfig, got {type(config).__name__}")
        if backend != "auto":
            _check_config(config, backend)
        self.config = config
        self.backend = backend
        self.bank = DonorBank(config.bank_size)
        self._pictures = load_pictures(config.background_dir) if config.background == "images" else None
        self._next_index = 0  # for calls without `index`: consecutive calls get consecutive indices

    def __call__(self, images, masks, pids, viewpoints=None, epoch: int = 0, index=None, tail: Tail | None = None,
                 layout: str = "BHWC", value_range: float | None = None) -> AugmentOutput:
        """Augment a batch.

        images: (B, H, W, 3) uint8 RGB; or, with `layout="BCHW"`, (B, 3, H, W); float images
        need `value_range` (1.0: values in [0, 1], as torchvision's ToTensor; 255.0), are
        rounded to 8 bits and come back in their layout, dtype and range. masks: (B, H, W)
        (under BCHW also (B, 1, H, W)), non-zero = person; same array library as `images`.
        pids: (B,) integers. viewpoints: (B,) integers (< 0 = unknown), or None (all unknown).
        epoch: int. index: (B,) integer global sample indices keying the RNG; None
        uses an internal counter (call k of this object gets indices k*B .. k*B + B - 1 for equal
        B), so consecutive calls draw differently and a fresh object replays the same draws.
        pids, viewpoints and index may also be host arrays or sequences when images are on the GPU
        (they are then copied to the device). tail: a `Tail` (its arrays in the images' library)
        to apply the BoT tail (`bot_tail`) to the augmented images: `out.images` is then
        (B, 3, H, W) of `tail.dtype` (float32 by default). Does not synchronize on the cupy backend.
        """
        library = library_of(images)
        if library_of(masks) != library:
            raise TypeError(f"AttentionAugment: images are {library} but masks are {library_of(masks)}")
        on_gpu = library == "cupy" or (library == "torch" and torch_on_gpu(images))
        self._check_backend(library, on_gpu)
        with device_context(images):
            if library == "torch":
                images, masks = from_torch(images), from_torch(masks)
                tail = None if tail is None else tail.without_tensors()
            images, back = to_uint8_bhwc(images, layout, value_range)
            masks = masks_bhw(masks, layout, images.shape[:3])
            xp = array_module(images)
            if viewpoints is None:
                viewpoints = xp.full(images.shape[0], -1, np.int64)
            labels = dict(pids=pids, viewpoints=viewpoints, index=index)
            labels = {name: None if a is None else _labels_array(name, a, xp) for name, a in labels.items()}
            out = self._augment(*self._validated(images, masks, **labels), int(epoch), tail)
            if tail is None and (layout != "BHWC" or value_range is not None):
                out = dataclasses.replace(out, images=back(out.images))
            if library == "torch":
                images = to_torch(out.images) if tail is None else tail_to_torch(out.images, tail)
                out = AugmentOutput(images, *(to_torch(a) for a in (out.donor, out.swapped, out.donor_pids)),
                                    wanted=out.wanted, candidates=out.candidates)
        return out

    def _check_backend(self, library: str, on_gpu: bool) -> None:
        needed = "cupy" if on_gpu else "numpy"
        if self.backend not in ("auto", needed):
            where = "GPU" if on_gpu else "host"
            wanted = "cupy arrays or CUDA tensors" if self.backend == "cupy" else "numpy arrays or CPU tensors"
            raise ValueError(f"AttentionAugment: backend={self.backend!r} got {library} arrays on the {where}; "
                             f"pass {wanted} or use backend='auto'")
        _check_config(self.config, needed)

    def _validated(self, images, masks, pids, viewpoints, index):
        """Shapes and dtypes checked once here (the images' by `to_uint8_bhwc`): (images, masks
        uint8, pids, viewpoints, index int64 or None, index_base): without `index`, sample i has
        index index_base + i."""
        xp = array_module(images)
        b = images.shape[0]
        if tuple(masks.shape) != tuple(images.shape[:3]) or masks.dtype not in (np.uint8, np.bool_):
            raise ValueError(f"AttentionAugment: masks must be {tuple(images.shape[:3])} uint8, "
                             f"got {tuple(masks.shape)} {masks.dtype}")
        index_base = self._next_index
        self._next_index += b
        labels = dict(pids=pids, viewpoints=viewpoints) | ({} if index is None else dict(index=index))
        for name, a in labels.items():
            if tuple(a.shape) != (b,) or a.dtype.kind not in "iu":
                raise ValueError(f"AttentionAugment: {name} must be ({b},) integers, got {tuple(a.shape)} {a.dtype}")
        pids, viewpoints, index = (None if a is None else xp.ascontiguousarray(a).astype(np.int64, copy=False)
                                   for a in (pids, viewpoints, index))
        return (xp.ascontiguousarray(images), xp.ascontiguousarray(masks).view(np.uint8), pids, viewpoints, index,
                index_base)

    def _augment(self, images, masks, pids, viewpoints, index, index_base: int, epoch: int, tail) -> AugmentOutput:
        cfg = self.config
        xp = array_module(images)
        b = images.shape[0]
        tail_arrays = () if tail is None else checked_tail(tail, b, xp)
        if b == 0:
            none = xp.zeros(0, np.int64)
            return AugmentOutput(images=images.copy() if tail is None else bot_tail(images, tail), donor=none,
                                 swapped=none.astype(bool), donor_pids=none, wanted=none.astype(bool),
                                 candidates=none.astype(np.int32))
        if xp is not np:
            from . import cupy_fused

            key = rng.epoch_key(cfg.seed, epoch)
            out, donor, wanted, candidates, swapped, donor_pids = cupy_fused.attention_augment(
                cfg, self.bank, images, masks, pids, viewpoints, index, index_base, key, CANVAS, tail, tail_arrays)
            return AugmentOutput(images=out, donor=donor, swapped=swapped, donor_pids=donor_pids, wanted=wanted,
                                 candidates=candidates)
        if index is None:
            index = np.arange(index_base, index_base + b, dtype=np.int64)
        rois = roi_masks(masks, cfg.roi, cfg.split)
        if BACKGROUNDS[cfg.background].make is not None:
            return self._generic(images, rois, index, epoch, tail)
        keys = DonorKeys(rois.areas, normalize_masks(rois), pids, viewpoints)
        pool = self.bank.pool_keys(keys)
        compat = compatibility(keys, pool, min_area_ratio=cfg.min_area_ratio, min_iou=cfg.min_iou,
                               same_viewpoint=cfg.same_viewpoint, same_identity=DONORS[cfg.donor].same_identity)
        draw = draw_donors(compat, index, p=cfg.p, seed=cfg.seed, epoch=epoch)
        out_images = self._apply(images, rois, draw.donor)
        swapped = draw.donor >= 0
        donor_pids = np.where(swapped, pool.pids[np.maximum(draw.donor, 0)], -1)
        self.bank.push(images, rois, keys)
        if tail is not None:
            out_images = bot_tail(out_images, tail)
        return AugmentOutput(images=out_images, donor=draw.donor, swapped=swapped, donor_pids=donor_pids,
                             wanted=draw.wanted, candidates=draw.candidates)

    def _generic(self, images, rois, index, epoch: int, tail) -> AugmentOutput:
        """A background without donor (a control of `controls.BACKGROUNDS`, numpy): the swapped
        samples' ROIs over new backgrounds; the bank is not used."""
        cfg = self.config
        draw = draw_generic(rois.areas, index, p=cfg.p, seed=cfg.seed, epoch=epoch)
        swapped = draw.wanted & (draw.candidates > 0)
        rows = np.flatnonzero(swapped)
        out = images.copy()
        if rows.size:
            backgrounds = new_backgrounds(cfg.background, self._pictures, (rows.size, *images.shape[1:]), cfg.seed,
                                          epoch, index[rows])
            out[rows] = composite(images[rows], rois.masks[rows], backgrounds)
        if tail is not None:
            out = bot_tail(out, tail)
        return AugmentOutput(images=out, donor=draw.donor, swapped=swapped, donor_pids=draw.donor.copy(),
                             wanted=draw.wanted, candidates=draw.candidates)

    def _apply(self, images, rois, donor):
        """Composite every swapped sample's ROI over its donor's inpainted background (numpy)."""
        cfg = self.config
        rows = np.flatnonzero(donor >= 0)
        if rows.size == 0:
            return images.copy()
        donor_images, donor_rois, donor_boxes = self.bank.take(images, rois, donor[rows])
        inpainter = INPAINTERS[cfg.inpaint]
        if not inpainter.fills:
            background = donor_images
        else:
            radius = inpainter.radius_for(donor_boxes[:, 3] - donor_boxes[:, 2] + 1)  # of the donor's ROI box
            background = inpaint(donor_images, dilate(donor_rois, cfg.dilate), cfg.inpaint, radius=radius)
        out = images.copy()
        out[rows] = composite(images[rows], rois.masks[rows], background)
        return out


def _check_config(config: AugmentConfig, backend: str) -> None:
    """Refuse a config whose choices (inpainter, donor rule, background) do not run on array
    backend `backend`, naming them."""
    problems = backend_problems(config, backend)
    if problems:
        raise ValueError(f"AttentionAugment: {'; '.join(problems)}")


def _labels_array(name: str, a, xp):
    """pids / viewpoints / index as an array of `xp` (host values are copied to the GPU as needed)."""
    source = library_of(a) if hasattr(a, "shape") and hasattr(a, "dtype") else "sequence"
    if source == "torch":
        a = from_torch(a)
    elif source == "cupy" and xp is np:
        raise TypeError(f"AttentionAugment: {name} is a cupy array but images are on the host")
    return xp.asarray(a)
