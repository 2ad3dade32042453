"""The bit-packed mask bank against masks read with OpenCV."""
import cv2
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes import read_manifest
from attention_swap_reid.dali_pipes.mask_bank import MaskBank


def _blocky_masks(folder, n, size, block, rng):
    """PNG masks made of `block` x `block` squares (any nearest-neighbour downscale by `block`
    keeps exactly one pixel per square), values 0/255."""
    from tests.dali_pipes.conftest import write_csv

    (folder / "masks").mkdir()
    (folder / "images").mkdir()
    rows = []
    for i in range(n):
        small = (rng.random((size[0] // block, size[1] // block)) < 0.4).astype(np.uint8) * 255
        mask = np.kron(small, np.ones((block, block), np.uint8))
        cv2.imwrite(str(folder / "masks" / f"{i}.png"), mask)
        cv2.imwrite(str(folder / "images" / f"{i}.png"), np.zeros((*size, 3), np.uint8))
        rows.append([f"images/{i}.png", f"masks/{i}.png", i // 2, 0, 0, "train"])
    return read_manifest(write_csv(folder / "manifest.csv", rows))


@pytest.mark.parametrize("block, row_bytes", [(1, 90), (2, 23)])  # 40x18 = 720 bits; 20x9 = 180 bits -> 23 bytes
def test_bank_holds_every_mask_at_the_training_size(tmp_path, block, row_bytes):
    samples = _blocky_masks(tmp_path, 7, (40, 18), block, np.random.default_rng(block))
    size = (40 // block, 18 // block)
    bank = MaskBank.build(samples, size, batch_size=3)
    assert len(bank) == 7 and bank.nbytes == 7 * row_bytes
    order = np.array([6, 0, 3, 3])
    got = bank.gather(order)
    assert got.shape == (4, *size) and got.dtype == np.uint8
    for mask, i in zip(got, order):
        expected = (cv2.imread(samples[i].mask, cv2.IMREAD_GRAYSCALE)[::block, ::block] > 0).astype(np.uint8)
        assert np.array_equal(mask, expected)
    as_torch = bank.gather(torch.from_numpy(order))
    assert isinstance(as_torch, torch.Tensor) and np.array_equal(as_torch.numpy(), got)


def test_bank_rejects_a_packed_array_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, 4\) uint8"):
        MaskBank(np.zeros((3, 5), np.uint8), (4, 8))
