"""The flip and pad + crop of the training graph in torch, for the masks that
``ReIDLoader(return_masks=True, placement=Placement(augment_in="iterator"))`` returns: the images get the same
parameters in `kernels.bot_tail` (after the iterator) or in DALI (in the graph).
"""
from __future__ import annotations

import torch


def flip_and_crop(data: torch.Tensor, flip: torch.Tensor, anchor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W, C) -> (B, h, w, C): mirror the samples where `flip`, then take the `size`
    window at `anchor` (B, 2) (y, x); pixels outside the image are 0 (BoT's zero padding)."""
    b, height, width, _ = data.shape
    device = data.device
    flip = flip.to(device).bool().view(b, 1, 1, 1)
    data = torch.where(flip, data.flip(2), data)
    anchor = anchor.to(device).long()
    ys = anchor[:, :1] + torch.arange(size[0], device=device)   # (B, h)
    xs = anchor[:, 1:] + torch.arange(size[1], device=device)   # (B, w)
    inside = ((ys >= 0) & (ys < height))[:, :, None] & ((xs >= 0) & (xs < width))[:, None, :]
    window = data[torch.arange(b, device=device)[:, None, None], ys.clamp(0, height - 1)[:, :, None],
                  xs.clamp(0, width - 1)[:, None, :]]
    return torch.where(inside[..., None], window, torch.zeros((), dtype=data.dtype, device=device))
