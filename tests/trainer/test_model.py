"""trainer.model: shapes, last stride, BNNeck details, local ImageNet weights."""
import pytest
import torch
import torchvision

from trainer.model import build_model


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
    with pytest.raises(ValueError, match="allowed: resnet18, resnet34, resnet50"):
        build_model("vgg16", 5)
    bad = tmp_path / "r50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), bad)
    with pytest.raises(ValueError, match="does not fit"):
        build_model("resnet18", 5, pretrained="imagenet", weights_path=str(bad))
