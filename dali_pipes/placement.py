"""Where a loader's work runs and how much of it runs at once (`Placement`): choices that
change the speed of the loaders, never their batches."""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

AUGMENT_IN = ("auto", "pipeline", "iterator")
MASK_SOURCES = ("bank", "png")


@dataclass(frozen=True)
class Placement:
    """Where the loaders' work runs. Every choice yields the same batches (tested bit for bit on
    the CPU; `benchmarks/results/README.md` has the measurements behind the defaults).

    augment_in: "auto" (default), "pipeline" or "iterator". "pipeline" runs the attention
        augmentation inside the DALI graph (`fn.python_function`, handed per-sample lists) and
        the BoT tail (flip, pad + crop, normalize, erase) as DALI operators; "iterator" lets DALI
        decode and resize only and runs the augmentation and the tail on the iterator's dense
        batch, on torch's current stream (on the GPU a few fused CUDA kernels, no host sync).
        "auto" is "pipeline" on the CPU, where it overlaps with the consumer, and "iterator" on
        the GPU. `ReIDLoader` only.
    mask_source: "bank" (default) or "png". "bank" decodes the training masks once, at
        construction, into a bit-packed `MaskBank` (copied to the GPU in GPU mode) gathered by
        sample index; "png" decodes each batch's PNG masks. `ReIDLoader` only.
    source_workers: int >= 0, default 1. Worker processes (`dali_pipes/source_workers.py`) that
        build each training batch's source rows ahead into shared memory: the files are opened
        there, never on the training process's main thread; 0 builds them on the main thread.
        `ReIDLoader` only.
    num_threads: int >= 1, default 2. DALI's CPU threads (decoding, resizing, CPU operators).
    prefetch: int >= 1, default 2. Batches DALI prepares ahead (its prefetch queue depth).

    One `Placement` serves both loaders; `EvalLoader` (no augmentation, files read on the
    pipeline's thread) reads `num_threads` and `prefetch` only.
    """

    augment_in: str = "auto"
    mask_source: str = "bank"
    source_workers: int = 1
    num_threads: int = 2
    prefetch: int = 2

    def __post_init__(self) -> None:
        for name, allowed in (("augment_in", AUGMENT_IN), ("mask_source", MASK_SOURCES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        for name, least in (("source_workers", 0), ("num_threads", 1), ("prefetch", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")

    def resolved(self, gpu: bool) -> str:
        """`augment_in` with "auto" resolved for a loader on the GPU (`gpu`) or the CPU."""
        if self.augment_in != "auto":
            return self.augment_in
        return "iterator" if gpu else "pipeline"
