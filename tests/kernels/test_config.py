"""AugmentConfig: defaults and validation messages (kernels/config.py)."""
import dataclasses

import numpy as np
import pytest

from attention_swap_reid.kernels import INPAINTERS, ROI_MODES, AugmentConfig
from attention_swap_reid.kernels.tables import BAND_EDGES


def test_defaults_match_design():
    cfg = AugmentConfig()
    assert (cfg.p, cfg.roi, cfg.split, cfg.min_area_ratio, cfg.min_iou) == (0.5, "full", 0.5, 0.8, 0.5)
    assert (cfg.same_viewpoint, cfg.dilate, cfg.inpaint, cfg.bank_size, cfg.seed) == (True, 31, "pullpush", 0, 0)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AugmentConfig().p = 0.3


def test_accepts_edges_and_numpy_numbers():
    AugmentConfig(p=0, min_iou=1, min_area_ratio=0.0, dilate=1, bank_size=0)
    AugmentConfig(p=np.float32(0.25), dilate=np.int64(7), seed=np.int64(-3), roi="lower", inpaint="telea")


@pytest.mark.parametrize("field, value, allowed", [
    ("p", 1.5, "[0, 1]"), ("p", -0.1, "[0, 1]"), ("p", float("nan"), "[0, 1]"), ("p", "0.5", "[0, 1]"),
    ("p", True, "[0, 1]"), ("min_iou", 2, "[0, 1]"), ("min_area_ratio", -1, "[0, 1]"),
    ("split", 0.0, "(0, 1)"), ("split", 1.0, "(0, 1)"),
    ("roi", "head", f"one of {list(ROI_MODES)}"), ("inpaint", "ns", f"one of {list(INPAINTERS)}"),
    ("dilate", 4, "odd integer >= 1"), ("dilate", 0, "odd integer >= 1"), ("dilate", 3.0, "odd integer >= 1"),
    ("bank_size", -1, "integer >= 0"), ("seed", 1.5, "an integer"), ("same_viewpoint", "yes", "True or False"),
])
def test_bad_values_name_field_value_and_allowed(field, value, allowed):
    with pytest.raises(ValueError) as err:
        AugmentConfig(**{field: value})
    message = str(err.value)
    assert f"AugmentConfig.{field}={value!r}" in message and allowed in message


def test_choices_come_from_the_tables():
    roi, inpaint = (f for f in dataclasses.fields(AugmentConfig) if f.name in ("roi", "inpaint"))
    assert roi.metadata["choices"] is ROI_MODES and inpaint.metadata["choices"] is INPAINTERS
    assert sorted(mode.code for mode in ROI_MODES.values()) == list(range(len(ROI_MODES)))
    for mode in ROI_MODES.values():  # a band runs down the box, between two of its edges
        start, stop = (BAND_EDGES.index(edge) for edge in mode.band)
        assert start < stop


def test_from_mapping_validates_and_names_unknown_keys():
    assert AugmentConfig.from_mapping({"roi": "upper", "dilate": 5}) == AugmentConfig(roi="upper", dilate=5)
    with pytest.raises(ValueError, match=r"AugmentConfig.dilat: unknown field \(did you mean 'dilate'\?\); "
                                         r"allowed: p, roi, split"):
        AugmentConfig.from_mapping({"dilat": 5})
    with pytest.raises(ValueError, match=r"AugmentConfig.p=2: expected a number in \[0, 1\]"):
        AugmentConfig.from_mapping({"p": 2})
    with pytest.raises(ValueError, match="expected a mapping"):
        AugmentConfig.from_mapping([("p", 1)])
