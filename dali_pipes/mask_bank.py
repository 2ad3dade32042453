"""The mask bank: every training mask decoded once, resized to the training size and bit-packed
(docs/design.md), then gathered by sample index instead of decoding PNGs in every batch.

At 256x128 a mask takes 4 KB (about 50 MB for Market-1501's 12,936 training images). The bank
is built by the loader's own DALI mask decoding (same resize, same letterbox), so it holds
exactly the masks the PNG path would decode; the PNGs stay the source of truth. Gathers run
where the indices live: numpy on the host, CuPy on the GPU (a device copy of the bank is made on
first use), torch tensors through DLPack.
"""
from __future__ import annotations

import numpy as np

from attention_swap_reid.dali_pipes.manifest import Sample
from attention_swap_reid.kernels.arrays import array_module, device_context, from_torch, library_of, to_torch


class MaskBank:
    """(N, ceil(H*W/8)) uint8 packed masks, row i = sample i of the loader's split."""

    def __init__(self, packed: np.ndarray, size: tuple[int, int]):
        height, width = size
        if packed.ndim != 2 or packed.dtype != np.uint8 or packed.shape[1] != -(-height * width // 8):
            raise ValueError(f"MaskBank: packed must be (N, {-(-height * width // 8)}) uint8 for size {tuple(size)}, "
                             f"got {packed.shape} {packed.dtype}")
        self.packed, self.size = packed, (height, width)
        self._copies: dict = {}

    @classmethod
    def build(cls, samples: list[Sample], size: tuple[int, int], *, letterbox: bool = False,
              num_threads: int = 2, batch_size: int = 256) -> MaskBank:
        """Decode and resize every sample's mask with the loader's DALI mask path (on the CPU)."""
        from attention_swap_reid.dali_pipes.pipeline import mask_pipeline
        from attention_swap_reid.dali_pipes.sources import mask_batches

        pipe = mask_pipeline(mask_batches(samples, batch_size), batch_size=batch_size, size=size, num_threads=num_threads,
                             letterbox=letterbox)
        packed = np.zeros((len(samples), -(-size[0] * size[1] // 8)), np.uint8)
        while True:
            try:
                masks, index = pipe.run()
            except StopIteration:
                break
            masks = masks.as_array().reshape(len(masks), -1)
            packed[index.as_array().reshape(-1)] = np.packbits(masks, axis=1)
        return cls(packed, size)

    @property
    def nbytes(self) -> int:
        return self.packed.nbytes

    def __len__(self) -> int:
        return len(self.packed)

    def gather(self, indices):
        """(B,) sample indices -> (B, H, W) uint8 {0, 1} masks, in the array library (and on the
        device) of `indices`: numpy, cupy or torch."""
        library = library_of(indices)
        with device_context(indices):  # CUDA tensors: on torch's current stream, behind their producer
            index = from_torch(indices) if library == "torch" else indices
            xp = array_module(index)
            packed = self._bank_for(xp)
            height, width = self.size
            rows = packed[index.astype(np.int64, copy=False)]
            masks = xp.unpackbits(rows.reshape(-1)).reshape(len(rows), -1)[:, :height * width]
            masks = xp.ascontiguousarray(masks).reshape(len(rows), height, width)
        return to_torch(masks) if library == "torch" else masks

    def _bank_for(self, xp):
        if xp is np:
            return self.packed
        device = xp.cuda.Device().id
        if device not in self._copies:
            self._copies[device] = xp.asarray(self.packed)
        return self._copies[device]
