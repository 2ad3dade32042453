"""How the loaders deliver images: normalized or raw pixels, element type, memory format.

ImageNet-normalized float32 in (B, 3, H, W) is what torchvision-style models and our trainer
take; fast-reid's models normalize their input themselves and take float pixels in 0-255.
The format is applied inside the existing tail (DALI's normalize on the in-graph path, the tail
kernel on the after-the-iterator path, which writes float16 / bfloat16 itself), not as an extra
pass, except bfloat16 in DALI (which has no bfloat16 output): a cast of the float32 result.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attention_swap_reid.kernels import IMAGENET_MEAN, IMAGENET_STD, Tail

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class OutputFormat:
    """normalize: ImageNet mean/std (True) or float pixels in 0-255 (False; erased rectangles
    then hold the mean pixel, which is what 0 means after normalization). dtype: "float32",
    "float16" or "bfloat16". channels_last: (B, 3, H, W) tensors in channels_last memory format."""

    normalize: bool = True
    dtype: str = "float32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        for name in ("normalize", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    @property
    def mean(self) -> tuple[float, float, float]:
        """Per-channel value subtracted (0-255 units)."""
        return IMAGENET_MEAN if self.normalize else (0.0, 0.0, 0.0)

    @property
    def std(self) -> tuple[float, float, float]:
        """Per-channel divisor (0-255 units)."""
        return IMAGENET_STD if self.normalize else (1.0, 1.0, 1.0)

    @property
    def erase_fill(self) -> tuple[float, float, float]:
        """Value of erased pixels in the output: the mean colour, expressed in the output's units."""
        return (0.0, 0.0, 0.0) if self.normalize else IMAGENET_MEAN

    @property
    def layout(self) -> str:
        """The layout DALI writes: channels_last is HWC memory, viewed as (B, 3, H, W) after."""
        return "HWC" if self.channels_last else "CHW"

    @property
    def dali_dtype(self):
        """DALI's output type: float32 or float16 (bfloat16 is cast from float32 after)."""
        from nvidia.dali import types

        return types.FLOAT16 if self.dtype == "float16" else types.FLOAT

    def tail(self, flip, crop_anchor, erase_anchor, erase_shape) -> Tail:
        """The `kernels.Tail` that writes this format, element type included."""
        return Tail(flip=flip, crop_anchor=crop_anchor, erase_anchor=erase_anchor, erase_shape=erase_shape,
                    mean=self.mean, std=self.std, fill=self.erase_fill, channels_last=self.channels_last,
                    dtype=self.dtype)

    def cast(self, images: torch.Tensor) -> torch.Tensor:
        """A float (B, 3, H, W) batch in this format's dtype (memory format kept; no copy when it
        has it already)."""
        return images.to(DTYPES[self.dtype])

    def from_dali(self, images: torch.Tensor) -> torch.Tensor:
        """DALI's (B, H, W, 3) or (B, 3, H, W) float batch, written in `layout` -> (B, 3, H, W)
        in this format (a view; a cast only for bfloat16)."""
        if self.layout == "HWC":
            images = images.permute(0, 3, 1, 2)  # channels_last strides
        return self.cast(images)
