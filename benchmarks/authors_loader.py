"""Reference of the authors' per-sample approach, for benchmarking only (not for training).

Yaghoubi et al.'s code (a fork of reid-strong-baseline) runs the background swap per sample
inside a PyTorch `Dataset`: decode the image and mask, pick a donor among the other training
images, decode the donor's image and mask, grow the donor's mask with `cv2.dilate(7x7 ones,
iterations=5)`, fill it with `cv2.inpaint(..., INPAINT_TELEA)` of radius 0.1 x the bounding-box
width, paste the person, then BoT's per-sample transforms. This module reproduces that *cost*
with the project's semantics (docs/design.md), so the figures compare like with like.

Kept from their code (it is the cost): per-sample OpenCV decodes (4 per augmented sample:
own image and mask, donor image and mask), the 7x7 x5 dilation, Telea with their radius,
the paste, BoT's transforms per sample in the workers.
Not copied, each of which only made their path slower or wrong:
- the ~45 ms per sample rebuilding candidate lists (donor lists per viewpoint are built once);
- the two extra decodes of the sample's own image (PIL then OpenCV);
- re-rolling `p` on failure (the rate here is exactly `p`), BGR output, donors from
  query/gallery or the sample itself (donors: other training identities, same viewpoint when
  both are known, no area/IoU check -- their checks never reject in practice).
Each sample's random draws come from its own generator seeded by `(seed, draw)`; OpenCV runs
single-threaded in each worker so N workers use N cores. Workers are spawned, not forked: a
fork after OpenCV, DALI or tqdm started threads in the parent can deadlock the worker (worker
start-up is outside the timed windows either way).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from attention_swap_reid.dali_pipes.manifest import Sample

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
ERASE_FILL = np.array([0.4914, 0.4822, 0.4465], np.float32)  # BoT's RandomErasing fill
DILATE_KERNEL = np.ones((7, 7), np.uint8)
DILATE_ITERATIONS = 5


def read_image(path: str, size: tuple[int, int]) -> np.ndarray:
    """Decode `path` with OpenCV -> (H, W, 3) uint8 RGB resized (bilinear) to `size` = (H, W)."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot decode image {path}")
    return cv2.cvtColor(_resized(bgr, size, cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)


def read_mask(path: str, size: tuple[int, int]) -> np.ndarray:
    """Decode a mask PNG -> (H, W) uint8 {0, 1} resized (nearest) to `size` = (H, W)."""
    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise OSError(f"cannot decode mask {path}")
    return (_resized(mask, size, cv2.INTER_NEAREST) > 0).astype(np.uint8)


def _resized(a: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    h, w = size
    return a if a.shape[:2] == (h, w) else cv2.resize(a, (w, h), interpolation=interpolation)


def authors_swap(image: np.ndarray, mask: np.ndarray, donor_image: np.ndarray, donor_mask: np.ndarray) -> np.ndarray:
    """The authors' per-sample core: the person of `image` over the inpainted `donor_image`.

    image, donor_image: (H, W, 3) uint8; mask, donor_mask: (H, W) uint8, non-zero = person.
    hole = cv2.dilate(donor_mask, 7x7 ones, iterations=5); background = Telea inpainting of
    the hole with radius 0.1 x the donor mask's bounding-box width; returns (H, W, 3) uint8,
    `image` where `mask` is set, the background elsewhere.
    """
    hole = cv2.dilate(donor_mask, DILATE_KERNEL, iterations=DILATE_ITERATIONS)
    box_width = cv2.boundingRect(donor_mask)[2]
    out = cv2.inpaint(donor_image, hole, 0.1 * box_width, cv2.INPAINT_TELEA)
    np.copyto(out, image, where=mask[:, :, None].astype(bool))
    return out


def bot_transform(image: np.ndarray, rng: np.random.Generator, *, flip: float = 0.5, pad: int = 10,
                  erasing: float = 0.5) -> np.ndarray:
    """BoT's training transforms of one image -> (3, H, W) float32, ImageNet-normalized.

    image: (H, W, 3) uint8 RGB. Horizontal flip with prob `flip`, zero-pad by `pad` and crop
    back to (H, W) at a random offset, normalize, then BoT's random erasing with prob
    `erasing` (area 0.02-0.4, aspect 0.3-3.33, filled with BoT's mean values).
    """
    h, w = image.shape[:2]
    if rng.random() < flip:
        image = image[:, ::-1]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    y, x = rng.integers(0, 2 * pad + 1, size=2)
    crop = padded[y:y + h, x:x + w]
    chw = ((crop.astype(np.float32) * (1 / 255) - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).copy()
    if rng.random() < erasing:
        _erase(chw, rng)
    return chw


def _erase(chw: np.ndarray, rng: np.random.Generator, attempts: int = 100) -> None:
    """BoT's RandomErasing in place: up to 100 tries for a rectangle that fits."""
    _, h, w = chw.shape
    for _ in range(attempts):
        area = rng.uniform(0.02, 0.4) * h * w
        aspect = rng.uniform(0.3, 1 / 0.3)
        eh, ew = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if eh < h and ew < w:
            y, x = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
            chw[:, y:y + eh, x:x + ew] = ERASE_FILL[:, None, None]
            return


def donor_lists(pids: Sequence[int], viewpoints: Sequence[int]) -> dict[int, np.ndarray]:
    """Candidate donor pools by viewpoint (-1 = every sample, used for unknown viewpoints)."""
    pools: dict[int, list[int]] = defaultdict(list)
    for i, v in enumerate(viewpoints):
        pools[int(v)].append(i)
    lists = {v: np.asarray(ix, np.int64) for v, ix in pools.items() if v >= 0}
    lists[-1] = np.arange(len(pids), dtype=np.int64)
    return lists


def pick_donor(i: int, pids: Sequence[int], viewpoints: Sequence[int], pools: dict[int, np.ndarray],
               rng: np.random.Generator, tries: int = 64) -> int:
    """A uniform donor for sample i: another identity, same viewpoint when known; -1 if none found."""
    pool = pools[int(viewpoints[i])] if int(viewpoints[i]) >= 0 else pools[-1]
    for _ in range(tries):
        j = int(pool[rng.integers(len(pool))])
        if pids[j] != pids[i] and (viewpoints[j] < 0 or viewpoints[i] < 0 or viewpoints[j] == viewpoints[i]):
            return j
    return -1


def authors_swap_batch(images: np.ndarray, masks: np.ndarray, pids: np.ndarray, viewpoints: np.ndarray,
                       p: float, rng: np.random.Generator,
                       indices: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The per-sample core on a prepared batch, one sample at a time, donors from the batch.

    images: (B, H, W, 3) uint8; masks: (B, H, W) uint8; pids, viewpoints: (B,).
    indices: the samples to process (default all B). Returns their new images
    (len(indices), H, W, 3) uint8 and donors (len(indices),) int64 (-1 = not swapped).
    """
    indices = range(len(images)) if indices is None else indices
    out, donors = images[list(indices)], np.full(len(indices), -1, np.int64)
    pools = donor_lists(pids, viewpoints)
    for k, i in enumerate(indices):
        if rng.random() < p:
            j = pick_donor(i, pids, viewpoints, pools, rng)
            if j >= 0:
                out[k] = authors_swap(images[i], masks[i], images[j], masks[j])
                donors[k] = j
    return out, donors


class AuthorsStyleDataset(Dataset):
    """Per-sample loading + (with prob `p`) the authors' background swap + BoT transforms.

    samples: training `Sample`s (masks needed when p > 0); size: (H, W). Indexed by a *draw*
    number (see `EndlessShuffle`): the sample is `draw % len(self)`, the random draws come
    from `(seed, draw)`. Items are dicts: images (3, H, W) float32, pids, camids, swapped.
    """

    def __init__(self, samples: Sequence[Sample], size: tuple[int, int], p: float = 0.5, seed: int = 0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"AuthorsStyleDataset: p={p!r}: expected a number in [0, 1]")
        missing = [s.row for s in samples if p > 0 and not s.mask]
        if missing:
            raise ValueError(f"AuthorsStyleDataset: p={p} needs masks; manifest rows without one: {missing[:10]}")
        self.samples, self.size, self.p, self.seed = list(samples), tuple(size), float(p), seed
        self.pids = [s.pid for s in self.samples]
        self.viewpoints = [s.viewpoint for s in self.samples]
        self.pools = donor_lists(self.pids, self.viewpoints)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, draw: int) -> dict:
        i = draw % len(self.samples)
        rng = np.random.default_rng([self.seed, draw])
        sample = self.samples[i]
        image = read_image(sample.image, self.size)
        swapped = False
        if self.p > 0:
            mask = read_mask(sample.mask, self.size)
            j = pick_donor(i, self.pids, self.viewpoints, self.pools, rng) if rng.random() < self.p else -1
            if j >= 0:
                donor = self.samples[j]
                image = authors_swap(image, mask, read_image(donor.image, self.size), read_mask(donor.mask, self.size))
                swapped = True
        return {"images": torch.from_numpy(bot_transform(image, rng)), "pids": sample.pid,
                "camids": sample.camid, "swapped": swapped}


class EndlessShuffle(Sampler):
    """Draw numbers forever: epoch e yields `e * n + perm_e(k)` for a seeded permutation `perm_e`."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed = n, seed

    def __iter__(self) -> Iterator[int]:
        epoch = 0
        while True:
            for k in np.random.default_rng([self.seed, epoch]).permutation(self.n):
                yield epoch * self.n + int(k)
            epoch += 1


def _single_threaded_opencv(_worker_id: int) -> None:
    cv2.setNumThreads(0)  # 0: no thread pool at all (a 1-thread pool can abort the worker at exit)


def authors_loader(samples: Sequence[Sample], size: tuple[int, int], batch_size: int, workers: int,
                   p: float = 0.5, seed: int = 0) -> DataLoader:
    """An endless PyTorch `DataLoader` over `AuthorsStyleDataset` with `workers` processes.

    Batches are dicts: images (B, 3, H, W) float32, pids/camids (B,) int64, swapped (B,) bool.
    """
    return DataLoader(AuthorsStyleDataset(samples, size, p=p, seed=seed), batch_size=batch_size,
                      sampler=EndlessShuffle(len(samples), seed), num_workers=workers, drop_last=True,
                      persistent_workers=workers > 0, worker_init_fn=_single_threaded_opencv,
                      multiprocessing_context="spawn" if workers > 0 else None)
