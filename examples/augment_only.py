"""`AttentionAugment` on batches from your own torch DataLoader (no DALI).

    python examples/augment_only.py --manifest data/synth/manifest.csv --batches 3

Your Dataset returns image, mask, pid, viewpoint; after collation the batch goes to the GPU
and `AttentionAugment` works on the torch tensors directly (DLPack, CuPy kernels, same
stream); without a GPU the same call runs the numpy backend on CPU tensors. Apply it first,
then your usual flip / crop / erasing.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from attention_swap_reid.dali_pipes import read_manifest
from attention_swap_reid.kernels import AttentionAugment, AugmentConfig


class MaskedImages(Dataset):
    """Training rows of a manifest: image (H,W,3) uint8 RGB, mask (H,W) uint8 {0,1}, pid, viewpoint."""

    def __init__(self, manifest: str, size=(128, 64)):
        self.samples = read_manifest(manifest, ["train"])
        self.size = size

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        s, (h, w) = self.samples[i], self.size
        image = cv2.resize(cv2.cvtColor(cv2.imread(s.image), cv2.COLOR_BGR2RGB), (w, h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(cv2.imread(s.mask, cv2.IMREAD_GRAYSCALE), (w, h), interpolation=cv2.INTER_NEAREST)
        return torch.from_numpy(image), torch.from_numpy((mask > 0).astype(np.uint8)), s.pid, s.viewpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args(argv)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    augment = AttentionAugment(AugmentConfig(p=0.5, seed=0), backend="auto")
    loader = DataLoader(MaskedImages(args.manifest), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    swapped = 0
    for epoch_step, (images, masks, pids, views) in enumerate(loader):
        if epoch_step == args.batches:
            break
        images, masks, pids, views = (t.to(device) for t in (images, masks, pids, views))
        out = augment(images, masks, pids, views, epoch=0, index=torch.arange(len(pids), device=device) + epoch_step * 32)
        assert out.images.shape == images.shape and out.images.device == images.device
        swapped += int(out.stats["swapped"])
        print(f"batch {epoch_step}: {out.stats['swapped']} of {len(pids)} swapped on {device}")
    return swapped


if __name__ == "__main__":
    main()
