"""The BoT ReID model: torchvision ResNet backbone, last stride 1, global pooling, BNNeck.

Luo et al., "Bag of Tricks and A Strong Baseline for Deep Person Re-identification" (2019).
Training returns the class scores (for the ID loss) and the pooled feature before the BN
(for the triplet loss); evaluation returns the feature after the BN (the retrieval feature).
"""
from __future__ import annotations

import os

import torch
import torchvision
from torch import nn

BACKBONES = {  # name -> (torchvision constructor, feature dimension)
    "resnet18": (torchvision.models.resnet18, 512),
    "resnet34": (torchvision.models.resnet34, 512),
    "resnet50": (torchvision.models.resnet50, 2048),
}


def _set_last_stride(backbone: torchvision.models.ResNet, stride: int) -> None:
    """Set the stride of `layer4`'s first block (conv1 in BasicBlock, conv2 in Bottleneck)."""
    block = backbone.layer4[0]
    strided = block.conv2 if isinstance(block, torchvision.models.resnet.Bottleneck) else block.conv1
    strided.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


def _load_imagenet(backbone: nn.Module, weights_path: str | None) -> None:
    """Load a local torchvision ImageNet state dict (the `fc` layer is dropped); never downloads."""
    if not weights_path or not os.path.isfile(weights_path):
        raise FileNotFoundError(
            f"pretrained='imagenet' needs a local weights file, got {weights_path!r} (not found); "
            f"download torchvision's ImageNet weights for this backbone and point to them, "
            f"or use pretrained='none'")
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"{weights_path}: does not fit the backbone: {str(e).splitlines()[1:3]}") from None
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"{weights_path}: does not fit the backbone: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")


class ReIDModel(nn.Module):
    """Backbone -> global average pooling -> BNNeck -> bias-free classifier.

    `forward(images)` with images `(B, 3, H, W)` float:
    - train mode: `(cls_score (B, num_classes), global_feat (B, D))`, D = 512 or 2048;
    - eval mode: `bn_feat (B, D)` (not normalized; `trainer.features` L2-normalizes).
    """

    def __init__(self, backbone: torchvision.models.ResNet, feat_dim: int, num_classes: int):
        super().__init__()
        self.base = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool,
                                  backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.bottleneck = nn.BatchNorm1d(feat_dim)
        self.bottleneck.bias.requires_grad_(False)  # BNNeck: no shift, as in BoT
        nn.init.ones_(self.bottleneck.weight)
        nn.init.zeros_(self.bottleneck.bias)
        self.classifier = nn.Linear(feat_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.feat_dim = feat_dim

    def forward(self, images: torch.Tensor):
        global_feat = self.gap(self.base(images)).flatten(1)  # (B, D)
        bn_feat = self.bottleneck(global_feat)  # (B, D)
        if not self.training:
            return bn_feat
        return self.classifier(bn_feat), global_feat


def build_model(name: str, num_classes: int, last_stride: int = 1, pretrained: str = "none",
                weights_path: str | None = None) -> ReIDModel:
    """Build a BoT model. `name`: resnet18 | resnet34 | resnet50; `pretrained`: none | imagenet.

    `pretrained="imagenet"` loads `weights_path` (a torchvision state dict) and raises
    FileNotFoundError with what to do when it is missing; nothing is downloaded.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(BACKBONES)}")
    if pretrained not in ("none", "imagenet"):
        raise ValueError(f"unknown pretrained {pretrained!r}; allowed: none, imagenet")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    constructor, feat_dim = BACKBONES[name]
    backbone = constructor(weights=None)
    if pretrained == "imagenet":
        _load_imagenet(backbone, weights_path)
    _set_last_stride(backbone, last_stride)
    return ReIDModel(backbone, feat_dim, num_classes)
