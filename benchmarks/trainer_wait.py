"""The trainer's data-wait share: a short BoT ResNet-50 + AMP run on a GPU fed by our loader.

`trainer.engine.train_one_epoch` measures the time spent in `next(loader)` against the whole
step. The same steps fed by one cached batch give the model's own rate, so when the share is
high the record also shows where the time goes (loader rate vs. model rate).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch

from attention_swap_reid.benchmarks.steps import endless


class Steps:
    """`n` batches from an endless iterator, as a sized iterable (the engine's progress bar needs len)."""

    def __init__(self, batches: Iterator[dict], n: int):
        self.batches, self.n = batches, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[dict]:
        for _ in range(self.n):
            yield next(self.batches)


def _repeat(batch: dict) -> Iterator[dict]:
    while True:
        yield batch


def trainer_data_wait(manifest: str, size: tuple[int, int], augment, threads: int, *, device: str = "gpu",
                      model: str = "resnet50", batch: int = 64, steps: int = 40, warmup_steps: int = 10,
                      seed: int = 0) -> dict:
    """Data-wait share of `steps` BoT training steps (after `warmup_steps`) fed by our loader.

    device "gpu": CUDA with AMP (float16 autocast + GradScaler, channels_last), cuDNN autotuning; "cpu" (no
    AMP) exists to test this code without a GPU. Returns "data_wait" (fraction of step time),
    "img_s" (training images/s with the loader), "model_img_s" (the same steps fed one cached
    batch: the model's own rate), "model_data_wait", "steps", "batch", "amp", "model".
    """
    from attention_swap_reid.dali_pipes import Placement, ReIDLoader
    from attention_swap_reid.trainer.engine import train_one_epoch
    from attention_swap_reid.trainer.losses import ReIDLoss
    from attention_swap_reid.trainer.model import build_model
    from attention_swap_reid.trainer.optim import make_optimizer

    torch_device = torch.device("cuda" if device == "gpu" else "cpu")
    torch.backends.cudnn.benchmark = True
    loader = ReIDLoader(manifest, split="train", batch_size=batch, num_instances=4, size=size, augment=augment,
                        device=device, seed=seed, validate=False, placement=Placement(num_threads=threads))
    net = build_model(model, loader.num_classes).to(torch_device)
    if device == "gpu":
        net = net.to(memory_format=torch.channels_last)  # what the engine feeds it under AMP
    loss_fn = ReIDLoss(loader.num_classes, net.feat_dim).to(torch_device)
    optimizer = make_optimizer(net)
    scaler = torch.amp.GradScaler(torch_device.type, enabled=device == "gpu")

    def run(source: Iterable[dict], n: int) -> dict:
        return train_one_epoch(net, Steps(iter(source), n), loss_fn, optimizer, device=torch_device, epoch=0,
                               scaler=scaler, amp_dtype=torch.float16 if scaler.is_enabled() else None,
                               show_progress=False)

    batches = endless(loader)
    run(batches, warmup_steps)  # cuDNN autotuning, allocator, pipeline start
    with_loader = run(batches, steps)
    cached = {k: v.clone() for k, v in next(batches).items()}  # the iterator may reuse its buffers
    model_only = run(_repeat(cached), steps)
    return {"data_wait": with_loader["data_wait"], "img_s": with_loader["img_s"],
            "model_img_s": model_only["img_s"], "model_data_wait": model_only["data_wait"],
            "steps": steps, "batch": batch, "amp": scaler.is_enabled(), "model": model}
