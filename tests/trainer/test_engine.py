"""trainer.engine: a few epochs on the tiny synthetic world through the real DALI loader."""
import pytest
import torch

from attention_swap_reid.dali_pipes import BotOptions, Placement, ReIDLoader
from attention_swap_reid.kernels import AugmentConfig
from attention_swap_reid.trainer.engine import NonFiniteLoss, train_one_epoch
from attention_swap_reid.trainer.losses import ReIDLoss
from attention_swap_reid.trainer.model import build_model


@pytest.mark.slow
def test_loss_goes_down_on_tiny_world(tiny_world):
    augment = AugmentConfig(p=0.5, seed=0, min_area_ratio=0.0, min_iou=0.0, dilate=7)
    loader = ReIDLoader(tiny_world, batch_size=16, num_instances=4, size=(64, 32), augment=augment,
                        device="cpu", seed=0, bot=BotOptions(erasing=0.0), placement=Placement(num_threads=1))
    torch.manual_seed(0)
    model = build_model("resnet18", loader.num_classes)
    loss_fn = ReIDLoss(loader.num_classes, model.feat_dim, center_weight=5e-4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    center_opt = torch.optim.SGD(loss_fn.center.parameters(), lr=0.5)
    centers = loss_fn.center.centers.detach().clone()
    seen, history, batches = [], [], 0
    for epoch in range(6):
        loader.set_epoch(epoch)
        batches += len(loader)
        stats = train_one_epoch(model, loader, loss_fn, optimizer, device=torch.device("cpu"), epoch=epoch + 1,
                                center_optimizer=center_opt, show_progress=False,
                                on_batch=lambda b: seen.append(len(b["indices"])))
        history.append(stats)
    first, last = history[0], history[-1]
    assert last["loss"] < 0.8 * first["loss"], [h["loss"] for h in history]
    assert last["ce"] < first["ce"]
    assert set(first) == {"loss", "ce", "triplet", "center", "acc", "swap_rate", "img_s", "data_wait", "seconds"}
    assert all(0.2 < h["swap_rate"] < 0.8 for h in history), [h["swap_rate"] for h in history]  # p = 0.5, no rules
    assert all(0 <= h["data_wait"] <= 1 and 0 <= h["acc"] <= 1 and h["img_s"] > 0 for h in history)
    assert sum(seen) == batches * 16
    assert not torch.equal(centers, loss_fn.center.centers)  # the centers trained too


class _TinyModel(torch.nn.Module):
    """(B, 3, H, W) -> (scores over 4 classes, 8-d features)."""

    def __init__(self):
        super().__init__()
        self.feat = torch.nn.Linear(3, 8)
        self.cls = torch.nn.Linear(8, 4)

    def forward(self, x):
        f = self.feat(x.mean(dim=(2, 3)))
        return self.cls(f), f


def _tiny_epoch(sync_every: int, nan_steps=(), scaler=None, model=None, steps=7):
    """One epoch of `steps` batches of the tiny model; the loss of the 1-based `nan_steps` is NaN."""
    g = torch.Generator().manual_seed(0)
    batches = [{"images": torch.randn(8, 3, 4, 2, generator=g), "labels": torch.arange(8) % 4,
                "swapped": torch.arange(8) < i} for i in range(steps)]  # batch i: i of its 8 images swapped
    torch.manual_seed(0)
    model = model or _TinyModel()
    ce = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step = iter(range(1, steps + 1))

    def loss_fn(s, f, y):
        loss = ce(s, y) * (float("nan") if next(step) in nan_steps else 1.0)
        return loss, {"ce": loss}

    return train_one_epoch(model, batches, loss_fn, optimizer, device=torch.device("cpu"), epoch=2,
                           show_progress=False, sync_every=sync_every, scaler=scaler)


def test_figures_are_read_back_every_n_steps_and_do_not_depend_on_n(monkeypatch):
    """A read of a tensor's values (`tolist`, `item`, `cpu`) is what waits for the GPU."""
    reads = []
    for name in ("tolist", "item", "cpu"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            reads.append((_name, tuple(self.shape)))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    every_step = _tiny_epoch(sync_every=1)
    reads_every_step = list(reads)
    reads.clear()
    every_third = _tiny_epoch(sync_every=3)
    # 7 steps: the sums (and the loss's finiteness record) after steps 3 and 6, then the same and
    # the timings at the end: the check for a non-finite loss adds no read
    assert reads == [("tolist", (8 + 2,))] * 3 + [("tolist", (2,))], reads
    assert len(reads_every_step) == 7 + 2
    for key in ("loss", "ce", "acc"):
        assert every_third[key] == every_step[key], key
    assert every_step["swap_rate"] == (0 + 1 + 2 + 3 + 4 + 5 + 6) / 56  # the "swapped" flags of all 56 images


def test_sync_every_must_be_positive():
    with pytest.raises(ValueError, match="sync_every"):
        _tiny_epoch(sync_every=0)


@pytest.mark.parametrize("sync_every", [1, 3, 20])
def test_a_non_finite_loss_stops_the_epoch_naming_its_step(sync_every):
    model = _TinyModel()
    with pytest.raises(NonFiniteLoss) as info:
        _tiny_epoch(sync_every, nan_steps={5}, model=model)
    assert (info.value.epoch, info.value.step) == (2, 5)
    assert str(info.value) == "the loss is not finite (NaN or infinite) from step 5 of epoch 2"


def test_with_loss_scaling_skipped_steps_go_on_and_a_streak_stops():
    scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0 ** 8)
    model = _TinyModel()
    _tiny_epoch(3, nan_steps={2, 5}, scaler=scaler, model=model, steps=8)  # the scaler skips two steps
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert scaler.get_scale() < 2.0 ** 8
    scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0 ** 8)
    with pytest.raises(NonFiniteLoss) as info:
        _tiny_epoch(3, nan_steps={4, 5, 6, 7, 8}, scaler=scaler, steps=8)
    assert (info.value.step, info.value.streak) == (4, 3)  # read after step 6: three in a row since step 4
    assert "for 3 steps in a row (the loss scaler skipped them and did not recover)" in str(info.value)
