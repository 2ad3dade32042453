"""The attention augmentation as a DALI operator (`fn.python_function`, batch processing).

In GPU mode DALI hands the operator CuPy arrays and makes DALI's CUDA stream CuPy's current
stream, so the CuPy kernels run on DALI's stream; in CPU mode it gets NumPy arrays and runs
the numpy backend. The RNG keys are the samples' positions in the epoch, an input like the
others (on the device in GPU mode), and the epoch, a host number the loader sets before each
pass (DALI runs no batch of the next epoch before the loader resets it), so no device value is
read back.
"""
from __future__ import annotations

from collections.abc import Callable

from attention_swap_reid.kernels.arrays import array_module


class AugmentOp:
    """Wraps a `kernels.AttentionAugment` as a callable for `fn.python_function(..., batch_processing=True, num_outputs=3)`.

    Inputs (per-sample lists): images (H, W, 3) uint8, masks (H, W, 1) uint8 {0, 1} -- or,
    with a `MaskBank`, the sample indices () int64 to gather them by -- pids () int64,
    viewpoints () int64, positions () int64 (the samples' positions in the epoch).
    `epoch()` gives the epoch being augmented. Outputs: images (H, W, 3) uint8, swapped ()
    uint8, donor_pids () int64.
    """

    def __init__(self, augment, epoch: Callable[[], int], bank=None):
        self.augment, self.epoch, self.bank = augment, epoch, bank

    def __call__(self, images, masks_or_indices, pids, viewpoints, positions):
        xp = array_module(images[0])
        stacked = xp.stack(masks_or_indices)
        masks = stacked[..., 0] if self.bank is None else self.bank.gather(stacked)
        out = self.augment(xp.stack(images), masks, xp.stack(pids), xp.stack(viewpoints),
                           epoch=self.epoch(), index=xp.stack(positions))
        return _samples(out.images), _samples(out.swapped.astype(xp.uint8)), _samples(out.donor_pids)


def _samples(batch) -> list:
    """Split a batched array into per-sample arrays (0-d arrays for scalars, as DALI wants)."""
    return [batch[i, ...] for i in range(len(batch))]

