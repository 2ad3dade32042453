"""What the throughput benchmark times: each builder returns a *step*, a callable that does one
unit of work (one batch from a loader, one augmentation call) and returns its image count.

A GPU step synchronizes the device before returning, so a window's wall time is the work's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from attention_swap_reid.benchmarks.authors_loader import (authors_loader, authors_swap_batch, read_image,
                                                           read_mask)
from attention_swap_reid.dali_pipes.manifest import Sample

Step = Callable[[], int]


@dataclass(frozen=True)
class PreparedBatch:
    """A decoded + resized batch, the input of the augmentation (numpy, CPU).

    images: (B, H, W, 3) uint8 RGB; masks: (B, H, W) uint8 {0, 1}; pids, viewpoints: (B,) int64.
    """

    images: np.ndarray
    masks: np.ndarray
    pids: np.ndarray
    viewpoints: np.ndarray

    def head(self, n: int) -> "PreparedBatch":
        """The first `n` samples."""
        return PreparedBatch(self.images[:n], self.masks[:n], self.pids[:n], self.viewpoints[:n])


def prepare_batch(samples: Sequence[Sample], size: tuple[int, int], batch: int, seed: int = 0) -> PreparedBatch:
    """Decode `batch` training samples drawn without replacement (repeats only if fewer exist)."""
    rng = np.random.default_rng([seed, 0x5EED])
    order = np.concatenate([rng.permutation(len(samples)) for _ in range(-(-batch // len(samples)))])[:batch]
    chosen = [samples[i] for i in order]
    return PreparedBatch(images=np.stack([read_image(s.image, size) for s in chosen]),
                         masks=np.stack([read_mask(s.mask, size) for s in chosen]),
                         pids=np.array([s.pid for s in chosen], np.int64),
                         viewpoints=np.array([s.viewpoint for s in chosen], np.int64))


def _synchronize(device: str) -> None:
    if device == "gpu":
        import torch

        torch.cuda.synchronize()


def authors_step(samples: Sequence[Sample], size: tuple[int, int], batch: int, workers: int, p: float,
                 seed: int = 0) -> Step:
    """One batch of the authors-style DataLoader (`workers` processes, swap probability `p`)."""
    it = iter(authors_loader(samples, size, batch, workers, p=p, seed=seed))
    return lambda: len(next(it)["pids"])


def endless(loader) -> Iterator[dict]:
    """Batches of a `ReIDLoader` over consecutive epochs, forever."""
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def loader_step(manifest: str, size: tuple[int, int], batch: int, device: str, threads: int, augment,
                seed: int = 0, **placement) -> Step:
    """One batch of our `ReIDLoader` (decode + resize [+ augmentation] + BoT augs); `placement`
    are `dali_pipes.Placement` fields besides the threads (where the augmentation runs, the mask
    source). The manifest is not re-validated (the benchmark checks it once)."""
    from attention_swap_reid.dali_pipes import Placement, ReIDLoader

    loader = ReIDLoader(manifest, split="train", batch_size=batch, num_instances=4, size=size, augment=augment,
                        device=device, seed=seed, validate=False, placement=Placement(num_threads=threads, **placement))
    batches = endless(loader)

    def step() -> int:
        n = len(next(batches)["pids"])
        _synchronize(device)
        return n

    return step


def kernel_step(prepared: PreparedBatch, config, device: str) -> Step:
    """One `AttentionAugment` call on the prepared batch (cupy arrays on the GPU), a new epoch each call."""
    from attention_swap_reid.kernels import AttentionAugment

    arrays = [prepared.images, prepared.masks, prepared.pids, prepared.viewpoints]
    if device == "gpu":
        import cupy

        arrays = [cupy.asarray(a) for a in arrays]
    aug = AttentionAugment(config, backend="cupy" if device == "gpu" else "numpy")
    epoch = iter(range(1 << 62))

    def step() -> int:
        out = aug(*arrays, epoch=next(epoch))
        if device == "gpu":
            out.images.device.synchronize()
        return len(out.images)

    return step


def authors_core_step(prepared: PreparedBatch, p: float, seed: int = 0, chunk: int = 16) -> Step:
    """The authors' per-sample dilate + Telea + paste on the prepared batch, one sample at a time.

    Each step processes the next `chunk` samples of the batch (cyclically; donors from the
    whole batch), so a slow per-sample path still gets several steps per timed window.
    """
    rng = np.random.default_rng([seed, 0xA07])
    n = len(prepared.images)
    starts = iter(range(0, 1 << 62, chunk))

    def step() -> int:
        first = next(starts)
        indices = [(first + k) % n for k in range(chunk)]
        out, _ = authors_swap_batch(prepared.images, prepared.masks, prepared.pids, prepared.viewpoints, p, rng,
                                    indices)
        return len(out)

    return step
