"""One size syntax everywhere: "HxW" and [H, W] give the same (H, W); anything else is one
clear ValueError naming the argument, in the loaders, the trainer config and the commands."""
import argparse

import numpy as np
import pytest

from attention_swap_reid.dali_pipes import EvalLoader, ReIDLoader
from attention_swap_reid.dali_pipes.sizes import parse_size, size_argument
from attention_swap_reid.trainer.config import ConfigError, from_dict


@pytest.mark.parametrize("value", ["64x32", "64X32", " 64 x 32 ", "[64, 32]", "[64,32]", [64, 32], (64, 32),
                                   (np.int64(64), np.int32(32))])
def test_both_forms_give_height_then_width(value):
    assert parse_size(value) == (64, 32)


@pytest.mark.parametrize("value", [64, "64", "64x", "64x32x3", "0x32", "-64x32", [64], [64, 32, 3], [64.0, 32],
                                   [True, 32], "[64, 0]", None, "64 by 32"])
def test_anything_else_is_a_value_error_naming_the_argument_and_both_forms(value):
    with pytest.raises(ValueError) as e:
        parse_size(value, "--size")
    assert str(e.value).startswith(f"--size={value!r}: expected HxW (e.g. 256x128) or [H, W] (e.g. [256, 128])")


def test_the_loaders_take_both_forms_and_refuse_a_bare_int(tiny_world):
    for size in ("64x32", [64, 32]):
        assert EvalLoader(tiny_world, "query", size=size, device="cpu").samples
        assert ReIDLoader(tiny_world, batch_size=8, size=size, device="cpu").size == (64, 32)
    for loader in (lambda: ReIDLoader(tiny_world, batch_size=8, size=64, device="cpu"),
                   lambda: EvalLoader(tiny_world, "query", size=64, device="cpu")):
        with pytest.raises(ValueError, match=r"^size=64: expected HxW"):
            loader()


def test_the_trainer_config_takes_both_forms():
    assert from_dict({}, ["data.size=64x32"]).data.size == (64, 32)
    assert from_dict({"data": {"size": "96x48"}}).data.size == (96, 48)
    assert from_dict({}, ["data.size=[64, 32]"]).data.size == (64, 32)
    with pytest.raises(ConfigError) as e:
        from_dict({}, ["data.size=64"])
    assert e.value.problems == ["data.size=64: expected HxW (e.g. 256x128) or [H, W] (e.g. [256, 128]), "
                                "two positive integers, height first"]
    with pytest.raises(ConfigError, match=r"data.size: must be >= 32, got 16"):
        from_dict({}, ["data.size=16x16"])


def test_a_command_line_size_is_an_argparse_error():
    assert size_argument("[128, 64]") == (128, 64)
    with pytest.raises(argparse.ArgumentTypeError, match=r"^--size='128': expected HxW"):
        size_argument("128")
