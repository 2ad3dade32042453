"""ReID losses as in BoT: label-smoothed cross-entropy (`nn.CrossEntropyLoss(label_smoothing=...)`,
the target `(1 - epsilon) * one_hot + epsilon / num_classes` of Szegedy et al.), batch-hard
triplet, center loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def euclidean_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances `(M, D), (N, D) -> (M, N)`, clamped at 1e-12 before the root."""
    d2 = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2 * x @ y.t()
    return d2.clamp(min=1e-12).sqrt()


class TripletLoss(nn.Module):
    """Batch-hard triplet loss (Hermans et al. 2017): per anchor, the farthest positive and the
    nearest negative in the batch; hinge `max(0, d_ap - d_an + margin)` or, with `soft=True`,
    `softplus(d_ap - d_an)`. Mean over anchors.

    Precondition: every anchor has at least one negative in the batch (two identities or more);
    it should also have a positive other than itself (PK sampling with K >= 2) -- without one,
    the hardest positive is the anchor itself at distance 0.

    `forward(feats (B, D) float, labels (B,) int) -> scalar`.
    """

    def __init__(self, margin: float = 0.3, soft: bool = False):
        super().__init__()
        self.margin, self.soft = margin, soft

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        dist = euclidean_dist(feats.float(), feats.float())  # (B, B)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        if same.all():
            raise ValueError("batch-hard triplet needs at least two identities in the batch")
        d_ap = dist.masked_fill(~same, float("-inf")).amax(dim=1)
        d_an = dist.masked_fill(same, float("inf")).amin(dim=1)
        if self.soft:
            return F.softplus(d_ap - d_an).mean()
        return F.relu(d_ap - d_an + self.margin).mean()


class CenterLoss(nn.Module):
    """Center loss (Wen et al. 2016): `sum_i ||x_i - c_{y_i}||^2 / B`, centers learned.

    `forward(feats (B, D) float, labels (B,) int64 in [0, num_classes)) -> scalar`.
    BoT trains the centers with their own SGD (lr 0.5), dividing their gradient by the weight.
    """

    def __init__(self, num_classes: int, feat_dim: int, generator: torch.Generator | None = None):
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, feat_dim, generator=generator))

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        diff = feats.float() - self.centers[labels]
        return diff.pow(2).sum(dim=1).clamp(1e-12, 1e12).sum() / feats.shape[0]


class ReIDLoss(nn.Module):
    """The weighted sum `ce_weight * CE + triplet_weight * triplet + center_weight * center`.

    `forward(cls_score (B, C), global_feat (B, D), labels (B,)) -> (total, parts)` where
    `parts` maps "ce", "triplet", "center" to detached scalar tensors (only the active ones).
    """

    def __init__(self, num_classes: int, feat_dim: int, *, ce_weight: float = 1.0, label_smooth: float = 0.1,
                 triplet_weight: float = 1.0, margin: float = 0.3, soft_margin: bool = False,
                 center_weight: float = 0.0, generator: torch.Generator | None = None):
        super().__init__()
        if not 0 <= label_smooth < 1:
            raise ValueError(f"label_smooth must be in [0, 1), got {label_smooth}")
        self.weights = {"ce": ce_weight, "triplet": triplet_weight, "center": center_weight}
        self.ce = nn.CrossEntropyLoss(label_smoothing=label_smooth)
        self.triplet = TripletLoss(margin, soft=soft_margin)
        self.center = CenterLoss(num_classes, feat_dim, generator) if center_weight > 0 else None

    def forward(self, cls_score: torch.Tensor, global_feat: torch.Tensor, labels: torch.Tensor):
        terms = {}
        if self.weights["ce"] > 0:
            terms["ce"] = self.ce(cls_score.float(), labels)
        if self.weights["triplet"] > 0:
            terms["triplet"] = self.triplet(global_feat, labels)
        if self.center is not None:
            terms["center"] = self.center(global_feat, labels)
        total = sum(self.weights[k] * v for k, v in terms.items())
        return total, {k: v.detach() for k, v in terms.items()}
