"""One training epoch: forward, loss, backward, step; AMP on CUDA, DDP-aware, with a progress bar
that shows the loss, images/s and the share of time spent waiting for data."""
from __future__ import annotations

import time
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm import tqdm

from attention_swap_reid.trainer.distributed import all_reduce_sum

LOSSES = ("loss", "ce", "triplet", "center")  # reported as means per batch
SUMMED = LOSSES + ("correct", "swapped", "images", "batches")  # summed on the device over an epoch, in this order


def _center_step(loss_fn: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 weight: float) -> None:
    """BoT: the centers take their own SGD step with the loss weight divided out of the gradient."""
    scaler.unscale_(optimizer)
    for p in loss_fn.center.parameters():
        if p.grad is not None:
            if torch.distributed.is_initialized():  # centers are outside DDP: average by hand
                all_reduce_sum(p.grad).div_(torch.distributed.get_world_size())
            p.grad.div_(weight)
    scaler.step(optimizer)


def train_one_epoch(model: nn.Module, loader: Iterable[dict], loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, *, device: torch.device, epoch: int,
                    scaler: torch.amp.GradScaler | None = None, amp_dtype: torch.dtype | None = None,
                    center_optimizer: torch.optim.Optimizer | None = None,
                    show_progress: bool = True, sync_every: int = 20,
                    on_batch: Callable[[dict], None] | None = None) -> dict[str, float]:
    """Train `model` for one pass over `loader` (batches as `dali_pipes.ReIDLoader` yields them:
    "images" (B, 3, H, W) float, "labels" (B,) int64; tensors already on `device` are used as
    they are).

    `model` returns (cls_score, global_feat) in train mode; `loss_fn(cls_score, global_feat,
    labels)` returns (total, parts) like `trainer.losses.ReIDLoss`. `amp_dtype`: autocast to
    this type (float16 or bfloat16; None = no autocast), with channels_last images on CUDA;
    `scaler`: a GradScaler (enabled for float16, which needs loss scaling). Under DDP the
    returned figures are over all ranks. The per-step figures are summed on the device and read
    back (one device sync) every `sync_every` steps and at the end, so the host runs ahead of
    the GPU in between; the progress bar shows them as of the last read.

    Returns: "loss", "ce", "triplet", "center" (means per batch), "acc" (ID accuracy),
    "swap_rate" (share of the images whose background was swapped: the batches' "swapped" flags),
    "img_s" (images/s, all ranks), "data_wait" (share of the epoch spent waiting for the
    loader's next batch), "seconds".
    """
    if sync_every < 1:
        raise ValueError(f"sync_every must be >= 1, got {sync_every}")
    scaler = scaler or torch.amp.GradScaler(device.type, enabled=False)
    amp = amp_dtype is not None
    memory_format = torch.channels_last if amp and device.type == "cuda" else torch.preserve_format
    model.train()
    on_device = torch.zeros(len(SUMMED), dtype=torch.float64, device=device)
    wait = 0.0
    start = time.perf_counter()
    bar = tqdm(total=len(loader), desc=f"epoch {epoch}", disable=not show_progress,
               dynamic_ncols=True, mininterval=1.0, leave=True)
    it = iter(loader)
    steps = 0
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            break
        wait += time.perf_counter() - t0
        if on_batch is not None:
            on_batch(batch)
        images = batch["images"].to(device, non_blocking=True, memory_format=memory_format)
        labels = batch["labels"].to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        if center_optimizer is not None:
            center_optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float16, enabled=amp):
            cls_score, global_feat = model(images)
            loss, parts = loss_fn(cls_score, global_feat, labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        if center_optimizer is not None:
            _center_step(loss_fn, center_optimizer, scaler, loss_fn.weights["center"])
        scaler.update()

        zero = loss.new_zeros(())
        step = {"loss": loss.detach().float(), **{k: parts.get(k, zero).float() for k in LOSSES[1:]},
                "correct": (cls_score.argmax(1) == labels).sum().float(),
                "swapped": batch["swapped"].to(device).sum().float() if "swapped" in batch else zero,
                "images": zero + len(labels),
                "batches": zero + 1}
        on_device += torch.stack([step[k] for k in SUMMED])
        steps += 1
        bar.update(1)
        if steps % sync_every == 0:
            sums = dict(zip(SUMMED, on_device.tolist()))  # the device sync, once every `sync_every` steps
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{sums['loss'] / sums['batches']:.3f}", img_s=f"{sums['images'] / elapsed:.0f}",
                            wait=f"{wait / elapsed:.0%}", refresh=False)
    bar.close()
    seconds = time.perf_counter() - start
    sums = dict(zip(SUMMED, all_reduce_sum(on_device).tolist()))
    wait_all, seconds_all = all_reduce_sum(torch.tensor([wait, seconds], dtype=torch.float64)).tolist()
    out = {key: sums[key] / max(sums["batches"], 1.0) for key in LOSSES}
    out.update(acc=sums["correct"] / max(sums["images"], 1.0), swap_rate=sums["swapped"] / max(sums["images"], 1.0),
               img_s=sums["images"] / max(seconds, 1e-9),
               data_wait=wait_all / max(seconds_all, 1e-9), seconds=seconds)
    return out
