"""trainer.backbones: the table, IBN-Net-a against a NumPy oracle and its layout, a training step."""
import numpy as np
import pytest
import torch
from torch import nn

from attention_swap_reid.trainer.attention import feature_maps_of
from attention_swap_reid.trainer.backbones import BACKBONES, IBN, backbone_problem, build_backbone
from attention_swap_reid.trainer.losses import TripletLoss
from attention_swap_reid.trainer.model import build_model

NAMED = [name for name in BACKBONES if not name.endswith("/")]


@pytest.mark.parametrize("name", NAMED)
def test_every_named_entry_builds_a_feature_map_of_its_dimension(name):
    torch.manual_seed(0)
    backbone = build_backbone(name, last_stride=1)
    maps = backbone.module.eval()(torch.randn(2, 3, 64, 32))
    expected = 2048 if "50" in name else 512
    assert not backbone.pools_itself and backbone.feat_dim == expected
    assert maps.shape == (2, expected, 4, 2)  # stride 16 with last stride 1


def test_a_timm_name_is_its_family_entry_and_pools_itself():
    backbone = build_backbone("timm/resnet10t")
    assert backbone.pools_itself and backbone.module(torch.randn(2, 3, 64, 32)).shape == (2, backbone.feat_dim)


def test_feature_maps_follow_the_entry():
    assert feature_maps_of(build_model("timm/resnet10t", 3)) is None
    model = build_model("resnet18_ibn_a", 3)
    assert feature_maps_of(model) is model.base


def test_unknown_names_list_the_table():
    assert backbone_problem("resnet18_ibn_a") is None and backbone_problem("timm/resnet10t") is None
    message = backbone_problem("osnet")
    assert message.startswith("'osnet' is not a model; allowed: ") and all(n in message for n in NAMED)
    assert backbone_problem("timm/") is not None  # the family key alone names no model


def test_ibn_normalizes_half_the_channels_per_image_and_half_over_the_batch():
    torch.manual_seed(1)
    x = torch.randn(4, 6, 5, 3) * 3 + 2
    ibn = IBN(6).train()
    with torch.no_grad():
        ibn.IN.weight.copy_(torch.tensor([2.0, 0.5, 1.0]))
        ibn.IN.bias.copy_(torch.tensor([0.1, -1.0, 0.0]))
        ibn.BN.weight.copy_(torch.tensor([1.5, 1.0, 3.0]))
        ibn.BN.bias.copy_(torch.tensor([0.0, 2.0, -0.5]))
    out = ibn(x).detach().numpy().astype(np.float64)
    a = x.numpy().astype(np.float64)
    eps = 1e-5
    inst = a[:, :3]
    inst = (inst - inst.mean(axis=(2, 3), keepdims=True)) / np.sqrt(inst.var(axis=(2, 3), keepdims=True) + eps)
    inst = inst * np.array([2.0, 0.5, 1.0])[None, :, None, None] + np.array([0.1, -1.0, 0.0])[None, :, None, None]
    batch = a[:, 3:]
    batch = (batch - batch.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(batch.var(axis=(0, 2, 3), keepdims=True) + eps)
    batch = batch * np.array([1.5, 1.0, 3.0])[None, :, None, None] + np.array([0.0, 2.0, -0.5])[None, :, None, None]
    np.testing.assert_allclose(out, np.concatenate([inst, batch], axis=1), atol=1e-4)
    assert IBN(64).half == 32 and IBN(5, ratio=0.5).half == 2


def test_ibn_a_replaces_the_first_norm_of_layer1_to_3_only():
    base = build_backbone("resnet50_ibn_a").module
    layers = {"layer1": base[4], "layer2": base[5], "layer3": base[6], "layer4": base[7]}
    for name, layer in layers.items():
        for block in layer:
            assert isinstance(block.bn1, IBN) == (name != "layer4")
            assert isinstance(block.bn2, nn.BatchNorm2d) and isinstance(block.bn3, nn.BatchNorm2d)
    assert isinstance(base[1], nn.BatchNorm2d)  # the stem stays plain
    # the names the IBN-Net release's weights use
    keys = set(build_model("resnet50_ibn_a", 2).state_dict())
    assert {"base.4.0.bn1.IN.weight", "base.4.0.bn1.BN.running_mean", "base.6.5.bn1.IN.bias"} <= keys
    assert "base.7.0.bn1.IN.weight" not in keys


def test_ibn_a_loads_a_state_dict_in_the_release_layout(tmp_path):
    """A state dict keyed as IBN-Net's own `resnet50_ibn_a` (no `base.` prefix, `fc` kept) loads."""
    torch.manual_seed(2)
    source = build_backbone("resnet18_ibn_a").module
    names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    state = {f"{names[int(k.split('.')[0])]}.{k.split('.', 1)[1]}": v for k, v in source.state_dict().items()}
    state |= {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    torch.save(state, tmp_path / "r18_ibn_a.pth")
    model = build_model("resnet18_ibn_a", 4, pretrained="imagenet", weights_path=str(tmp_path / "r18_ibn_a.pth"))
    assert torch.equal(model.base[4][1].bn1.IN.weight, source[4][1].bn1.IN.weight)
    assert torch.equal(model.base[6][0].bn1.BN.running_var, source[6][0].bn1.BN.running_var)


def test_an_ibn_model_trains_for_a_step():
    torch.manual_seed(3)
    model = build_model("resnet18_ibn_a", num_classes=4).train()
    images, labels = torch.randn(8, 3, 64, 32), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scores, feats = model(images)
    loss = nn.functional.cross_entropy(scores, labels) + TripletLoss(0.3)(feats, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    after = model.state_dict()
    for key in ("base.4.0.bn1.IN.weight", "base.5.1.bn1.BN.weight", "base.7.1.bn1.weight", "classifier.weight"):
        assert not torch.equal(before[key], after[key]), key
    assert not torch.equal(before["base.4.0.bn1.BN.running_mean"], after["base.4.0.bn1.BN.running_mean"])
