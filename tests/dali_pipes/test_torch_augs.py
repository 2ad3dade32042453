"""The masks' flip and crop in torch (`augment_in="iterator"`) against NumPy written out by hand."""
import numpy as np
import torch

from attention_swap_reid.dali_pipes.torch_augs import flip_and_crop


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
