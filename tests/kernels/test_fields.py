"""The one interpreter of field metadata (kernels/fields.py), on hand-computed cases."""
import numpy as np
import pytest

from attention_swap_reid.kernels.fields import accepts, allowed, problems

UNIT = {"ge": 0, "le": 1}
OPEN_UNIT = {"gt": 0, "lt": 1}
ODD = {"ge": 1, "odd": True}
TABLE = {"choices": {"a": 1, "b": 2}}


@pytest.mark.parametrize("meta, value, expected", [
    (UNIT, 0, []), (UNIT, 1, []), (UNIT, 0.5, []),
    (UNIT, -0.1, ["must be >= 0"]), (UNIT, 1.5, ["must be <= 1"]),
    (UNIT, float("nan"), ["must be >= 0", "must be <= 1"]),  # NaN compares false with every bound
    (OPEN_UNIT, 0, ["must be > 0"]), (OPEN_UNIT, 1, ["must be < 1"]), (OPEN_UNIT, 0.999, []),
    (ODD, 1, []), (ODD, 7, []), (ODD, 4, ["must be odd"]), (ODD, 0, ["must be >= 1", "must be odd"]),
    (ODD, -3, ["must be >= 1"]), (ODD, np.int64(6), ["must be odd"]),
    ({"ge": 0.5}, 0, ["must be >= 0.5"]),  # an int against a float bound
    (TABLE, "a", []), (TABLE, "c", ["must be one of ['a', 'b']"]), (TABLE, 1, ["must be one of ['a', 'b']"]),
    (UNIT, "x", []), (UNIT, True, []),  # bounds apply to numbers only; the type is checked elsewhere
    ({}, 5, []),
])
def test_problems(meta, value, expected):
    assert problems(meta, value) == expected


@pytest.mark.parametrize("tp, meta, value, expected", [
    (float, UNIT, 0.25, True), (float, UNIT, 1, True), (float, UNIT, np.float32(0.5), True),
    (float, UNIT, 2, False), (float, UNIT, "0.5", False), (float, UNIT, True, False),
    (int, ODD, 3, True), (int, ODD, np.int64(5), True), (int, ODD, 3.0, False), (int, ODD, 2, False),
    (int, {}, -7, True), (int, {}, False, False),
    (bool, {}, True, True), (bool, {}, 1, False), (str, {}, "", True), (str, {}, 3, False),
    (str, TABLE, "b", True), (str, TABLE, "B", False),
])
def test_accepts(tp, meta, value, expected):
    assert accepts(tp, meta, value) is expected


@pytest.mark.parametrize("tp, meta, expected", [
    (float, UNIT, "a number in [0, 1]"), (float, OPEN_UNIT, "a number in (0, 1)"),
    (float, {"ge": 0, "lt": 1}, "a number in [0, 1)"), (int, ODD, "an odd integer >= 1"),
    (int, {"ge": 0}, "an integer >= 0"), (int, {}, "an integer"), (float, {"gt": 2}, "a number > 2"),
    (bool, {}, "True or False"), (str, {}, "a string"), (str, TABLE, "one of ['a', 'b']"),
])
def test_allowed(tp, meta, expected):
    assert allowed(tp, meta) == expected
