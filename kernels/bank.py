"""The donor pool: the current batch followed by a bank of earlier samples (a ring buffer).

With small batches few samples pass the compatibility rules, so earlier batches' samples are
kept as extra donors: their image, ROI mask, box, normalized mask, area, pid and viewpoint, in
the same array library (and so on the same device) as the batches. Pool index j < B is sample
j of the batch, j = B + s is bank slot s. Slots are filled in order and then overwritten
oldest first; a batch larger than the bank keeps its last `size` samples. Which slots are
filled is counted on the host (`filled`), so using the bank never waits for the GPU.
"""
from __future__ import annotations

from .arrays import array_module
from .records import DonorKeys, Rois


class DonorBank:
    """Ring buffer of `size` earlier samples (size 0: an always-empty bank)."""

    def __init__(self, size: int):
        self.size = size
        self.filled = 0  # slots 0 .. filled - 1 hold samples
        self._store: dict | None = None  # field -> (size, ...) array, allocated on first push
        self._next = 0
        self._cleared = False  # the never-filled slots of a device store are zeroed (by its first push)
        self._checked = None  # (H, W, k) the device store was last checked against

    def pool_keys(self, batch: DonorKeys) -> DonorKeys:
        """Keys of the pool: the batch's, then the bank's (empty slots have area 0)."""
        if self._store is None:
            return batch
        xp = array_module(batch.areas)
        names = ("areas", "normalized", "pids", "viewpoints")
        return DonorKeys(*(xp.concatenate([getattr(batch, name), self._store[name]]) for name in names))

    def take(self, images, rois: Rois, donor):
        """Images (k, H, W, 3), ROI masks (k, H, W) and boxes (k, 4) of pool samples `donor` (k,).

        A `donor` of -1 at position i takes row i of the batch with an empty ROI (so that
        compositing leaves sample i as it is).
        """
        xp = array_module(images)
        b = images.shape[0]
        in_batch = xp.where(donor < 0, xp.arange(donor.shape[0]), xp.minimum(donor, b - 1))
        taken = [images[in_batch], rois.masks[in_batch] * (donor >= 0)[:, None, None], rois.boxes[in_batch]]
        if self._store is not None:
            from_bank = donor >= b
            slot = xp.clip(donor - b, 0, self.size - 1)
            for k, name in enumerate(("images", "rois", "boxes")):
                stored = self._store[name][slot]
                flag = from_bank.reshape((-1,) + (1,) * (stored.ndim - 1))
                taken[k] = xp.where(flag, stored, taken[k])
        return tuple(taken)

    def push(self, images, rois: Rois, keys: DonorKeys) -> None:
        """Store the batch (the last `size` samples of it) in the next slots."""
        if self.size == 0:
            return
        batch = dict(images=images, rois=rois.masks, boxes=rois.boxes, areas=keys.areas,
                     normalized=keys.normalized, pids=keys.pids, viewpoints=keys.viewpoints)
        if self._store is None:
            xp = array_module(images)
            self._store = {name: xp.zeros((self.size,) + a.shape[1:], a.dtype) for name, a in batch.items()}
            self._cleared = True
        for name, a in batch.items():
            self._check_shape(name, a.shape[1:])
        b = images.shape[0]
        start, count, _ = self.advance(b)
        first = min(count, self.size - start)  # slots up to the end of the ring, then wrap
        for name, a in batch.items():
            self._store[name][start: start + first] = a[b - count: b - count + first]
            self._store[name][: count - first] = a[b - count + first: b]

    def device_store(self, images, k: int) -> dict:
        """The bank's arrays for the fused GPU path (allocated uninitialized on first use; the
        first `bank_push` zeroes the slots it does not fill): images (S, H, W, 3) uint8, rois
        (S, H, W) uint8, boxes (S, 4) int32, normalized (S, k) float32, ones (S,) float32 (ones
        of each normalized mask), areas (S,) int32, pids, viewpoints (S,) int64."""
        h, w = images.shape[1:3]
        if self._store is not None and self._checked == (h, w, k):
            return self._store
        shapes = dict(images=((h, w, 3), "uint8"), rois=((h, w), "uint8"), boxes=((4,), "int32"),
                      normalized=((k,), "float32"), ones=((), "float32"), areas=((), "int32"), pids=((), "int64"),
                      viewpoints=((), "int64"))
        if self._store is None:
            xp = array_module(images)
            self._store = {name: xp.empty((self.size,) + shape, dtype) for name, (shape, dtype) in shapes.items()}
        for name, (shape, _) in shapes.items():
            self._check_shape(name, shape)
        self._checked = (h, w, k)
        return self._store

    def advance(self, b: int) -> tuple[int, int, int]:
        """Reserve slots for a batch of `b`: (first slot, count, clear_from). The last `count`
        samples go to slots (first + k) % size; slots clear_from .. size - 1 were never filled
        and are to be zeroed (clear_from = size when nothing is to be zeroed)."""
        count = min(b, self.size)
        start = self._next
        self._next = (self._next + count) % self.size
        self.filled = min(self.size, self.filled + count)
        clear_from = self.size if self._cleared else self.filled
        self._cleared = True
        return start, count, clear_from

    def _check_shape(self, name: str, shape: tuple) -> None:
        if name in self._store and tuple(shape) != tuple(self._store[name].shape[1:]):
            raise ValueError(f"donor bank holds {name} of shape {tuple(self._store[name].shape[1:])} per sample, "
                             f"got {tuple(shape)}: every batch must have the same image size")
