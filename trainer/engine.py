"""One training epoch: forward, loss, backward, step; AMP on CUDA, DDP-aware, with a progress bar
that shows the loss, images/s and the share of time spent waiting for data; a loss that stops
being finite ends the epoch with `NonFiniteLoss`."""
from __future__ import annotations

import time
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm import tqdm

from attention_swap_reid.trainer.distributed import all_reduce_sum

LOSSES = ("loss", "ce", "triplet", "center")  # reported as means per batch
SUMMED = LOSSES + ("correct", "swapped", "images", "batches")  # summed on the device over an epoch, in this order


class NonFiniteLoss(FloatingPointError):
    """The loss stopped being finite (NaN or infinite) in `epoch` (1-based) at `step` (1-based
    within the epoch); `streak`: how many steps in a row it was not finite up to the read."""

    def __init__(self, epoch: int, step: int, streak: int, scaled: bool):
        self.epoch, self.step, self.streak = epoch, step, streak
        skipped = f" for {streak} steps in a row (the loss scaler skipped them and did not recover)" if scaled else ""
        super().__init__(f"the loss is not finite (NaN or infinite) from step {step} of epoch {epoch}{skipped}")


def _check_health(health: list[float], steps: int, epoch: int, scaled: bool, window: int) -> None:
    """Raise `NonFiniteLoss` from the read-back [first non-finite step, current streak of
    non-finite steps]. Without loss scaling a non-finite loss means non-finite gradients and,
    after the optimizer's step, weights: the first one stops the epoch. With it (float16) the
    scaler skips such steps and lowers its scale, so only a streak as long as the read-back
    window (`window` steps, the scale divided by 2 ** window) does."""
    first, streak = int(health[0]), int(health[1])
    if scaled and streak >= window:
        raise NonFiniteLoss(epoch, steps - streak + 1, streak, scaled=True)
    if not scaled and first:
        raise NonFiniteLoss(epoch, first, streak, scaled=False)


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
    the GPU in between; the progress bar shows them as of the last read. The same read checks
    that the loss is finite (its record is kept on the device too) and raises `NonFiniteLoss`
    when it is not: without loss scaling from the first such step (its step number is kept),
    with an enabled `scaler` after `sync_every` non-finite steps in a row (single ones are the
    steps the scaler skips); the optimizer may have stepped up to `sync_every` - 1 times since.

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
    health = torch.zeros(2, dtype=torch.float64, device=device)  # first non-finite step (0: none), current streak
    scaled = scaler.is_enabled()
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
        finite = torch.isfinite(step["loss"])
        health[1].add_(1).mul_(~finite)
        health[0] = torch.where((health[0] == 0) & ~finite, float(steps), health[0])
        bar.update(1)
        if steps % sync_every == 0:
            values = torch.cat([on_device, health]).tolist()  # the device sync, once every `sync_every` steps
            _check_health(values[len(SUMMED):], steps, epoch, scaled, sync_every)
            sums = dict(zip(SUMMED, values))
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{sums['loss'] / sums['batches']:.3f}", img_s=f"{sums['images'] / elapsed:.0f}",
                            wait=f"{wait / elapsed:.0%}", refresh=False)
    bar.close()
    seconds = time.perf_counter() - start
    values = torch.cat([all_reduce_sum(on_device), health]).tolist()
    wait_all, seconds_all = all_reduce_sum(torch.tensor([wait, seconds], dtype=torch.float64)).tolist()
    _check_health(values[len(SUMMED):], steps, epoch, scaled, sync_every)  # after the collectives: no rank waits
    sums = dict(zip(SUMMED, values))
    out = {key: sums[key] / max(sums["batches"], 1.0) for key in LOSSES}
    out.update(acc=sums["correct"] / max(sums["images"], 1.0), swap_rate=sums["swapped"] / max(sums["images"], 1.0),
               img_s=sums["images"] / max(seconds, 1e-9),
               data_wait=wait_all / max(seconds_all, 1e-9), seconds=seconds)
    return out
