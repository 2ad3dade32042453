"""FeatureExtractor (torchreid's call style) on paths, arrays and tensors gives the features
that `extract` and the evaluation loader give for the same images."""
import cv2
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes import EvalLoader
from attention_swap_reid.trainer import extract
from attention_swap_reid.trainer.feature_extractor import FeatureExtractor
from tests.trainer.conftest import checkpoint_of


@pytest.fixture(scope="module")
def extractor(trained_run):
    return FeatureExtractor(checkpoint_of(trained_run), device="cpu")


@pytest.fixture(scope="module")
def gallery(trained_run, tiny_world):
    return extract.extract(checkpoint_of(trained_run), tiny_world, "gallery", progress=False)


def test_paths_give_the_extract_features_in_order(extractor, gallery):
    feats = extractor([gallery.paths[3], gallery.paths[0]])
    assert isinstance(feats, torch.Tensor) and feats.dtype == torch.float32 and feats.shape == (2, 512)
    assert torch.allclose(feats, torch.from_numpy(gallery.features[[3, 0]]), atol=1e-5)
    assert torch.allclose(extractor(str(gallery.paths[1])), torch.from_numpy(gallery.features[[1]]), atol=1e-5)


def test_arrays_give_the_features_of_their_files(extractor, gallery):
    rgb = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in gallery.paths[:3]]
    expected = torch.from_numpy(gallery.features[:3])
    for inputs in (rgb, np.stack(rgb)):
        feats = extractor(inputs)
        assert feats.shape == (3, 512)
        # OpenCV's and DALI's JPEG decoders may differ by a grey level here and there
        assert (torch.nn.functional.cosine_similarity(feats, expected) > 0.99).all()
    assert extractor(rgb[1]).shape == (1, 512)


def test_tensors_are_model_input_as_in_torchreid(extractor, gallery, tiny_world):
    loader = EvalLoader(tiny_world, "gallery", batch_size=7, size=extractor.size, device="cpu")
    images = torch.cat([b["images"] for b in loader])
    feats = extractor(images)
    assert torch.allclose(feats, torch.from_numpy(gallery.features), atol=1e-5)
    assert torch.allclose(extractor(images[2]), feats[2:3], atol=1e-6)


def test_flip_adds_the_mirrored_images_feature(trained_run, tiny_world):
    flipped = extract.extract(checkpoint_of(trained_run), tiny_world, "gallery", flip=True, progress=False)
    feats = FeatureExtractor(checkpoint_of(trained_run), device="cpu", flip=True)(list(flipped.paths[:2]))
    assert torch.allclose(feats, torch.from_numpy(flipped.features[:2]), atol=1e-5)


def test_other_inputs_are_refused_naming_what_is_taken(extractor):
    with pytest.raises(TypeError, match=r"takes an image path or a list of them, \(H, W, 3\) uint8 RGB arrays"):
        extractor(42)
    with pytest.raises(ValueError, match=r"image 0: expected \(H, W, 3\) uint8 RGB, got \(8, 4\) uint8"):
        extractor([np.zeros((8, 4), np.uint8)])
    with pytest.raises(ValueError, match=r"expected a \(N, 3, H, W\) or \(3, H, W\) float tensor"):
        extractor(torch.zeros(2, 64, 32, 3, dtype=torch.uint8))
