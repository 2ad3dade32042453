"""Optimizers and the learning-rate schedule of BoT: Adam with per-parameter groups, and a
linear warmup followed by step decay, stepped once per epoch."""
from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

import torch
from torch import nn


def make_optimizer(model: nn.Module, lr: float = 3.5e-4, weight_decay: float = 5e-4,
                   bias_lr_factor: float = 1.0, weight_decay_bias: float = 5e-4) -> torch.optim.Adam:
    """Adam over the trainable parameters of `model`, one group per parameter as in BoT:
    biases get `lr * bias_lr_factor` and `weight_decay_bias`, the rest `lr` and `weight_decay`.
    Frozen parameters (the BNNeck bias) are left out."""
    groups = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_bias = "bias" in name
        groups.append({"params": [param], "lr": lr * (bias_lr_factor if is_bias else 1.0),
                       "weight_decay": weight_decay_bias if is_bias else weight_decay})
    return torch.optim.Adam(groups, lr=lr)


class WarmupMultiStepLR(torch.optim.lr_scheduler.LRScheduler):
    """lr(e) = base_lr * warmup(e) * gamma ** (number of milestones <= e), e = epoch from 0.

    warmup(e) = warmup_factor + (1 - warmup_factor) * e / warmup_epochs for e < warmup_epochs,
    else 1 (BoT's linear warmup). `milestones` must be strictly increasing.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 warmup_factor: float = 0.01, warmup_epochs: int = 10, last_epoch: int = -1):
        milestones = list(milestones)
        if milestones != sorted(set(milestones)):
            raise ValueError(f"milestones must be strictly increasing, got {milestones}")
        self.milestones, self.gamma = milestones, gamma
        self.warmup_factor, self.warmup_epochs = warmup_factor, warmup_epochs
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        """The multiplier of the base lr at `epoch`."""
        warmup = 1.0
        if epoch < self.warmup_epochs:
            alpha = epoch / self.warmup_epochs
            warmup = self.warmup_factor * (1 - alpha) + alpha
        return warmup * self.gamma ** bisect_right(self.milestones, epoch)

    def get_lr(self) -> list[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]
