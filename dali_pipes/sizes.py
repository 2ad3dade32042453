"""Image sizes (height, width), written one way everywhere: `256x128` on a command line and in
`--set`, `[256, 128]` in YAML and Python (a tuple or list), both accepted wherever a size is."""
from __future__ import annotations

import argparse
import numbers
import re

_TEXT = re.compile(r"\s*(?:(\d+)\s*[xX]\s*(\d+)|\[\s*(\d+)\s*,\s*(\d+)\s*\])\s*")


def parse_size(value, what: str = "size") -> tuple[int, int]:
    """(H, W) of `value`: "HxW" ("256x128"), "[H, W]", or a tuple / list of two positive integers.

    Anything else raises ValueError naming `what` (the argument or key) with both forms,
    e.g. ``size=64: expected HxW (e.g. 256x128) or [H, W] (e.g. [256, 128])``.
    """
    if isinstance(value, str):
        match = _TEXT.fullmatch(value)
        if match:
            h, w = (int(g) for g in match.groups() if g is not None)
            if h > 0 and w > 0:
                return h, w
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{what}={value!r}: expected HxW (e.g. 256x128) or [H, W] (e.g. [256, 128]), "
                     f"two positive integers, height first")


def size_argument(text: str) -> tuple[int, int]:
    """`parse_size` as an argparse `type=`: a bad `--size` is argparse's one-line usage error."""
    try:
        return parse_size(text, "--size")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
