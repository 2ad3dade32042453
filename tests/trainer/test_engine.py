"""trainer.engine: a few epochs on the tiny synthetic world through the real DALI loader."""
import pytest
import torch

from dali_pipes import ReIDLoader
from kernels import AugmentConfig
from trainer.engine import train_one_epoch
from trainer.losses import ReIDLoss
from trainer.model import build_model


@pytest.mark.slow
def test_loss_goes_down_on_tiny_world(tiny_world):
    augment = AugmentConfig(p=0.5, seed=0, min_area_ratio=0.0, min_iou=0.0, dilate=7)
    loader = ReIDLoader(tiny_world, batch_size=16, num_instances=4, size=(64, 32), augment=augment,
                        device="cpu", num_threads=1, seed=0, erasing=0.0)
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
    assert set(first) == {"loss", "ce", "triplet", "center", "acc", "img_s", "data_wait", "seconds"}
    assert all(0 <= h["data_wait"] <= 1 and 0 <= h["acc"] <= 1 and h["img_s"] > 0 for h in history)
    assert sum(seen) == batches * 16
    assert not torch.equal(centers, loss_fn.center.centers)  # the centers trained too
