"""A plain PyTorch training loop over `ReIDLoader` (no project trainer involved).

    python examples/embed_loader.py --manifest data/synth/manifest.csv --steps 20

The loader does decode, resize, the attention augmentation, flip / pad-crop / erasing and
normalization inside DALI, on the GPU when there is one, and hands over torch tensors.
"""
from __future__ import annotations

import argparse

import torch
import torchvision

from attention_swap_reid.dali_pipes import ReIDLoader
from attention_swap_reid.dali_pipes.sizes import size_argument
from attention_swap_reid.kernels import AugmentConfig


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=size_argument, default=(128, 64), help="HxW, e.g. 128x64")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    args = parser.parse_args(argv)

    loader = ReIDLoader(args.manifest, batch_size=16, num_instances=4, size=args.size, device=args.device,
                        augment=AugmentConfig(p=0.5, roi="full", seed=0))
    device = "cuda" if loader.device_id is not None else "cpu"
    model = torchvision.models.resnet18(num_classes=loader.num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3.5e-4)
    step, loss = 0, torch.tensor(float("nan"))
    while step < args.steps:
        for batch in loader:  # one epoch; the loader advances its epoch by itself
            loss = torch.nn.functional.cross_entropy(model(batch["images"]), batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % 5 == 0 or step == args.steps:
                print(f"step {step}: loss {loss.item():.3f}, swapped {int(batch['swapped'].sum())}/{len(batch['swapped'])}")
            if step == args.steps:
                break
    return loss.item()


if __name__ == "__main__":
    main()
