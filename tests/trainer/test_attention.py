"""trainer.attention: the shares of activation energy and of Grad-CAM on the person, on
hand-made cases."""
import math

import numpy as np
import pytest
import torch

from attention_swap_reid.trainer.attention import (attention_share, attention_shares, feature_maps_of,
                                                   gradcam, identity_targets)
from attention_swap_reid.trainer.backbones import Backbone
from attention_swap_reid.trainer.model import ReIDModel


def test_all_inside_all_outside_and_half():
    masks = torch.zeros(3, 8, 4, dtype=torch.uint8)
    masks[:, :4] = 1  # the top half of every image is person
    maps = torch.zeros(3, 5, 4, 2)  # feature cells of 2 x 2 pixels
    maps[0, :, :2] = 1.0  # energy only in the top half: all inside
    maps[1, :, 2:] = 3.0  # only in the bottom half: all outside
    maps[2] = 2.0  # everywhere: half inside
    assert attention_share(maps, masks).tolist() == [1.0, 0.0, 0.5]


def test_cells_partly_on_the_person_count_by_their_person_fraction():
    masks = torch.zeros(1, 2, 2, dtype=torch.uint8)
    masks[0, 0, 0] = 255  # one pixel of four: the single cell is 25 % person
    assert attention_share(torch.ones(1, 1, 1, 1), masks).item() == pytest.approx(0.25)


def test_zero_maps_have_no_share_and_are_left_out_of_the_mean():
    assert math.isnan(attention_share(torch.zeros(1, 2, 2, 2), torch.ones(1, 4, 4)).item())
    with pytest.raises(ValueError, match="attention_share"):
        attention_share(torch.zeros(2, 2, 2), torch.ones(2, 4, 4))
    images = torch.zeros(2, 3, 4, 4)
    images[1, :, :2] = 1.0  # image 0 all zero; image 1 bright on the person
    loader = [{"images": images, "masks": torch.zeros(2, 4, 4).index_fill_(1, torch.tensor([0, 1]), 1),
               "pids": torch.tensor([1, 2])}]
    model = ReIDModel(Backbone(torch.nn.Identity(), 3, pools_itself=False), num_classes=2)
    assert attention_shares(model, loader, {}, "cpu")["attention"] == 1.0


def test_mean_over_a_loader_with_a_backbone():
    model = ReIDModel(Backbone(torch.nn.AvgPool2d(2), 3, pools_itself=False), num_classes=2)  # base: (B, 3, 8, 4) -> (B, 3, 4, 2)
    images = torch.zeros(2, 3, 8, 4)
    images[0, :, :4] = 1.0  # image 0 bright on the person (top half), image 1 bright below
    images[1, :, 4:] = 1.0
    masks = torch.zeros(2, 8, 4, 1, dtype=torch.uint8)
    masks[:, :4] = 1
    loader = [{"images": images[:1], "masks": masks[:1], "pids": torch.tensor([1])},
              {"images": images[1:], "masks": masks[1:], "pids": torch.tensor([2])}]
    shares = attention_shares(model, loader, {}, "cpu")
    assert shares["attention"] == pytest.approx(0.5)
    assert math.isnan(shares["gradcam"])  # no query has a gallery identity to match


def _two_channel_world():
    """Images of 8 x 4 whose top half is the person: channel 0 lights the person, channel 1 the
    background, channel 2 is dark; a ReIDModel whose backbone is the identity (feature = the
    channel means) and whose BNNeck is the identity in eval mode."""
    images = torch.zeros(3, 3, 8, 4)
    images[:, 0, :4] = 1.0
    images[:, 1, 4:] = 2.0
    masks = torch.zeros(3, 8, 4, 1, dtype=torch.uint8)
    masks[:, :4] = 255
    model = ReIDModel(Backbone(torch.nn.Identity(), 3, pools_itself=False), num_classes=2)
    model.bottleneck.eps = 0.0
    return images, masks, model


def test_gradcam_by_hand():
    """The score f . t of the channel means f (a projection, linear in the map): every cell's
    gradient is t / 32, so the cam is ReLU(t0 A0 + t1 A1) / 32; t = (1, -1) / sqrt(2) keeps
    the person's channel and the ReLU drops the background's, t = (-1, 1) / sqrt(2) the reverse."""
    images, _, _ = _two_channel_world()
    maps = images[:2, :2].clone().requires_grad_(True)
    target = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]) / math.sqrt(2)
    cams = gradcam(maps, (maps.mean(dim=(2, 3)) * target).sum(dim=1))
    expected = torch.zeros(2, 8, 4)
    expected[0, :4] = 1.0 / math.sqrt(2) / 32  # channel 0 is 1 on the person
    expected[1, 4:] = 2.0 / math.sqrt(2) / 32  # channel 1 is 2 on the background
    torch.testing.assert_close(cams, expected)


def test_a_cosine_score_has_no_grad_cam():
    """Why the score is a projection: a cosine is blind to the map's scale, so its gradient is
    orthogonal to the feature and the weighted channels sum to zero over the map."""
    images, _, _ = _two_channel_world()
    maps = images[:1, :2].clone().requires_grad_(True)
    cosine = torch.nn.functional.cosine_similarity(maps.mean(dim=(2, 3)), torch.tensor([[1.0, 0.0]]))
    (grads,) = torch.autograd.grad(cosine.sum(), maps)
    weighted = (grads.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1)
    assert abs(weighted.sum().item()) < 1e-7


def test_identity_targets_average_the_gallery_and_skip_distractors():
    feats = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    targets = identity_targets(feats, np.array([1, 1, 2, 0]))
    assert sorted(targets) == [1, 2]
    torch.testing.assert_close(targets[1], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(targets[2], torch.tensor([0.0, 1.0]))


def test_gradcam_share_of_matching_the_person_or_the_background():
    images, masks, model = _two_channel_world()
    targets = {1: torch.tensor([1.0, -1.0, 0.0]) / math.sqrt(2),   # identity 1: the person's channel
               2: torch.tensor([-1.0, 1.0, 0.0]) / math.sqrt(2)}   # identity 2: the background's
    batch = {"images": images, "masks": masks, "pids": torch.tensor([1, 2, 7])}  # 7: no gallery image
    assert attention_shares(model, [batch], {1: targets[1]}, "cpu")["gradcam"] == 1.0
    assert attention_shares(model, [batch], {2: targets[2]}, "cpu")["gradcam"] == 0.0
    assert attention_shares(model, [batch], targets, "cpu")["gradcam"] == 0.5
    assert model.training  # the mode is restored
    assert feature_maps_of(model) is model.base
