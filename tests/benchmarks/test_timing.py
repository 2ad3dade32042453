"""benchmarks.timing: warm-up, windows, median and spread, against hand-computed rates."""
import pytest

from attention_swap_reid.benchmarks.timing import Rate, TimingPlan, measure


class FakeClock:
    """A clock that only moves when a step says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_windows_and_warmup_known_rates():
    clock = FakeClock()
    durations = iter([5.0, 5.0] + [0.5] * 2 + [0.25] * 4 + [1.0] * 2)  # warm-up, then 3 windows

    def step():
        clock.now += next(durations)
        return 10

    rate = measure(step, TimingPlan(warmup_s=1.0, windows=3, window_s=1.0, min_warmup_steps=2), clock=clock)
    # windows: 2 steps of 0.5 s (20 img/s), 4 of 0.25 s (40 img/s), 1 of 1.0 s (10 img/s)
    assert rate.per_window == (20.0, 40.0, 10.0)
    assert rate.median == 20.0 and rate.min == 10.0 and rate.max == 40.0
    assert rate.q1 == 15.0 and rate.q3 == 30.0
    assert rate.images == 70
    assert next(durations) == 1.0  # exactly the planned steps ran


def test_warmup_runs_min_steps_even_with_zero_seconds():
    calls = []
    clock = FakeClock()

    def step():
        calls.append(1)
        clock.now += 1.0
        return 4

    measure(step, TimingPlan(warmup_s=0.0, windows=1, window_s=0.5, min_warmup_steps=3), clock=clock)
    assert len(calls) == 3 + 1


def test_rate_dict_round_trip():
    rate = Rate.from_windows([3.0, 1.0, 2.0], images=6)
    d = rate.to_dict()
    assert d["median"] == 2.0 and d["per_window"] == [3.0, 1.0, 2.0] and d["images"] == 6


@pytest.mark.parametrize("bad", [0, -1, None, 2.5])
def test_step_must_return_positive_image_count(bad):
    with pytest.raises(ValueError, match="number of images"):
        measure(lambda: bad, TimingPlan(warmup_s=0, windows=1, window_s=0.01, min_warmup_steps=1))


@pytest.mark.parametrize("kwargs", [{"windows": 0}, {"window_s": 0}, {"warmup_s": -1}])
def test_plan_validation(kwargs):
    with pytest.raises(ValueError, match="TimingPlan"):
        TimingPlan(**kwargs)


def test_group_rounds_warmup_and_windows_to_whole_bursts():
    clock = FakeClock()
    calls = []

    def step():  # a burst of 3 batches every 3 s: 3 s, 0, 0, 3 s, 0, 0, ...
        clock.now += 3.0 if len(calls) % 3 == 0 else 0.0
        calls.append(1)
        return 8

    rate = measure(step, TimingPlan(warmup_s=0.0, windows=4, window_s=1.0, min_warmup_steps=1), group=3, clock=clock)
    assert len(calls) % 3 == 0
    assert rate.per_window == (8.0,) * 4  # 24 images per 3 s in every window
