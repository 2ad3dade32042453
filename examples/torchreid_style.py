"""torchreid-style training and evaluation on `ReIDLoader` / `EvalLoader` through the adapters.

    python examples/torchreid_style.py --manifest data/synth/manifest.csv --epochs 1

`TorchreidDataManager` stands where torchreid's `ImageDataManager` does; the loop below is
what torchreid's `ImageTripletEngine` does with it (`len(train_loader)` steps of
`data["img"]`, `data["pid"]` an epoch; query and gallery features from
`test_loader[name]`). With torchreid installed, hand the same datamanager to its engine::

    engine = torchreid.engine.ImageTripletEngine(datamanager, model, optimizer=optimizer,
                                                 scheduler=scheduler)
    engine.run(save_dir="log", max_epoch=60, eval_freq=10)
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from attention_swap_reid.dali_pipes import EvalLoader, ReIDLoader
from attention_swap_reid.dali_pipes.adapters import TorchreidDataManager
from attention_swap_reid.dali_pipes.sizes import size_argument
from attention_swap_reid.kernels import AugmentConfig
from attention_swap_reid.trainer.features import evaluate_features
from attention_swap_reid.trainer.losses import TripletLoss
from attention_swap_reid.trainer.model import build_model


@torch.no_grad()
def evaluate(model: torch.nn.Module, datamanager: TorchreidDataManager, device: str) -> dict:
    """torchreid's `_evaluate`: features of the query and gallery loaders of the first target."""
    model.eval()
    extracted = []
    for split in ("query", "gallery"):
        feats, pids, camids = [], [], []
        for data in datamanager.test_loader[datamanager.targets[0]][split]:
            feats.append(F.normalize(model(data["img"].to(device)), dim=1).cpu())
            pids.extend(data["pid"])
            camids.extend(data["camid"])
        extracted += [torch.cat(feats), np.asarray(pids), np.asarray(camids)]
    model.train()
    return evaluate_features(*extracted)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--size", type=size_argument, default=(128, 64), help="HxW, e.g. 128x64")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    args = parser.parse_args(argv)

    size = args.size
    train = ReIDLoader(args.manifest, batch_size=16, num_instances=4, size=size, device=args.device,
                       augment=AugmentConfig(p=0.5, seed=0))
    device = "cuda" if train.device_id is not None else "cpu"
    datamanager = TorchreidDataManager(
        train, *(EvalLoader(args.manifest, split, size=size, device=args.device) for split in ("query", "gallery")),
        name="synth")

    torch.manual_seed(0)
    model = build_model("resnet18", datamanager.num_train_pids, last_stride=1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3.5e-4)
    triplet = TripletLoss(0.3)
    for epoch in range(args.epochs):
        for data in datamanager.train_loader:  # ImageTripletEngine.forward_backward
            imgs, pids = data["img"].to(device), data["pid"].to(device)
            outputs, features = model(imgs)
            loss = F.cross_entropy(outputs, pids, label_smoothing=0.1) + triplet(features, pids)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}")
    metrics = evaluate(model, datamanager, device)
    print(f"rank-1 {metrics['cmc'][0]:.1%}, mAP {metrics['mAP']:.1%}")
    return {"loss": loss.item(), **metrics}


if __name__ == "__main__":
    main()
