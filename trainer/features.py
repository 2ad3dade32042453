"""Retrieval features from an evaluation loader, and the distances between them."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainer.evaluate import evaluate
from trainer.rerank import rerank


@torch.no_grad()
def extract_features(model: nn.Module, loader: Iterable[dict], device: torch.device | str,
                     flip: bool = False) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Run `model` (switched to eval mode, restored afterwards) over every batch of `loader`.

    `loader` yields dicts with "images" (B, 3, H, W) float, "pids" and "camids" (B,) int64
    (an `EvalLoader`). With `flip`, the feature of the mirrored image is added before
    normalizing. Returns (features (N, D) float32 on the CPU, L2-normalized; pids (N,) int64;
    camids (N,) int64).
    """
    was_training = model.training
    model.eval()
    feats, pids, camids = [], [], []
    try:
        for batch in loader:
            images = batch["images"].to(device, non_blocking=True)
            f = model(images).float()
            if flip:
                f = f + model(torch.flip(images, dims=[3])).float()
            feats.append(F.normalize(f, dim=1).cpu())
            pids.append(batch["pids"].cpu().numpy())
            camids.append(batch["camids"].cpu().numpy())
    finally:
        model.train(was_training)
    return torch.cat(feats), np.concatenate(pids).astype(np.int64), np.concatenate(camids).astype(np.int64)


def squared_euclidean(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(M, D), (N, D) -> (M, N) float32 squared Euclidean distances, clamped at 0."""
    x, y = x.double(), y.double()
    d = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2 * x @ y.t()
    return d.clamp_(min=0).float().numpy()


def evaluate_features(q_feats: torch.Tensor, q_pids: np.ndarray, q_camids: np.ndarray,
                      g_feats: torch.Tensor, g_pids: np.ndarray, g_camids: np.ndarray,
                      rerank_k: tuple[int, int, float] | None = None, max_rank: int = 50) -> dict:
    """Distances between query and gallery features, optionally re-ranked with
    `rerank_k = (k1, k2, lambda)`, scored by `trainer.evaluate.evaluate` (its dict)."""
    distmat = squared_euclidean(q_feats, g_feats)
    if rerank_k is not None:
        k1, k2, lam = rerank_k
        distmat = rerank(distmat, squared_euclidean(q_feats, q_feats), squared_euclidean(g_feats, g_feats),
                         k1=k1, k2=k2, lambda_value=lam)
    return evaluate(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank)
