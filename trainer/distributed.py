"""Process-group helpers for `torchrun` DDP (gloo on CPU, NCCL on CUDA) that degrade to no-ops
in a single process.

The process group is created with an explicit timeout (`DEFAULT_TIMEOUT`, 60 minutes; the
environment variable `REID_DIST_TIMEOUT_MIN` overrides it): a collective that one rank enters
while another is still busy alone (writing a checkpoint, a long evaluation) fails only after
that long. PyTorch's own default for NCCL is 10 minutes, which k-reciprocal re-ranking of a
large gallery can exceed. docs/multi-gpu.md says what runs where.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (rank 0 of 1 without `torchrun`)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


DEFAULT_TIMEOUT = timedelta(minutes=60)
TIMEOUT_ENV = "REID_DIST_TIMEOUT_MIN"


def process_group_timeout(timeout: timedelta | float | None = None) -> timedelta:
    """The timeout for collectives: `timeout` (a timedelta or minutes) if given, else
    `$REID_DIST_TIMEOUT_MIN` (minutes) if set, else `DEFAULT_TIMEOUT`."""
    if timeout is None:
        raw = os.environ.get(TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(raw)
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV}={raw!r}: expected a number of minutes") from None
    if not isinstance(timeout, timedelta):
        timeout = timedelta(minutes=float(timeout))
    if timeout <= timedelta(0):
        raise ValueError(f"process-group timeout must be positive, got {timeout}")
    return timeout


def init_distributed(device_type: str, timeout: timedelta | float | None = None) -> DistInfo:
    """Join the process group `torchrun` describes in the environment (WORLD_SIZE > 1), with
    NCCL for `device_type == "cuda"` (and select the local GPU), gloo otherwise. `timeout`:
    see `process_group_timeout` (default 60 minutes, not PyTorch's 10 for NCCL)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo",
                                timeout=process_group_timeout(timeout))
    return info


def shutdown() -> None:
    """Leave the process group, if any."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum `values` over ranks (in place; returned for convenience). CPU tensors go through the
    GPU under NCCL, which reduces CUDA tensors only."""
    if dist.is_initialized():
        if dist.get_backend() == "nccl" and values.device.type == "cpu":
            on_gpu = values.cuda()
            dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
            values.copy_(on_gpu.cpu())
        else:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_object(obj: object, src: int = 0) -> object:
    """Rank `src`'s `obj` on every rank."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj: object) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    if not dist.is_initialized():
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _collective_device() -> torch.device:
    """Where tensors must be for the current backend's collectives (NCCL: this rank's GPU)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_gather_rows(values: torch.Tensor) -> torch.Tensor:
    """Every rank's `values` concatenated along dim 0 in rank order, on every rank (`values`
    itself without a process group). Ranks may hold different numbers of rows; the other
    dimensions and the dtype must agree. The result is on `values`'s device."""
    if not dist.is_initialized():
        return values
    world, dev = dist.get_world_size(), _collective_device()
    local = values.to(dev).contiguous()
    count = torch.tensor([local.shape[0]], dtype=torch.int64, device=dev)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    longest = max(sizes)
    if longest == 0:
        return values[:0]
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[:local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)]).to(values.device)


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Give every rank rank `src`'s buffers of `module` (BatchNorm running statistics): under
    DDP they are broadcast at the start of each training forward and then updated locally, so
    after the last step the ranks' copies differ slightly. No-op without a process group."""
    if not dist.is_initialized():
        return
    dev = _collective_device()
    for buf in module.buffers():
        if buf.device == dev:
            dist.broadcast(buf.data, src=src)
        else:
            moved = buf.data.to(dev)
            dist.broadcast(moved, src=src)
            buf.data.copy_(moved.to(buf.device))
