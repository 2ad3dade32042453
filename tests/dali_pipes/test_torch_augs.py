"""The BoT tail in torch (`augment_in="iterator"`) against NumPy written out by hand."""
import numpy as np
import torch

from dali_pipes.torch_augs import erase, flip_and_crop, normalize


def _crop_oracle(x, flip, anchor, size, pad):
    """Flip with np.flip, zero-pad by `pad` with np.pad, slice the window."""
    out = []
    for sample, f, (y, x0) in zip(x, flip, anchor):
        sample = np.flip(sample, axis=1) if f else sample
        padded = np.pad(sample, ((pad, pad), (pad, pad), (0, 0)))
        out.append(padded[y + pad: y + pad + size[0], x0 + pad: x0 + pad + size[1]])
    return np.stack(out)


def test_flip_and_crop_matches_pad_then_slice():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, (6, 12, 7, 3), dtype=np.uint8)
    flip = np.array([0, 1, 0, 1, 1, 0], np.int32)
    anchor = np.array([[0, 0], [-3, 2], [3, -3], [-3, -3], [3, 3], [1, -1]], np.float32)
    got = flip_and_crop(torch.from_numpy(x), torch.from_numpy(flip), torch.from_numpy(anchor), (12, 7))
    expected = _crop_oracle(x, flip, anchor.astype(int), (12, 7), pad=3)
    assert got.dtype == torch.uint8 and np.array_equal(got.numpy(), expected)


def test_flip_and_crop_by_hand():
    x = torch.arange(1, 7, dtype=torch.uint8).view(1, 2, 3, 1)  # rows [1 2 3] [4 5 6]
    got = flip_and_crop(x, torch.tensor([1]), torch.tensor([[-1.0, 1.0]]), (2, 3))
    assert got[0, ..., 0].tolist() == [[0, 0, 0], [2, 1, 0]]


def test_normalize_is_imagenet_mean_std_in_chw():
    x = torch.tensor([[[[0, 128, 255]]]], dtype=torch.uint8)  # (1, 1, 1, 3)
    got = normalize(x)
    expected = [(0 - 0.485 * 255) / (0.229 * 255), (128 - 0.456 * 255) / (0.224 * 255), (255 - 0.406 * 255) / (0.225 * 255)]
    assert got.shape == (1, 3, 1, 1)
    assert np.allclose(got.view(3).numpy(), expected, atol=1e-6)


def test_erase_zeroes_exactly_the_rectangle():
    images = torch.ones(3, 2, 6, 5)
    anchor = torch.tensor([[1.0, 2.0], [0.0, 0.0], [4.0, 0.0]])
    shape = torch.tensor([[2.0, 3.0], [0.0, 0.0], [2.0, 5.0]])
    got = erase(images, anchor, shape).numpy()
    expected = np.ones((3, 2, 6, 5), np.float32)
    expected[0, :, 1:3, 2:5] = 0
    expected[2, :, 4:6, 0:5] = 0
    assert np.array_equal(got, expected)
