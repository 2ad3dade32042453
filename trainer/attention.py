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

from attention_swap_reid.trainer.features import eval_mode


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


def feature_maps_of(model: nn.Module) -> nn.Module | None:
    """The part of a `trainer.model.ReIDModel` that gives the last feature map (B, C, h, w), or
    None when its backbone pools itself (its `trainer.backbones` entry says so: timm models)."""
    return None if model.pools_itself else model.base


def attention_shares(model: nn.Module, loader: Iterable[dict], targets: dict[int, torch.Tensor],
                     device: torch.device | str) -> dict[str, float]:
    """Both shares of a `ReIDModel` (in eval mode; `base` must give a feature map) over a query
    loader's batches ("images", "pids", "masks" (B, H, W, 1) or (B, H, W)), from one backbone
    pass per batch: {"attention": mean `attention_share`, "gradcam": mean Grad-CAM share}. The
    Grad-CAM target of a query is `targets[pid]` (see `identity_targets`). Images whose map or
    cam is all zero, and queries without a target, are left out of a mean (NaN when every one
    is)."""
    activation, cam = [], []
    with eval_mode(model):
        for batch in loader:
            masks = batch["masks"].to(device)
            masks = masks[..., 0] if masks.ndim == 4 else masks
            with torch.no_grad():
                maps = model.base(batch["images"].to(device))
            activation.append(attention_share(maps, masks).cpu())
            pids = [int(p) for p in torch.as_tensor(batch["pids"]).reshape(-1).tolist()]
            keep = [i for i, pid in enumerate(pids) if pid in targets]
            if not keep:
                continue
            with torch.enable_grad():
                leaf = maps[keep].requires_grad_(True)
                _, feats = model.neck(leaf)
                target = torch.stack([targets[pids[i]] for i in keep]).to(feats)
                cam.append(share_inside(gradcam(leaf, (feats * target).sum(dim=1)), masks[keep]).cpu())
    if not activation:
        raise ValueError("attention_shares: the loader gave no batch")
    return {"attention": _nanmean(activation), "gradcam": _nanmean(cam)}


def _nanmean(shares: list[torch.Tensor]) -> float:
    return float(torch.cat(shares).nanmean()) if shares else float("nan")
