"""The loaders' public signatures: keyword-only options, grouped ones as checked objects, every
parameter described in the docstring; and the grouped options reaching the batches."""
import inspect
import re

import pytest
import torch

from attention_swap_reid.dali_pipes import BotOptions, EvalLoader, OutputFormat, Placement, ReIDLoader

LOADERS = {ReIDLoader: (1, 18), EvalLoader: (2, 14)}
"""loader -> (parameters that may be positional: the manifest (and split), most parameters)."""

REMOVED = {ReIDLoader: dict(flip=0.5, pad=10, erasing=0.5, normalize=True, dtype="float32", channels_last=False,
                            augment_in="auto", mask_source="bank", source_workers=1, num_threads=2, prefetch=2),
           EvalLoader: dict(normalize=True, dtype="float32", channels_last=False, num_threads=2, prefetch=2)}
"""The flat keywords the grouped options replaced, with their old defaults."""


def _default_text(value) -> str:
    """How the docstring writes a default: "text" for strings, Class() for a default option object."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (BotOptions, OutputFormat, Placement)):
        assert value == type(value)()
        return f"{type(value).__name__}()"
    return repr(value)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_options_after_the_manifest_are_keyword_only_and_few(loader):
    positional, most = LOADERS[loader]
    params = list(inspect.signature(loader).parameters.values())
    assert len(params) <= most
    kinds = [p.kind for p in params]
    assert kinds == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * positional + \
        [inspect.Parameter.KEYWORD_ONLY] * (len(params) - positional)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_every_parameter_is_described_with_its_type_and_default(loader):
    doc = inspect.getdoc(loader)
    for p in inspect.signature(loader).parameters.values():
        default = "" if p.default is inspect.Parameter.empty else f", default {_default_text(p.default)}"
        header = f"{p.name} ({p.annotation}{default}): "
        lines = [line.strip() for line in doc.splitlines() if line.strip().startswith(f"{p.name} (")]
        assert len(lines) == 1, f"{loader.__name__}: {p.name} is described {len(lines)} times"
        assert lines[0].startswith(header) and len(lines[0]) > len(header) + 10, (lines[0], header)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_the_removed_flat_keywords_are_refused(loader):
    for name, value in REMOVED[loader].items():
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{name}'"):
            loader("never-read.csv", **{name: value})


def test_options_passed_by_position_are_refused():
    with pytest.raises(TypeError, match="positional argument"):
        ReIDLoader("never-read.csv", "train")
    with pytest.raises(TypeError, match="positional argument"):
        EvalLoader("never-read.csv", "query", 128)


@pytest.mark.parametrize("name, value", [("bot", {"flip": 0.5}), ("output", "float16"), ("placement", None)])
def test_a_grouped_option_must_be_its_object(name, value):
    cls = {"bot": BotOptions, "output": OutputFormat, "placement": Placement}[name]
    expected = f"{name} must be a dali_pipes.{cls.__name__} \\(e.g. {name}={cls.__name__}\\(\\)\\), got "
    with pytest.raises(TypeError, match=expected + type(value).__name__):
        ReIDLoader("never-read.csv", **{name: value})
    if name != "bot":
        with pytest.raises(TypeError, match=expected):
            EvalLoader("never-read.csv", **{name: value})


@pytest.mark.parametrize("fields, message", [
    (dict(flip=1.5), "flip must be a probability in [0, 1], got 1.5"),
    (dict(erasing=-0.1), "erasing must be a probability in [0, 1], got -0.1"),
    (dict(flip="0.5"), "flip must be a probability in [0, 1], got '0.5'"),
    (dict(pad=-1), "pad must be an integer >= 0, got -1"),
    (dict(pad=2.5), "pad must be an integer >= 0, got 2.5"),
])
def test_bot_options_check_their_fields(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BotOptions(**fields)


def test_bot_options_reach_the_batches(tiny_world):
    """Without the BoT draws a training batch is the evaluation loader's images of its rows
    (the same decode, resize and normalization); flip=1 mirrors every one of them."""
    size = (64, 32)
    gallery = EvalLoader(tiny_world, "train", batch_size=64, size=size, device="cpu", flip_test=True)
    plain = next(iter(gallery))
    by_row = {int(i): k for k, i in enumerate(plain["indices"])}
    for flip, key in ((0.0, "images"), (1.0, "images_flipped")):
        train = ReIDLoader(tiny_world, batch_size=16, num_instances=4, size=size, device="cpu",
                           bot=BotOptions(flip=flip, pad=0, erasing=0.0))
        batch = next(iter(train))
        rows = [by_row[int(i)] for i in batch["indices"]]
        assert torch.allclose(batch["images"], plain[key][rows], rtol=0, atol=1e-5), flip
    drawn = next(iter(ReIDLoader(tiny_world, batch_size=16, num_instances=4, size=size, device="cpu")))
    rows = [by_row[int(i)] for i in drawn["indices"]]
    assert not torch.allclose(drawn["images"], plain["images"][rows], rtol=0, atol=1e-5)  # the default BoT draws


def test_the_placement_reaches_the_pipeline(tiny_world):
    def loader(**placement):
        return ReIDLoader(tiny_world, batch_size=16, num_instances=4, size=(64, 32), device="cpu",
                          placement=Placement(source_workers=0, **placement))

    assert loader().augment_in == "pipeline"  # "auto" on the CPU
    assert loader(augment_in="iterator").augment_in == "iterator"
    pipe, _ = loader(num_threads=3, prefetch=4)._epochs._build()
    assert (pipe.num_threads, pipe.prefetch_queue_depth) == (3, 4)
    evaluation = EvalLoader(tiny_world, "query", size=(64, 32), device="cpu", placement=Placement(num_threads=3))
    pipe, _ = evaluation._epochs._build()
    assert (pipe.num_threads, pipe.prefetch_queue_depth) == (3, 2)
