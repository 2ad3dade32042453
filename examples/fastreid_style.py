"""fast-reid-style training and evaluation on `ReIDLoader` / `EvalLoader` through the adapters.

    python examples/fastreid_style.py --manifest data/synth/manifest.csv --epochs 1

The model is written the way fast-reid's meta-architectures are: it takes the batch dict,
normalizes `images` (float pixels in 0-255) itself with its pixel_mean / pixel_std buffers,
and returns a dict of losses in training and features in evaluation. The loop is fast-reid's
`SimpleTrainer` (`iter()` once, `next()` per step, `len(dataset) // batch size` steps an
epoch) and its evaluation (`inference_on_dataset`, query rows first). With fast-reid
installed, return the same objects from a `DefaultTrainer` subclass instead::

    @classmethod
    def build_train_loader(cls, cfg):
        return FastReIDTrainLoader(ReIDLoader(manifest, ..., output=OutputFormat(normalize=False)))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        raw = OutputFormat(normalize=False)
        return fastreid_test_loader(EvalLoader(manifest, "query", ..., output=raw),
                                    EvalLoader(manifest, "gallery", ..., output=raw))
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from attention_swap_reid.dali_pipes import EvalLoader, OutputFormat, ReIDLoader
from attention_swap_reid.dali_pipes.adapters import FastReIDTrainLoader, fastreid_test_loader
from attention_swap_reid.dali_pipes.output_format import IMAGENET_MEAN, IMAGENET_STD
from attention_swap_reid.dali_pipes.sizes import size_argument
from attention_swap_reid.kernels import AugmentConfig
from attention_swap_reid.trainer.features import evaluate_features
from attention_swap_reid.trainer.losses import TripletLoss
from attention_swap_reid.trainer.model import build_model


class Baseline(nn.Module):
    """A BoT network behind fast-reid's model interface: `forward(batched_inputs)` with
    `images` (B, 3, H, W) in 0-255 and `targets` (B,); returns {"loss_cls", "loss_triplet"}
    in training, features (B, D) in evaluation."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.net = build_model("resnet18", num_classes, last_stride=1)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, -1, 1, 1), False)
        self.triplet = TripletLoss(0.3)

    def forward(self, batched_inputs: dict):
        images = batched_inputs["images"].sub_(self.pixel_mean).div_(self.pixel_std)  # in place, as fast-reid
        if not self.training:
            return self.net(images)
        scores, feats = self.net(images)
        targets = batched_inputs["targets"]
        return {"loss_cls": F.cross_entropy(scores, targets, label_smoothing=0.1),
                "loss_triplet": self.triplet(feats, targets)}


@torch.no_grad()
def evaluate(model: nn.Module, test_loader, num_query: int) -> dict:
    """fast-reid's evaluation: features of every batch, the first `num_query` rows are the queries."""
    model.eval()
    feats, pids, camids = [], [], []
    for inputs in test_loader:
        feats.append(F.normalize(model(inputs).float(), dim=1).cpu())
        pids.append(inputs["targets"].cpu())
        camids.append(inputs["camids"].cpu())
    model.train()
    feats, pids, camids = torch.cat(feats), torch.cat(pids).numpy(), torch.cat(camids).numpy()
    q, g = slice(0, num_query), slice(num_query, None)
    return evaluate_features(feats[q], pids[q], camids[q], feats[g], pids[g], camids[g])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--size", type=size_argument, default=(128, 64), help="HxW, e.g. 128x64")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    args = parser.parse_args(argv)

    size, batch_size, raw = args.size, 16, OutputFormat(normalize=False)  # fast-reid's models normalize themselves
    train = ReIDLoader(args.manifest, batch_size=batch_size, num_instances=4, size=size, device=args.device,
                       augment=AugmentConfig(p=0.5, seed=0), output=raw)
    device = "cuda" if train.device_id is not None else "cpu"
    data_loader = FastReIDTrainLoader(train)
    test_loader, num_query = fastreid_test_loader(
        *(EvalLoader(args.manifest, split, size=size, device=args.device, output=raw)
          for split in ("query", "gallery")))

    torch.manual_seed(0)
    model = Baseline(data_loader.dataset.num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3.5e-4)
    iters_per_epoch = len(data_loader.dataset) // batch_size
    data_loader_iter = iter(data_loader)
    for epoch in range(args.epochs):
        for _ in range(iters_per_epoch):  # fast-reid's SimpleTrainer.run_step
            loss_dict = model(next(data_loader_iter))
            losses = sum(loss_dict.values())
            optimizer.zero_grad()
            losses.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v.item():.3f}" for k, v in loss_dict.items()))
    metrics = evaluate(model, test_loader, num_query)
    print(f"rank-1 {metrics['cmc'][0]:.1%}, mAP {metrics['mAP']:.1%}")
    return {"loss": losses.item(), **metrics}


if __name__ == "__main__":
    main()
