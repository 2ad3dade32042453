"""The tail of the training graph in torch, for ``ReIDLoader(augment_in="iterator")``: the
attention augmentation then runs on the iterator's output, on torch's current stream, and
these functions apply the same flip, pad + crop, normalization and erasing that
`dali_pipes.pipeline` applies inside DALI, with the same drawn parameters (`dali_pipes.draws`).
"""
from __future__ import annotations

import torch

from dali_pipes.pipeline import IMAGENET_MEAN, IMAGENET_STD


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


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float32 (B, 3, H, W), ImageNet mean/std."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.permute(0, 3, 1, 2).float() - mean) / std


def erase(images: torch.Tensor, anchor: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """Set the (h, w) = `shape` rectangle at `anchor` (y, x) of every (B, C, H, W) sample to 0
    (shape 0: nothing erased)."""
    _, _, height, width = images.shape
    device = images.device
    anchor, shape = anchor.to(device), shape.to(device)
    ys, xs = torch.arange(height, device=device), torch.arange(width, device=device)
    in_y = (ys >= anchor[:, :1]) & (ys < anchor[:, :1] + shape[:, :1])   # (B, H)
    in_x = (xs >= anchor[:, 1:]) & (xs < anchor[:, 1:] + shape[:, 1:])   # (B, W)
    return images.masked_fill((in_y[:, :, None] & in_x[:, None, :])[:, None], 0.0)
