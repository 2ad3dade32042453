"""Throughput timing: warm up, then several timed windows; report the median rate and its spread.

A *step* is any callable that does one unit of work (pull one batch, run one kernel call) and
returns how many images it produced. A window runs steps until at least `window_s` seconds have
passed (always at least one step), so slow and fast paths get windows of similar duration and
each window's rate is `images / seconds`. The median over windows is the figure; the quartiles
and the min/max are its spread.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class TimingPlan:
    """How long to measure. `warmup_s` and `window_s` are seconds (> 0 and >= 0), `windows` >= 1.

    Warm-up also runs at least `min_warmup_steps` steps (first batches pay for worker start-up,
    pipeline build, kernel compilation and caches).
    """

    warmup_s: float = 3.0
    windows: int = 5
    window_s: float = 4.0
    min_warmup_steps: int = 2

    def __post_init__(self) -> None:
        if not (self.warmup_s >= 0 and self.window_s > 0 and self.windows >= 1 and self.min_warmup_steps >= 0):
            raise ValueError(f"TimingPlan{asdict(self)}: expected warmup_s >= 0, window_s > 0, "
                             f"windows >= 1, min_warmup_steps >= 0")


@dataclass(frozen=True)
class Rate:
    """Images per second over the timed windows: `median` with quartiles `q1`/`q3`, `min`/`max`.

    `per_window` holds each window's rate, `images` the images timed in all windows together.
    """

    median: float
    q1: float
    q3: float
    min: float
    max: float
    per_window: tuple[float, ...]
    images: int

    @classmethod
    def from_windows(cls, rates: list[float], images: int) -> "Rate":
        r = np.asarray(rates, dtype=np.float64)
        q1, median, q3 = np.percentile(r, [25, 50, 75])
        return cls(float(median), float(q1), float(q3), float(r.min()), float(r.max()),
                   tuple(float(x) for x in r), int(images))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_window"] = list(self.per_window)
        return d


def measure(step: Callable[[], int], plan: TimingPlan, group: int = 1,
            clock: Callable[[], float] = time.perf_counter) -> Rate:
    """Warm `step` up, then time `plan.windows` windows of at least `plan.window_s` seconds each.

    `step()` must finish its work before returning (a GPU step synchronizes its stream) and
    returns the number of images it produced (> 0). `group`: warm-up and every window run a
    multiple of this many steps -- a DataLoader with N workers delivers its batches in bursts
    of N (each worker builds a whole batch), so windows of whole bursts are not biased by
    where they start.
    """
    start, steps = clock(), 0
    while steps < plan.min_warmup_steps or clock() - start < plan.warmup_s or steps % group:
        _checked(step())
        steps += 1
    rates, total = [], 0
    for _ in range(plan.windows):
        images, steps, t0 = 0, 0, clock()
        while True:
            images += _checked(step())
            steps += 1
            elapsed = clock() - t0
            if elapsed >= plan.window_s and steps % group == 0:
                break
        rates.append(images / elapsed)
        total += images
    return Rate.from_windows(rates, total)


def _checked(images: int) -> int:
    if not isinstance(images, (int, np.integer)) or images <= 0:
        raise ValueError(f"a timed step must return the number of images it produced (> 0), got {images!r}")
    return int(images)
