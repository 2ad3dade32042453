"""The donor bank (kernels/bank.py): a ring buffer of earlier samples in the donor pool."""
import numpy as np
import pytest

from attention_swap_reid.kernels import DonorBank, DonorKeys, normalize_masks, roi_masks


def batch_of(pids, h=8, w=4):
    b = len(pids)
    images = np.zeros((b, h, w, 3), np.uint8) + np.asarray(pids, np.uint8)[:, None, None, None]
    masks = np.zeros((b, h, w), np.uint8)
    masks[:, 2:6, 1:3] = 1
    rois = roi_masks(masks)
    keys = DonorKeys(rois.areas, normalize_masks(rois), np.asarray(pids, np.int64), np.zeros(b, np.int64))
    return images, rois, keys


def test_fills_in_order_then_overwrites_the_oldest():
    bank = DonorBank(5)
    images, rois, keys = batch_of([0, 1, 2])
    assert bank.pool_keys(keys) is keys  # nothing stored yet
    bank.push(images, rois, keys)
    pool = bank.pool_keys(keys)
    assert pool.pids.tolist() == [0, 1, 2, 0, 1, 2, 0, 0]
    assert pool.areas.tolist()[3:] == [8, 8, 8, 0, 0]  # empty slots have area 0: never donors
    bank.push(*batch_of([3, 4, 5]))
    bank.push(*batch_of([6]))
    assert bank.pool_keys(keys).pids.tolist()[3:] == [5, 6, 2, 3, 4]


def test_a_batch_larger_than_the_bank_keeps_its_last_samples():
    bank = DonorBank(2)
    bank.push(*batch_of([7, 8, 9]))
    images, rois, keys = batch_of([0])
    assert bank.pool_keys(keys).pids.tolist() == [0, 8, 9]


def test_take_from_batch_bank_and_self():
    bank = DonorBank(3)
    bank.push(*batch_of([20, 21, 22]))
    images, rois, keys = batch_of([0, 1, 2, 3])
    got_images, got_rois, got_boxes = bank.take(images, rois, np.array([2, -1, 5, 4]))
    assert got_images[:, 0, 0, 0].tolist() == [2, 1, 21, 20]  # batch 2, self, slot 1, slot 0 (B = 4)
    assert got_rois[[0, 2, 3]].all(axis=0)[2:6, 1:3].all() and not got_rois[1].any()
    assert got_boxes.tolist()[0] == [2, 5, 1, 2]


def test_size_zero_is_empty_and_shape_changes_are_refused():
    bank = DonorBank(0)
    images, rois, keys = batch_of([0, 1])
    bank.push(images, rois, keys)
    assert bank.pool_keys(keys) is keys
    bank = DonorBank(4)
    bank.push(images, rois, keys)
    with pytest.raises(ValueError, match="same image size"):
        bank.push(*batch_of([0, 1], h=10))


def test_the_host_counts_the_filled_slots():
    bank = DonorBank(5)
    assert bank.filled == 0
    bank.push(*batch_of([0, 1, 2]))
    assert bank.filled == 3
    bank.push(*batch_of([3, 4, 5]))
    assert bank.filled == 5
    fresh = DonorBank(5)  # the fused GPU path reserves slots itself: (first slot, count, clear_from)
    assert fresh.advance(3) == (0, 3, 3)  # the first batch also zeroes the never-filled slots 3, 4
    assert fresh.advance(3) == (3, 3, 5) and fresh.filled == 5
    assert fresh.advance(7) == (1, 5, 5)
