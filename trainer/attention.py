"""Where the network looks: the share of the final feature map's activation energy that falls
inside the person's mask (the augmentation's claim is that this share grows).

For each test image with a mask: energy(y, x) = sum over channels of the last feature map's
squared activations, the mask is resized to the feature map by area (each cell gets the fraction
of its pixels that are person), and share = sum(energy * person) / sum(energy). 1 means all
activation energy lies on the person, 0 all on the background; a network that ignores where
the person is scores about the person's share of the image.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn


def attention_share(feature_maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """feature_maps (B, C, h, w) float, masks (B, H, W) {0, 1} (any H, W; area-resized to h x w)
    -> (B,) float32 share of each map's energy inside its mask (0 where a map is all zero)."""
    if feature_maps.ndim != 4 or masks.ndim != 3 or len(feature_maps) != len(masks):
        raise ValueError(f"attention_share: expected (B, C, h, w) maps and (B, H, W) masks, "
                         f"got {tuple(feature_maps.shape)} and {tuple(masks.shape)}")
    energy = feature_maps.float().pow(2).sum(dim=1)  # (B, h, w)
    person = F.interpolate((masks != 0).float()[:, None], size=energy.shape[1:], mode="area")[:, 0]
    total = energy.sum(dim=(1, 2))
    return torch.where(total > 0, (energy * person).sum(dim=(1, 2)) / total.clamp_min(1e-30), 0.0)


@torch.no_grad()
def mean_attention_share(backbone: nn.Module, loader: Iterable[dict], device: torch.device | str) -> float:
    """Mean `attention_share` of `backbone` ((B, 3, H, W) -> (B, C, h, w), e.g. `ReIDModel.base`)
    over a loader's batches with "images" and "masks" ((B, H, W, 1) or (B, H, W))."""
    was_training = backbone.training
    backbone.eval()
    shares = []
    try:
        for batch in loader:
            masks = batch["masks"].to(device)
            masks = masks[..., 0] if masks.ndim == 4 else masks
            shares.append(attention_share(backbone(batch["images"].to(device)), masks).cpu())
    finally:
        backbone.train(was_training)
    if not shares:
        raise ValueError("mean_attention_share: the loader gave no batch")
    return float(torch.cat(shares).mean())
