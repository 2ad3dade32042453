"""kernels.layouts: the mask shapes AttentionAugment takes, the loader's (B, H, W, 1) among
them, and an error that lists them."""
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes import BotOptions, OutputFormat, ReIDLoader
from attention_swap_reid.kernels import AttentionAugment, AugmentConfig
from tests.kernels.conftest import batch as make_batch

CONFIG = AugmentConfig(p=1.0, min_iou=0.0, min_area_ratio=0.0, dilate=3, seed=1)


def augment(images, masks, pids, **kwargs):
    return AttentionAugment(CONFIG, backend="numpy")(images, masks, pids, epoch=0, index=np.arange(len(pids)),
                                                      **kwargs)


def test_a_trailing_channel_axis_is_the_same_masks():
    data = make_batch(8, 32, 16, seed=3)
    plain = augment(data["images"], data["masks"], data["pids"])
    assert plain.swapped.any()
    for masks in (data["masks"][..., None], data["masks"][..., None].astype(bool),
                  data["masks"][..., None].astype(np.float32)):
        out = augment(data["images"], masks, data["pids"])
        assert np.array_equal(out.images, plain.images) and np.array_equal(out.donor, plain.donor)
    chw = augment(data["images"].transpose(0, 3, 1, 2), data["masks"][:, None], data["pids"], layout="BCHW")
    assert np.array_equal(chw.images, plain.images.transpose(0, 3, 1, 2))


def test_the_loaders_masks_go_in_as_they_come(tiny_world):
    loader = ReIDLoader(tiny_world, batch_size=8, size=(64, 32), device="cpu", return_masks=True,
                        output=OutputFormat(normalize=False), bot=BotOptions(flip=0.0, pad=0, erasing=0.0))
    batch = next(iter(loader))
    assert batch["masks"].shape == (8, 64, 32, 1)
    images = batch["images"].permute(0, 2, 3, 1).round().to(torch.uint8)
    out = augment(images, batch["masks"], batch["pids"])
    squeezed = augment(images, batch["masks"][..., 0], batch["pids"])
    assert torch.equal(out.images, squeezed.images) and out.images.shape == (8, 64, 32, 3)


@pytest.mark.parametrize("layout, shape", [("BHWC", (4, 32, 16, 2)), ("BHWC", (4, 1, 32, 16)),
                                           ("BCHW", (4, 32, 16, 1)), ("BHWC", (4, 32, 15))])
def test_other_shapes_are_refused_listing_what_is_taken(layout, shape):
    data = make_batch(4, 32, 16, seed=0)
    images = data["images"] if layout == "BHWC" else data["images"].transpose(0, 3, 1, 2)
    taken = "(4, 32, 16, 1)" if layout == "BHWC" else "(4, 1, 32, 16)"
    with pytest.raises(ValueError) as e:
        augment(images, np.zeros(shape, np.uint8), data["pids"], layout=layout)
    assert str(e.value) == (f"AttentionAugment: masks must be (4, 32, 16) or {taken} with layout={layout!r} "
                            f"(uint8, bool or float, non-zero = person), got {shape} uint8")
