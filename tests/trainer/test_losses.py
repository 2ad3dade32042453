"""trainer.losses against NumPy formulas and hand-computed cases."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attention_swap_reid.trainer.losses import CenterLoss, ReIDLoss, TripletLoss


def label_smoothed_ce(logits, labels, eps):
    """The ID loss of `ReIDLoss` alone: (B, C), (B,) -> scalar."""
    loss = ReIDLoss(logits.shape[1], 1, label_smooth=eps, triplet_weight=0)
    return loss(logits, torch.zeros(len(labels), 1), labels)[1]["ce"]


def test_label_smoothing_hand_computed():
    # p = softmax([ln 3, 0]) = (0.75, 0.25); eps 0.2 over 2 classes: target (0.9, 0.1)
    logits, labels = torch.tensor([[np.log(3.0), 0.0]]), torch.tensor([0])
    expected = -(0.9 * np.log(0.75) + 0.1 * np.log(0.25))
    assert label_smoothed_ce(logits, labels, 0.2).item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_matches_formula():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 4, 0])
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    eps = 0.1
    expected = np.mean([-(1 - eps) * log_p[i, y] - eps / 5 * log_p[i].sum() for i, y in enumerate(labels)])
    got = label_smoothed_ce(torch.tensor(logits, dtype=torch.float32), torch.tensor(labels), eps)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_zero_is_cross_entropy():
    logits, labels = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 2, 1, 1])
    assert label_smoothed_ce(logits, labels, 0.0).item() == pytest.approx(F.cross_entropy(logits, labels).item(),
                                                                         rel=1e-6)


def test_label_smoothing_out_of_range_is_refused():
    with pytest.raises(ValueError, match="label_smooth must be in"):
        ReIDLoss(3, 2, label_smooth=1.0)


def test_triplet_hand_computed():
    feats = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchors: d_ap/d_an = 1/3, 1/2, 2/2, 2/4 -> hinge 0, 0, 0.3, 0
    assert TripletLoss(0.3)(feats, labels).item() == pytest.approx(0.3 / 4, abs=1e-6)
    soft = np.mean([np.log1p(np.exp(a - n)) for a, n in [(1, 3), (1, 2), (2, 2), (2, 4)]])
    assert TripletLoss(soft=True)(feats, labels).item() == pytest.approx(soft, abs=1e-6)


def test_triplet_matches_brute_force():
    rng = np.random.default_rng(1)
    feats, labels = rng.normal(size=(16, 8)), np.repeat(np.arange(4), 4)
    d = np.sqrt(((feats[:, None] - feats[None]) ** 2).sum(-1))
    losses = []
    for i in range(16):
        pos = max(d[i, j] for j in range(16) if labels[j] == labels[i])
        neg = min(d[i, j] for j in range(16) if labels[j] != labels[i])
        losses.append(max(0.0, pos - neg + 0.3))
    got = TripletLoss(0.3)(torch.tensor(feats), torch.tensor(labels))
    assert got.item() == pytest.approx(np.mean(losses), rel=1e-5)


def test_triplet_needs_two_identities():
    with pytest.raises(ValueError, match="two identities"):
        TripletLoss()(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))


def test_center_loss_hand_computed():
    loss = CenterLoss(2, 2)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    feats, labels = torch.tensor([[1.0, 0.0], [1.0, 3.0]]), torch.tensor([0, 1])
    assert loss(feats, labels).item() == pytest.approx((1 + 4) / 2)


def test_reid_loss_weighted_sum_and_parts():
    g = torch.Generator().manual_seed(0)
    scores, feats = torch.randn(8, 4, generator=g), torch.randn(8, 6, generator=g)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    fn = ReIDLoss(4, 6, ce_weight=0.5, triplet_weight=2.0, center_weight=0.01, generator=g)
    total, parts = fn(scores, feats, labels)
    assert set(parts) == {"ce", "triplet", "center"}
    expected = 0.5 * parts["ce"] + 2.0 * parts["triplet"] + 0.01 * parts["center"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(ReIDLoss(4, 6, triplet_weight=0)(scores, feats, labels)[1]) == {"ce"}
