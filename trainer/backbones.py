"""Backbones of the ReID model: one table, `BACKBONES`, from a model name to its builder.

A builder takes `(name, pretrained, weights_path, size, last_stride)` and returns a `Backbone`:
the feature extractor, its feature dimension, and whether it pools itself. Entries:

- `resnet18`, `resnet34`, `resnet50`: torchvision's ResNets (feature map (B, D, h, w));
- `resnet18_ibn_a`, `resnet34_ibn_a`, `resnet50_ibn_a`: IBN-Net-a (Pan et al., "Two at Once:
  Enhancing Learning and Generalization Capacities via IBN-Net", ECCV 2018), the ReID backbone
  of fast-reid's strongest baselines: in the blocks of layer1-3 the first normalization is
  half InstanceNorm, half BatchNorm (`IBN`); layer4 and the stem are a plain ResNet;
- `timm/<name>`: any timm model (timm needed only then), which pools itself ((B, D)).

Adding a backbone is one `Entry` here (under its name, or a key ending in "/" for a family of
names) and its builder. Weights come from a local file only; nothing is downloaded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torchvision
from torch import nn

_RESNETS = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34, 50: torchvision.models.resnet50}


@dataclass(frozen=True)
class Backbone:
    """`module` maps images (B, 3, H, W) to a feature map (B, feat_dim, h, w), or, when
    `pools_itself`, straight to a pooled feature (B, feat_dim)."""

    module: nn.Module
    feat_dim: int
    pools_itself: bool


class IBN(nn.Module):
    """Instance-batch normalization of IBN-Net-a: the first `int(channels * ratio)` channels
    instance-normalized (affine), the rest batch-normalized. (B, C, H, W) -> (B, C, H, W).
    The submodule names `IN` and `BN` are those of the IBN-Net release, so its weights load."""

    def __init__(self, channels: int, ratio: float = 0.5):
        super().__init__()
        self.half = int(channels * ratio)
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(channels - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, rest = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat([self.IN(first.contiguous()), self.BN(rest.contiguous())], dim=1)


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


def read_weights(weights_path: str | None) -> dict:
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
    """Load a local ImageNet state dict of the ResNet `backbone` (its `fc` layer dropped)."""
    state = {k: v for k, v in read_weights(weights_path).items() if not k.startswith("fc.")}
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"{weights_path}: does not fit the backbone: {str(e).splitlines()[1:3]}") from None
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"{weights_path}: does not fit the backbone: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")


def _to_ibn_a(resnet: nn.Module) -> None:
    """IBN-Net-a: the first normalization (`bn1`) of every block of layer1-3 becomes an `IBN`."""
    for layer in (resnet.layer1, resnet.layer2, resnet.layer3):
        for block in layer:
            block.bn1 = IBN(block.bn1.num_features)


def _resnet(name: str, pretrained: bool, weights_path: str | None, size, last_stride: int, *,
            depth: int, ibn: bool = False) -> Backbone:
    """A torchvision ResNet of `depth` (IBN-Net-a when `ibn`) up to layer4: (B, D, h, w)."""
    resnet = _RESNETS[depth](weights=None)
    if ibn:
        _to_ibn_a(resnet)
    if pretrained:
        _load_imagenet(resnet, weights_path)
    _set_last_stride(resnet, last_stride)
    base = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                         resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)
    return Backbone(base, resnet.fc.in_features, pools_itself=False)


def _timm_problem(name: str) -> str | None:
    """Why timm cannot build `timm/<name>` (not installed, no such model); None when it can."""
    try:
        import timm
    except ImportError:
        return f"'timm/{name}' needs timm, which is not installed (pip install timm)"
    if not timm.is_model(name):
        return f"'timm/{name}': timm has no such model (python -c 'import timm; print(timm.list_models())' lists them)"
    return None


def _timm(name: str, pretrained: bool, weights_path: str | None, size: tuple[int, int] | None,
          last_stride: int) -> Backbone:
    """The timm model `timm/<name>` without its classifier (`num_classes=0`: it returns its
    globally pooled feature (B, num_features): average pooling for CNNs, the class token for
    ViTs). `size` (H, W) goes to models that take an `img_size` (ViTs: their position embedding
    is made for that grid; loaded weights are resampled to it by timm). `pretrained`: the local
    state dict `weights_path` through timm's own filter (classifier dropped, position embedding
    resized). Last stride 1 applies to models with a `layer4` (resnet*, resnet*d, resnest*, ...)."""
    name = name.removeprefix("timm/")
    problem = _timm_problem(name)
    if problem:
        raise ValueError(problem)
    import timm

    kwargs = {"num_classes": 0}
    if pretrained:  # source "" keeps timm from preferring the Hugging Face hub
        kwargs |= {"pretrained": True,
                   "pretrained_cfg_overlay": {"state_dict": read_weights(weights_path), "source": ""}}
    try:
        try:
            model = timm.create_model(name, img_size=size, **kwargs) if size else timm.create_model(name, **kwargs)
        except TypeError as e:
            if "img_size" not in str(e):
                raise
            model = timm.create_model(name, **kwargs)  # a model without a fixed input grid (CNNs)
    except RuntimeError as e:  # the weights do not fit
        detail = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise ValueError(f"{weights_path}: does not fit timm model {name}: {detail}") from None
    if hasattr(model, "layer4"):
        _set_last_stride(model, last_stride)
    return Backbone(model, model.num_features, pools_itself=True)


@dataclass(frozen=True)
class Entry:
    """A row of `BACKBONES`: `build(name, pretrained, weights_path, size, last_stride)` makes the
    `Backbone`; `problem(name)`, where given, says why a name of the family cannot be built."""

    build: Callable[..., Backbone]
    problem: Callable[[str], str | None] | None = None


BACKBONES: dict[str, Entry] = {
    **{f"resnet{d}": Entry(partial(_resnet, depth=d)) for d in _RESNETS},
    **{f"resnet{d}_ibn_a": Entry(partial(_resnet, depth=d, ibn=True)) for d in _RESNETS},
    "timm/": Entry(_timm, problem=_timm_problem),
}


def _entry(name: str) -> str | None:
    """The key of `BACKBONES` that builds `name`: the name itself, or the family prefix."""
    if name in BACKBONES:
        return name
    return next((key for key in BACKBONES if key.endswith("/") and name.startswith(key) and name != key), None)


def backbone_problem(name: str) -> str | None:
    """What is wrong with model name `name`, in a sentence that starts with the name; None when
    it can be built."""
    key = _entry(name)
    if key is None:
        names = [k + "<name>" if k.endswith("/") else k for k in BACKBONES]
        return f"{name!r} is not a model; allowed: {', '.join(names)}"
    problem = BACKBONES[key].problem
    return problem(name.removeprefix(key)) if problem else None


def build_backbone(name: str, pretrained: bool = False, weights_path: str | None = None,
                   size: tuple[int, int] | None = None, last_stride: int = 1) -> Backbone:
    """The `Backbone` named `name` (a key of `BACKBONES`, or a name of a family key's family)."""
    problem = backbone_problem(name)
    if problem:
        raise ValueError(problem)
    return BACKBONES[_entry(name)].build(name, pretrained, weights_path, size, last_stride)
