"""The BoT ReID model: a backbone, last stride 1, global pooling, BNNeck.

Luo et al., "Bag of Tricks and A Strong Baseline for Deep Person Re-identification" (2019).
Training returns the class scores (for the ID loss) and the pooled feature before the BN
(for the triplet loss); evaluation returns the feature after the BN (the retrieval feature).
The backbones (torchvision ResNets, IBN-Net-a, any timm model) are the table of
`trainer.backbones`. Weights come from a local file only; nothing is downloaded.
"""
from __future__ import annotations

import torch
from torch import nn

from attention_swap_reid.trainer.backbones import Backbone, build_backbone

class ReIDModel(nn.Module):
    """Backbone -> global pooling -> BNNeck -> bias-free classifier.

    `base` (the backbone's module) maps images `(B, 3, H, W)` to a feature map `(B, D, h, w)`
    pooled by `pool` (global average pooling), or, when the backbone `pools_itself` (timm
    models, whose own pooling is kept), straight to the pooled `(B, D)` (`pool` is then the
    identity).

    `forward(images)` with images `(B, 3, H, W)` float:
    - train mode: `(cls_score (B, num_classes), global_feat (B, D))`, D = `feat_dim`;
    - eval mode: `bn_feat (B, D)` (not normalized; `trainer.features` L2-normalizes).
    """

    def __init__(self, backbone: Backbone, num_classes: int):
        super().__init__()
        feat_dim = backbone.feat_dim
        self.base = backbone.module
        self.pools_itself = backbone.pools_itself
        self.pool = nn.Identity() if backbone.pools_itself else nn.AdaptiveAvgPool2d(1)
        self.bottleneck = nn.BatchNorm1d(feat_dim)
        self.bottleneck.bias.requires_grad_(False)  # BNNeck: no shift, as in BoT
        nn.init.ones_(self.bottleneck.weight)
        nn.init.zeros_(self.bottleneck.bias)
        self.classifier = nn.Linear(feat_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.feat_dim = feat_dim

    def neck(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output of `base` -> (global_feat (B, D), bn_feat (B, D)): pooling and BNNeck."""
        global_feat = self.pool(maps).flatten(1)
        return global_feat, self.bottleneck(global_feat)

    def forward(self, images: torch.Tensor):
        global_feat, bn_feat = self.neck(self.base(images))
        if not self.training:
            return bn_feat
        return self.classifier(bn_feat), global_feat


def build_model(name: str, num_classes: int, last_stride: int = 1, pretrained: str = "none",
                weights_path: str | None = None, size: tuple[int, int] | None = None) -> ReIDModel:
    """Build a BoT model. `name`: a backbone of `trainer.backbones.BACKBONES` (resnet18 |
    resnet34 | resnet50, their `_ibn_a` variants, or `timm/<name>`); `pretrained`: none |
    imagenet; `size`: the input (H, W), needed by ViTs (position embedding).

    `pretrained="imagenet"` loads `weights_path` (a state dict of the backbone: torchvision's
    for the ResNets, the IBN-Net release's for the `_ibn_a` ones, timm's for timm models) and
    raises FileNotFoundError with what to do when it is missing; nothing is downloaded.
    `last_stride` 1 applies to the ResNet families (torchvision, IBN-Net, and timm models with a
    `layer4`: resnet*, resnet*d, resnest*, ...); other architectures keep their strides.
    """
    if pretrained not in ("none", "imagenet"):
        raise ValueError(f"unknown pretrained {pretrained!r}; allowed: none, imagenet")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    backbone = build_backbone(name, pretrained == "imagenet", weights_path, size, last_stride)
    return ReIDModel(backbone, num_classes)

