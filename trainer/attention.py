"""Where the network looks, measured on test images with person masks (the augmentation's claim
is that the network learns to look at the person):

- *activation share*: energy(y, x) = sum over channels of the last feature map's squared
  activations; the share of that energy on the person.
- *Grad-CAM share*: Grad-CAM (Selvaraju et al.) of the query's match with its own identity.
  Test identities are not classes of the classifier, so the score is a retrieval one: the
  projection of the query's feature on the unit mean direction of that identity's gallery
  features (not their cosine similarity: a cosine does not change when the feature map is
  scaled, so its gradient and its Grad-CAM cancel out). Channel weights = the score's gradient
  averaged over the map, cam = ReLU(sum of the weighted channels); the share of the cam on the
  person. It counts only the evidence for the identity, not every activation.

The mask is resized to the feature map by area (each cell gets the fraction of its pixels that
are person). A share of 1 means all on the person, 0 all on the background; a network that
ignores where the person is scores about the person's share of the image.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def share_inside(heat: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """heat (B, h, w) >= 0, masks (B, H, W) {0, nonzero} (any H, W; area-resized to h x w) -> (B,)
    float32 share of each heat map's sum inside its mask (NaN where a map sums to 0)."""
    if heat.ndim != 3 or masks.ndim != 3 or len(heat) != len(masks):
        raise ValueError(f"share_inside: expected (B, h, w) heat maps and (B, H, W) masks, "
                         f"got {tuple(heat.shape)} and {tuple(masks.shape)}")
    heat = heat.float()
    person = F.interpolate((masks != 0).float()[:, None], size=heat.shape[1:], mode="area")[:, 0]
    total = heat.sum(dim=(1, 2))
    return torch.where(total > 0, (heat * person).sum(dim=(1, 2)) / total.clamp_min(1e-30), float("nan"))


def attention_share(feature_maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """feature_maps (B, C, h, w) float, masks (B, H, W) -> (B,) share of each map's activation
    energy inside its mask (NaN where a map is all zero)."""
    if feature_maps.ndim != 4:
        raise ValueError(f"attention_share: expected (B, C, h, w) maps, got {tuple(feature_maps.shape)}")
    return share_inside(feature_maps.float().pow(2).sum(dim=1), masks)


def gradcam(feature_maps: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Grad-CAM maps (B, h, w) of `score` (B,), computed from `feature_maps` (B, C, h, w, part of
    the graph that gave `score`)."""
    (grads,) = torch.autograd.grad(score.sum(), feature_maps)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * feature_maps).sum(dim=1)).detach()


def identity_targets(gallery_feats: torch.Tensor, gallery_pids: np.ndarray) -> dict[int, torch.Tensor]:
    """{pid: unit mean of the pid's L2-normalized gallery features}, for pids > 0 (pids <= 0 are
    distractors)."""
    feats = F.normalize(gallery_feats.float(), dim=1)
    pids = np.asarray(gallery_pids)
    return {int(pid): F.normalize(feats[torch.as_tensor(pids == pid)].mean(0), dim=0)
            for pid in np.unique(pids) if pid > 0}


def _masks(batch: dict, device: torch.device | str) -> torch.Tensor:
    masks = batch["masks"].to(device)
    return masks[..., 0] if masks.ndim == 4 else masks


def _mean(shares: list[torch.Tensor], what: str) -> float:
    if not shares:
        raise ValueError(f"{what}: the loader gave no batch")
    values = torch.cat(shares)
    return float(values.nanmean()) if not values.isnan().all() else float("nan")


def feature_maps_of(model: nn.Module) -> nn.Module | None:
    """The part of a `trainer.model.ReIDModel` that gives the last feature map (B, C, h, w), or
    None when the backbone pools itself (timm models)."""
    return model.base if isinstance(model.pool, nn.AdaptiveAvgPool2d) else None


@torch.no_grad()
def mean_attention_share(backbone: nn.Module, loader: Iterable[dict], device: torch.device | str) -> float:
    """Mean `attention_share` of `backbone` ((B, 3, H, W) -> (B, C, h, w), e.g. `ReIDModel.base`)
    over a loader's batches with "images" and "masks" ((B, H, W, 1) or (B, H, W)); images whose
    map is all zero are left out (NaN when every one is)."""
    was_training = backbone.training
    backbone.eval()
    shares = []
    try:
        for batch in loader:
            shares.append(attention_share(backbone(batch["images"].to(device)), _masks(batch, device)).cpu())
    finally:
        backbone.train(was_training)
    return _mean(shares, "mean_attention_share")


def mean_gradcam_share(model: nn.Module, loader: Iterable[dict], targets: dict[int, torch.Tensor],
                       device: torch.device | str) -> float:
    """Mean Grad-CAM share of a `ReIDModel` (eval mode: `base`, `pool`, `bottleneck`) over a
    query loader's batches ("images", "pids", "masks"): the target of each query is
    `targets[pid]` (see `identity_targets`); queries without a target, or whose cam is all
    zero, are left out (NaN when every one is)."""
    was_training = model.training
    model.eval()
    shares = []
    try:
        for batch in loader:
            pids = [int(p) for p in torch.as_tensor(batch["pids"]).reshape(-1).tolist()]
            keep = [i for i, pid in enumerate(pids) if pid in targets]
            if not keep:
                continue
            images = batch["images"].to(device)[keep]
            with torch.no_grad():
                maps = model.base(images)
            with torch.enable_grad():
                maps.requires_grad_(True)
                feats = model.bottleneck(model.pool(maps).flatten(1))
                target = torch.stack([targets[pids[i]] for i in keep]).to(feats)
                cams = gradcam(maps, (feats * target).sum(dim=1))
            shares.append(share_inside(cams, _masks(batch, device)[keep]).cpu())
    finally:
        model.train(was_training)
    return _mean(shares, "mean_gradcam_share")
