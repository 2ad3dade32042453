"""trainer.model: shapes, last stride, BNNeck details, local ImageNet weights; timm backbones."""
import sys

import pytest
import torch
import torchvision

from attention_swap_reid.trainer.backbones import backbone_problem
from attention_swap_reid.trainer.model import build_model


@pytest.mark.parametrize("name,dim", [("resnet18", 512), ("resnet50", 2048)])
def test_shapes_train_and_eval(name, dim):
    model = build_model(name, num_classes=7)
    x = torch.randn(2, 3, 64, 32)
    scores, feat = model(x)
    assert scores.shape == (2, 7) and feat.shape == (2, dim)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, dim)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
@pytest.mark.parametrize("stride,expected", [(1, (4, 2)), (2, (2, 1))])
def test_last_stride(name, stride, expected):
    model = build_model(name, num_classes=3, last_stride=stride).eval()
    with torch.no_grad():
        assert model.base(torch.zeros(1, 3, 64, 32)).shape[-2:] == expected


def test_bnneck_and_classifier_as_bot():
    model = build_model("resnet18", num_classes=200)
    assert not model.bottleneck.bias.requires_grad
    assert model.classifier.bias is None
    assert 0.0008 < model.classifier.weight.std().item() < 0.0012


def test_imagenet_weights_are_loaded_from_a_local_file(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("resnet18", 5, pretrained="imagenet", weights_path=str(path))
    assert torch.equal(model.base[0].weight, reference.conv1.weight)
    assert torch.equal(model.base[7][1].conv2.weight, reference.layer4[1].conv2.weight)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="local weights file"):
        build_model("resnet18", 5, pretrained="imagenet", weights_path=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="'vgg16' is not a model; allowed: resnet18, resnet34, resnet50, "
                                         "resnet18_ibn_a, resnet34_ibn_a, resnet50_ibn_a, timm/<name>$"):
        build_model("vgg16", 5)
    bad = tmp_path / "r50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), bad)
    with pytest.raises(ValueError, match="does not fit"):
        build_model("resnet18", 5, pretrained="imagenet", weights_path=str(bad))


@pytest.fixture
def timm():
    return pytest.importorskip("timm")


@pytest.mark.parametrize("name", ["timm/resnet10t", "timm/resnest14d"])
@pytest.mark.parametrize("stride,expected", [(1, (4, 2)), (2, (2, 1))])
def test_timm_resnet_families_get_last_stride_1(timm, name, stride, expected):
    model = build_model(name, num_classes=3, last_stride=stride).eval()
    with torch.no_grad():
        assert model.base.forward_features(torch.zeros(1, 3, 64, 32)).shape[-2:] == expected
        assert model(torch.zeros(1, 3, 64, 32)).shape == (1, model.base.num_features)


def test_timm_vit_takes_the_input_size_and_resized_weights(timm, tmp_path):
    reference = timm.create_model("test_vit", num_classes=10)  # made for 224x224: 14x14 patches + class token
    path = tmp_path / "vit.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("timm/test_vit", 4, pretrained="imagenet", weights_path=str(path), size=(64, 32))
    assert model.base.pos_embed.shape[1] == 4 * 2 + 1  # 16-pixel patches of 64x32, class token
    assert torch.equal(model.base.blocks[0].attn.qkv.weight, reference.blocks[0].attn.qkv.weight)
    scores, feat = model(torch.randn(2, 3, 64, 32))
    assert scores.shape == (2, 4) and feat.shape == (2, reference.num_features)


def test_timm_weights_from_a_local_file_and_errors(timm, tmp_path):
    reference = timm.create_model("resnet10t", num_classes=1000)
    path = tmp_path / "r10t.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    model = build_model("timm/resnet10t", 5, pretrained="imagenet", weights_path=str(path))
    assert torch.equal(model.base.layer4[0].conv1.weight, reference.layer4[0].conv1.weight)
    with pytest.raises(ValueError, match=f"{path}: does not fit timm model resnet18"):
        build_model("timm/resnet18", 5, pretrained="imagenet", weights_path=str(path))
    with pytest.raises(FileNotFoundError, match="local weights file"):
        build_model("timm/resnet10t", 5, pretrained="imagenet", weights_path=None)
    with pytest.raises(ValueError, match="'timm/resnet_nope': timm has no such model"):
        build_model("timm/resnet_nope", 5)
    assert backbone_problem("timm/resnet10t") is None and backbone_problem("resnet50") is None


def test_timm_names_without_timm_installed_say_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    expected = "'timm/resnet50d' needs timm, which is not installed (pip install timm)"
    assert backbone_problem("timm/resnet50d") == expected
    with pytest.raises(ValueError, match="needs timm"):
        build_model("timm/resnet50d", 5)
