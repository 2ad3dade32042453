"""trainer.features: normalization, flip test, distances, and the evaluation glue."""
import numpy as np
import pytest
import torch
from torch import nn

from attention_swap_reid.trainer.features import (evaluate_features, extract_features,
                                                  extract_features_sharded, squared_euclidean)


class FirstRow(nn.Module):
    """Eval-mode 'model': the first image row of channel 0, so a flip visibly changes it."""

    def forward(self, images):
        assert not self.training
        return images[:, 0, 0, :]


def batches():
    g = torch.Generator().manual_seed(0)
    for start in (0, 3):
        yield {"images": torch.rand(3, 3, 4, 5, generator=g), "pids": torch.arange(start, start + 3),
               "camids": torch.zeros(3, dtype=torch.long)}


def test_extract_normalizes_and_flips():
    model = FirstRow().train()
    feats, pids, camids = extract_features(model, batches(), "cpu")
    assert model.training  # mode restored
    images = torch.cat([b["images"] for b in batches()])
    raw = images[:, 0, 0, :].numpy()
    np.testing.assert_allclose(feats.numpy(), raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-6)
    assert pids.tolist() == list(range(6)) and camids.dtype == np.int64
    flipped, _, _ = extract_features(model, batches(), "cpu", flip=True)
    both = raw + raw[:, ::-1]
    np.testing.assert_allclose(flipped.numpy(), both / np.linalg.norm(both, axis=1, keepdims=True), rtol=1e-6)


def test_squared_euclidean_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 6)), rng.normal(size=(5, 6))
    expected = ((x[:, None] - y[None]) ** 2).sum(-1)
    np.testing.assert_allclose(squared_euclidean(torch.tensor(x), torch.tensor(y)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rerank_k", [None, (3, 2, 0.3)])
def test_evaluate_features_perfect_on_identical_features(rerank_k):
    g = torch.nn.functional.normalize(torch.eye(4).repeat_interleave(3, 0), dim=1)  # 4 ids x 3 images
    q = g[::3]
    r = evaluate_features(q, np.arange(4), np.zeros(4, int), g, np.repeat(np.arange(4), 3), np.ones(12, int),
                          rerank_k=rerank_k, max_rank=10)
    assert r["mAP"] == 1.0 and r["cmc"][0] == 1.0


def test_empty_loader_gives_empty_features():
    feats, pids, camids = extract_features(FirstRow(), iter(()), "cpu")
    assert feats.shape[0] == 0 and pids.shape == camids.shape == (0,) and pids.dtype == np.int64


@pytest.mark.parametrize("rerank_k", [None, (3, 2, 0.3)])
def test_sharded_variants_are_the_plain_ones_in_a_single_process(rerank_k):
    """Without a process group the sharded paths are the single-process ones (the 2-process
    comparison is in test_torchrun.py)."""
    model = FirstRow()
    plain = extract_features(model, batches(), "cpu")
    for loader_sharded in (False, True):
        got = extract_features_sharded(model, batches(), "cpu", loader_sharded=loader_sharded)
        assert torch.equal(got[0], plain[0]) and np.array_equal(got[1], plain[1])
    g = torch.nn.functional.normalize(torch.rand(12, 5, generator=torch.Generator().manual_seed(1)), dim=1)
    args = (g[:4], np.arange(4), np.zeros(4, int), g, np.repeat(np.arange(4), 3), np.ones(12, int))
    a = evaluate_features(*args, rerank_k=rerank_k, max_rank=5)
    b = evaluate_features(*args, rerank_k=rerank_k, max_rank=5, sharded=True)
    assert a["mAP"] == b["mAP"] and np.array_equal(a["cmc"], b["cmc"])
