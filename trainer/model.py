"""The BoT ReID model: a backbone, last stride 1, global pooling, BNNeck.

Luo et al., "Bag of Tricks and A Strong Baseline for Deep Person Re-identification" (2019).
Training returns the class scores (for the ID loss) and the pooled feature before the BN
(for the triplet loss); evaluation returns the feature after the BN (the retrieval feature).

Backbones: torchvision's resnet18 / resnet34 / resnet50, or any timm model as `timm/<name>`
(e.g. timm/resnet50d, timm/resnest50d, timm/vit_small_patch16_224; timm is needed only then).
Weights come from a local file only; nothing is downloaded.
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
TIMM_PREFIX = "timm/"


def _unstride(block: nn.Module) -> None:
    """Make a residual block keep its input's resolution: stride-2 convolutions get stride 1,
    stride-2 pools that only downsample (kernel = stride, as in the avg-down shortcut of
    timm's `*d` ResNets) become identities, other stride-2 pools (ResNeSt's avd) get stride 1."""
    for parent in list(block.modules()):
        for name, child in list(parent.named_children()):
            stride = getattr(child, "stride", None)
            if stride not in (2, (2, 2)):
                continue
            if isinstance(child, nn.Conv2d):
                child.stride = (1, 1)
            elif isinstance(child, (nn.AvgPool2d, nn.MaxPool2d)):
                if child.kernel_size in (2, (2, 2)) and not child.padding:
                    setattr(parent, name, nn.Identity())
                else:
                    child.stride = 1


def _set_last_stride(backbone: nn.Module, stride: int) -> None:
    """Last stride 1 (the BoT trick): the first block of `layer4` (torchvision and timm ResNet
    families) keeps the resolution; stride 2 is what those architectures already have."""
    if stride == 1:
        _unstride(backbone.layer4[0])


def _read_weights(weights_path: str | None) -> dict:
    """A local state dict (`.pth` / `.pt` / `.bin` via `torch.load(weights_only=True)`, or
    `.safetensors`), unwrapped from a "state_dict" entry and a DDP "module." prefix."""
    if not weights_path or not os.path.isfile(weights_path):
        raise FileNotFoundError(
            f"pretrained='imagenet' needs a local weights file, got {weights_path!r} (not found); "
            f"download the ImageNet weights for this backbone and point to them (model.weights), "
            f"or use pretrained='none'")
    if weights_path.endswith(".safetensors"):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ValueError(f"{weights_path}: reading .safetensors needs the safetensors package "
                             f"(pip install safetensors)") from None
        state = load_file(weights_path)
    else:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_imagenet(backbone: nn.Module, weights_path: str | None) -> None:
    """Load a local torchvision ImageNet state dict (the `fc` layer is dropped); never downloads."""
    state = {k: v for k, v in _read_weights(weights_path).items() if not k.startswith("fc.")}
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"{weights_path}: does not fit the backbone: {str(e).splitlines()[1:3]}") from None
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"{weights_path}: does not fit the backbone: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")


def model_name_problem(name: str) -> str | None:
    """What is wrong with model name `name` (not a torchvision name here, timm not installed,
    no such timm model), in a sentence that starts with the name; None when it can be built."""
    if not name.startswith(TIMM_PREFIX):
        return None if name in BACKBONES else \
            f"{name!r} is not a model; allowed: {', '.join(BACKBONES)}, or {TIMM_PREFIX}<timm model name>"
    try:
        import timm
    except ImportError:
        return f"{name!r} needs timm, which is not installed (pip install timm)"
    if not timm.is_model(name.removeprefix(TIMM_PREFIX)):
        return f"{name!r}: timm has no such model (python -c 'import timm; print(timm.list_models())' lists them)"
    return None


def _timm_backbone(name: str, size: tuple[int, int] | None, weights_path: str | None,
                   pretrained: bool) -> nn.Module:
    """The timm model `name` without its classifier (`num_classes=0`: it returns its globally
    pooled feature (B, num_features): average pooling for CNNs, the class token for ViTs).

    `size` (H, W) goes to models that take an `img_size` (ViTs: their position embedding is
    made for that grid; loaded weights are resampled to it by timm). `pretrained`: load the
    local state dict `weights_path` through timm's own filter (classifier dropped, position
    embedding resized); otherwise random initialisation.
    """
    problem = model_name_problem(TIMM_PREFIX + name)
    if problem:
        raise ValueError(problem)
    import timm

    kwargs = {"num_classes": 0}
    if pretrained:  # source "" keeps timm from preferring the Hugging Face hub
        kwargs |= {"pretrained": True,
                   "pretrained_cfg_overlay": {"state_dict": _read_weights(weights_path), "source": ""}}
    try:
        try:
            return timm.create_model(name, img_size=size, **kwargs) if size else timm.create_model(name, **kwargs)
        except TypeError as e:
            if "img_size" not in str(e):
                raise
            return timm.create_model(name, **kwargs)  # a model without a fixed input grid (CNNs)
    except RuntimeError as e:  # the weights do not fit
        detail = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise ValueError(f"{weights_path}: does not fit timm model {name}: {detail}") from None


class ReIDModel(nn.Module):
    """Backbone -> global pooling -> BNNeck -> bias-free classifier.

    `base` maps images `(B, 3, H, W)` to a feature map `(B, D, h, w)` pooled by `pool`
    (torchvision: average pooling), or straight to the pooled `(B, D)` (timm models, whose own
    pooling is kept; `pool` is then the identity).

    `forward(images)` with images `(B, 3, H, W)` float:
    - train mode: `(cls_score (B, num_classes), global_feat (B, D))`, D = `feat_dim`;
    - eval mode: `bn_feat (B, D)` (not normalized; `trainer.features` L2-normalizes).
    """

    def __init__(self, base: nn.Module, feat_dim: int, num_classes: int, pool: nn.Module | None = None):
        super().__init__()
        self.base = base
        self.pool = nn.AdaptiveAvgPool2d(1) if pool is None else pool
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
    """Build a BoT model. `name`: resnet18 | resnet34 | resnet50 (torchvision) or `timm/<name>`;
    `pretrained`: none | imagenet; `size`: the input (H, W), needed by ViTs (position embedding).

    `pretrained="imagenet"` loads `weights_path` (a state dict of the backbone: torchvision's
    for the torchvision names, timm's for timm models) and raises FileNotFoundError with what
    to do when it is missing; nothing is downloaded. `last_stride` 1 applies to the ResNet
    families (torchvision, and timm models with a `layer4`: resnet*, resnet*d, resnest*, ...);
    other architectures keep their strides.
    """
    timm_name = name.removeprefix(TIMM_PREFIX) if name.startswith(TIMM_PREFIX) else None
    if timm_name is None and name not in BACKBONES:
        raise ValueError(model_name_problem(name))
    if pretrained not in ("none", "imagenet"):
        raise ValueError(f"unknown pretrained {pretrained!r}; allowed: none, imagenet")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if timm_name is not None:
        backbone = _timm_backbone(timm_name, size, weights_path, pretrained == "imagenet")
        if hasattr(backbone, "layer4"):
            _set_last_stride(backbone, last_stride)
        return ReIDModel(backbone, backbone.num_features, num_classes, pool=nn.Identity())
    constructor, feat_dim = BACKBONES[name]
    backbone = constructor(weights=None)
    if pretrained == "imagenet":
        _load_imagenet(backbone, weights_path)
    _set_last_stride(backbone, last_stride)
    base = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool,
                         backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4)
    return ReIDModel(base, feat_dim, num_classes)
