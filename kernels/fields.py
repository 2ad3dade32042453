"""The checks a dataclass field declares in its metadata, interpreted in one place.

A field's metadata may hold bounds `ge`, `gt`, `le`, `lt` (numbers), `odd` (True: odd integers
only) and `choices` (a table of names: its keys are the allowed values). `AugmentConfig` checks
its fields with `accepts` and words what is allowed with `allowed`; the trainer's typed config
tree (which builds its `augment` section from `AugmentConfig`'s fields) reports what a value
breaks with `problems`. Both therefore read the same metadata the same way.
"""
from __future__ import annotations

import numbers
import operator
from collections.abc import Mapping

BOUNDS = (("ge", operator.ge, ">="), ("gt", operator.gt, ">"), ("le", operator.le, "<="), ("lt", operator.lt, "<"))
"""(metadata key, test, symbol) of each bound."""


def is_number(value) -> bool:
    """A real number (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def problems(meta: Mapping, value) -> list[str]:
    """What `value` breaks of the checks in field metadata `meta`, one phrase each ("must be one
    of ['a', 'b']", "must be >= 1", "must be odd"); [] when nothing. Bounds and `odd` apply to
    numbers only (the field's type is checked elsewhere).

    >>> problems({"ge": 1, "odd": True}, 0)
    ['must be >= 1', 'must be odd']
    >>> problems({"ge": 0, "le": 1}, 0.5)
    []
    """
    if "choices" in meta:
        return [] if value in tuple(meta["choices"]) else [f"must be one of {list(meta['choices'])}"]
    if not is_number(value):
        return []
    found = [f"must be {symbol} {meta[key]}" for key, test, symbol in BOUNDS if key in meta and not test(value, meta[key])]
    if meta.get("odd") and value % 2 == 0:
        found.append("must be odd")
    return found


def accepts(tp: type, meta: Mapping, value) -> bool:
    """Whether `value` is of field type `tp` (bool, int, float, str; NumPy numbers count as
    Python's) and breaks none of the checks in `meta`; a field with `choices` takes exactly
    those.

    >>> accepts(int, {"ge": 1, "odd": True}, 3), accepts(int, {"ge": 1, "odd": True}, 3.0)
    (True, False)
    """
    if "choices" in meta:
        return not problems(meta, value)
    if tp is bool:
        return isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if not is_number(value) or not isinstance(value, numbers.Integral if tp is int else numbers.Real):
        return False
    return not problems(meta, tp(value))


def allowed(tp: type, meta: Mapping) -> str:
    """What field type `tp` with `meta` allows, in words: "a number in [0, 1]", "an odd integer
    >= 1", "one of ['a', 'b']".

    >>> allowed(float, {"gt": 0, "lt": 1}), allowed(int, {"ge": 1, "odd": True})
    ('a number in (0, 1)', 'an odd integer >= 1')
    """
    if "choices" in meta:
        return f"one of {list(meta['choices'])}"
    if tp is bool:
        return "True or False"
    if tp is str:
        return "a string"
    kind = "a number" if tp is float else "an odd integer" if meta.get("odd") else "an integer"
    low = [key for key in ("ge", "gt") if key in meta]
    high = [key for key in ("le", "lt") if key in meta]
    if low and high:
        return (f"{kind} in {'[' if low[0] == 'ge' else '('}{meta[low[0]]}, "
                f"{meta[high[0]]}{']' if high[0] == 'le' else ')'}")
    return " ".join([kind, *(f"{symbol} {meta[key]}" for key, _, symbol in BOUNDS if key in meta)])
