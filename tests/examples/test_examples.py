"""The examples run end to end on the tiny synthetic world (CPU)."""
import importlib.util
import math
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_embed_loader_trains_a_few_steps(tiny_world, capsys):
    loss = _load("embed_loader").main(["--manifest", str(tiny_world), "--steps", "5", "--size", "64x32",
                                       "--device", "cpu"])
    assert math.isfinite(loss)
    assert "step 5: loss" in capsys.readouterr().out


def test_augment_only_swaps_on_a_torch_dataloader(tiny_world):
    swapped = _load("augment_only").main(["--manifest", str(tiny_world), "--batches", "2"])
    assert swapped > 0


def test_fastreid_style_trains_an_epoch_and_evaluates(tiny_world, capsys):
    result = _load("fastreid_style").main(["--manifest", str(tiny_world), "--size", "64x32", "--device", "cpu"])
    assert math.isfinite(result["loss"]) and 0 < result["mAP"] <= 1
    assert "epoch 1: loss_cls" in capsys.readouterr().out


def test_torchreid_style_trains_an_epoch_and_evaluates(tiny_world, capsys):
    result = _load("torchreid_style").main(["--manifest", str(tiny_world), "--size", "64x32", "--device", "cpu"])
    assert math.isfinite(result["loss"]) and 0 < result["mAP"] <= 1
    assert "epoch 1: loss" in capsys.readouterr().out
