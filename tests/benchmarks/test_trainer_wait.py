"""benchmarks.trainer_wait: the data-wait measurement runs end to end (CPU, small model, no timing checks)."""
import pytest

from attention_swap_reid.benchmarks.trainer_wait import Steps, trainer_data_wait
from attention_swap_reid.kernels import AugmentConfig


def test_steps_is_a_sized_slice_of_an_endless_iterator():
    it = iter(range(100))
    first, second = Steps(it, 3), Steps(it, 2)
    assert len(first) == 3 and list(first) == [0, 1, 2] and list(second) == [3, 4]


@pytest.mark.slow
def test_trainer_data_wait_on_cpu(tiny_world):
    r = trainer_data_wait(str(tiny_world), (64, 32), AugmentConfig(p=0.5), 1, device="cpu", model="resnet18",
                          batch=16, steps=2, warmup_steps=1)
    assert 0.0 <= r["data_wait"] <= 1.0 and 0.0 <= r["model_data_wait"] <= 1.0
    assert r["img_s"] > 0 and r["model_img_s"] > 0
    assert r["steps"] == 2 and r["batch"] == 16 and r["amp"] is False and r["model"] == "resnet18"
