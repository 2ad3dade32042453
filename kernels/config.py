"""`AugmentConfig`: the parameters of the attention augmentation, validated once."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

ROI_MODES = ("full", "upper", "lower")
INPAINT_METHODS = ("pullpush", "telea", "none")


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of `AttentionAugment`. Invalid values raise `ValueError` naming the field.

    p: probability in [0, 1] that a sample tries to swap its background.
    roi: "full" (whole person mask), "upper" or "lower" (a band of the mask's bounding box).
    split: in (0, 1); the upper band is the top `split` of the bounding box height.
    min_area_ratio: in [0, 1]; candidates need min(A_i, A_j) / max(A_i, A_j) >= this.
    min_iou: in [0, 1]; candidates need IoU of the normalized ROI masks >= this.
    same_viewpoint: candidates need the same viewpoint when both are known (>= 0).
    dilate: odd size >= 1 of the square that grows the donor's hole (31 = paper's 7x7 x 5).
    inpaint: "pullpush" (both backends), "telea" (OpenCV, numpy backend only) or "none".
    bank_size: >= 0 earlier samples kept as extra donors (0 = donors from the batch only).
    seed: integer seed of the counter-based RNG (draws depend on seed, epoch, sample index).
    """

    p: float = 0.5
    roi: str = "full"
    split: float = 0.5
    min_area_ratio: float = 0.8
    min_iou: float = 0.5
    same_viewpoint: bool = True
    dilate: int = 31
    inpaint: str = "pullpush"
    bank_size: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("p", "min_area_ratio", "min_iou"):
            _check_real(name, getattr(self, name), "a number in [0, 1]", lambda v: 0.0 <= v <= 1.0)
        _check_real("split", self.split, "a number in (0, 1)", lambda v: 0.0 < v < 1.0)
        _check_choice("roi", self.roi, ROI_MODES)
        _check_choice("inpaint", self.inpaint, INPAINT_METHODS)
        if not isinstance(self.same_viewpoint, bool):
            raise ValueError(f"AugmentConfig.same_viewpoint={self.same_viewpoint!r}: expected True or False")
        _check_int("dilate", self.dilate, "an odd integer >= 1", lambda v: v >= 1 and v % 2 == 1)
        _check_int("bank_size", self.bank_size, "an integer >= 0", lambda v: v >= 0)
        _check_int("seed", self.seed, "an integer", lambda v: True)


def _check_real(name, value, allowed, ok) -> None:
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (is_number and ok(float(value))):
        raise ValueError(f"AugmentConfig.{name}={value!r}: expected {allowed}")


def _check_int(name, value, allowed, ok) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not ok(int(value)):
        raise ValueError(f"AugmentConfig.{name}={value!r}: expected {allowed}")


def _check_choice(name, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"AugmentConfig.{name}={value!r}: expected one of {list(choices)}")
