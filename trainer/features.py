"""Retrieval features from an evaluation loader, and the distances between them.

Under `torchrun` evaluation can be spread over all ranks (docs/multi-gpu.md):
`extract_features_sharded` has each rank run the model on its share of the batches and gathers
every feature to every rank in loader order; `evaluate_features(..., sharded=True)` has each
rank score every world_size-th query and sums the scores over ranks. Both give the
single-process results (the same features; metrics up to float summation order) and fall back
to the single-process functions without a process group.
"""
from __future__ import annotations

import contextlib

from typing import Iterable, Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from attention_swap_reid.trainer.distributed import all_gather_rows, all_reduce_sum, broadcast_buffers
from attention_swap_reid.trainer.evaluate import evaluate
from attention_swap_reid.trainer.rerank import rerank


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode for the block, its own mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def extract_features(model: nn.Module, loader: Iterable[dict], device: torch.device | str,
                     flip: bool = False) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Run `model` (switched to eval mode, restored afterwards) over every batch of `loader`.

    `loader` yields dicts with "images" (B, 3, H, W) float, "pids" and "camids" (B,) int64
    (an `EvalLoader`). With `flip`, the feature of the mirrored image is added before
    normalizing. Returns (features (N, D) float32 on the CPU, L2-normalized; pids (N,) int64;
    camids (N,) int64).
    """
    feats, pids, camids = [], [], []
    with eval_mode(model):
        for batch in loader:
            images = batch["images"].to(device, non_blocking=True)
            f = model(images).float()
            if flip:
                f = f + model(torch.flip(images, dims=[3])).float()
            feats.append(F.normalize(f, dim=1).cpu())
            pids.append(batch["pids"].cpu().numpy())
            camids.append(batch["camids"].cpu().numpy())
    if not feats:  # an empty loader (or a rank without a share of the batches)
        return torch.zeros(0, 0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return torch.cat(feats), np.concatenate(pids).astype(np.int64), np.concatenate(camids).astype(np.int64)


def _world() -> tuple[int, int]:
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def extract_features_sharded(model: nn.Module, loader: Iterable[dict], device: torch.device | str,
                             flip: bool = False, loader_sharded: bool = False
                             ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """`extract_features` with the model work spread over the ranks of the process group; every
    rank returns all N features in loader order (what one process would return).

    - `loader_sharded=False`: every rank iterates the whole `loader` (the same batches on every
      rank, e.g. an `EvalLoader` per rank) and runs the model on batches i with
      i % world_size == rank: the forward passes are split, the decoding is not.
    - `loader_sharded=True`: each rank's loader yields only its own rows, with "indices" (B,)
      = the row numbers in the split (0..N-1); every row must come from some rank, rows
      repeated by a shard's padding are dropped.

    Rank 0's buffers (BatchNorm statistics, which DDP lets drift apart after the last step) are
    first broadcast into every rank's `model`, so all ranks evaluate the same network. Without
    a process group (or with one rank) this is `extract_features`.
    """
    rank, world = _world()
    if world == 1:
        return extract_features(model, loader, device, flip=flip)
    broadcast_buffers(model)
    positions: list[torch.Tensor] = []

    def own_batches() -> Iterator[dict]:
        offset = 0
        for i, batch in enumerate(loader):
            n = len(batch["pids"])
            if loader_sharded:
                if "indices" not in batch:
                    raise ValueError("loader_sharded=True needs batches with 'indices' (row numbers in the split)")
                positions.append(torch.as_tensor(batch["indices"]).reshape(-1).to("cpu", torch.int64))
                yield batch
            elif i % world == rank:
                positions.append(torch.arange(offset, offset + n, dtype=torch.int64))
                yield batch
            offset += n

    feats, pids, camids = extract_features(model, own_batches(), device, flip=flip)
    dim = int(all_gather_rows(torch.tensor([feats.shape[1]], dtype=torch.int64)).max())
    if feats.shape[0] == 0:
        feats = torch.zeros(0, dim)
    all_feats = all_gather_rows(feats)
    all_pids = all_gather_rows(torch.from_numpy(pids))
    all_camids = all_gather_rows(torch.from_numpy(camids))
    all_pos = all_gather_rows(torch.cat(positions) if positions else torch.zeros(0, dtype=torch.int64))
    order = torch.argsort(all_pos, stable=True)
    pos = all_pos[order]
    first = torch.ones_like(pos, dtype=torch.bool)
    first[1:] = pos[1:] != pos[:-1]  # drop rows repeated by a shard's padding
    order, pos = order[first], pos[first]
    if not torch.equal(pos, torch.arange(len(pos))):
        missing = sorted(set(range(int(pos.max()) + 1 if len(pos) else 0)) - set(pos.tolist()))
        raise RuntimeError(f"sharded feature extraction: the ranks' rows do not cover the split "
                           f"(rows {missing[:5]} missing); are the loaders sharded as loader_sharded says?")
    return all_feats[order], all_pids[order].numpy(), all_camids[order].numpy()


def squared_euclidean(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(M, D), (N, D) -> (M, N) float32 squared Euclidean distances, clamped at 0."""
    x, y = x.double(), y.double()
    d = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2 * x @ y.t()
    return d.clamp_(min=0).float().numpy()


def evaluate_features(q_feats: torch.Tensor, q_pids: np.ndarray, q_camids: np.ndarray,
                      g_feats: torch.Tensor, g_pids: np.ndarray, g_camids: np.ndarray,
                      rerank_k: tuple[int, int, float] | None = None, max_rank: int = 50,
                      sharded: bool = False) -> dict:
    """Distances between query and gallery features, optionally re-ranked with
    `rerank_k = (k1, k2, lambda)`, scored by `trainer.evaluate.evaluate` (its dict).

    `sharded=True` (every rank of the process group calls this with all the features, e.g. from
    `extract_features_sharded`): rank r scores queries r, r + world_size, ... and the sums are
    reduced over the ranks, so every rank returns the metrics of all queries. Re-ranking needs
    the whole query + gallery graph: with `rerank_k` every rank computes it in full, side by
    side (no rank waits in a collective meanwhile; host memory O((Q+G)^2) per rank). Without a
    process group `sharded` changes nothing.
    """
    rank, world = _world()
    if not sharded or world == 1:
        distmat = squared_euclidean(q_feats, g_feats)
        if rerank_k is not None:
            k1, k2, lam = rerank_k
            distmat = rerank(distmat, squared_euclidean(q_feats, q_feats), squared_euclidean(g_feats, g_feats),
                             k1=k1, k2=k2, lambda_value=lam)
        return evaluate(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank)
    return _evaluate_query_shard(q_feats, np.asarray(q_pids), np.asarray(q_camids), g_feats, np.asarray(g_pids),
                                 np.asarray(g_camids), rerank_k, max_rank, rank, world)


def _evaluate_query_shard(q_feats, q_pids, q_camids, g_feats, g_pids, g_camids, rerank_k, max_rank: int,
                          rank: int, world: int) -> dict:
    """This rank's queries scored, summed over ranks (see `evaluate_features`). A failure on one
    rank is raised on every rank (instead of leaving the others waiting in the reduction)."""
    mine = np.arange(rank, len(q_pids), world)
    sums = torch.zeros(max_rank + 4, dtype=torch.float64)  # cmc sums, AP sum, INP sum, valid count, error flag
    error: Exception | None = None
    try:
        if rerank_k is not None:
            k1, k2, lam = rerank_k
            distmat = rerank(squared_euclidean(q_feats, g_feats), squared_euclidean(q_feats, q_feats),
                             squared_euclidean(g_feats, g_feats), k1=k1, k2=k2, lambda_value=lam)[mine]
        else:
            distmat = squared_euclidean(q_feats[torch.from_numpy(mine)], g_feats)
        qp, qc = q_pids[mine], q_camids[mine]
        valid = ((g_pids[None, :] == qp[:, None]) & (g_camids[None, :] != qc[:, None])).any(axis=1)
        if valid.any():
            r = evaluate(distmat[valid], qp[valid], g_pids, qc[valid], g_camids, max_rank=max_rank)
            n = r["num_valid"]
            sums[:max_rank] = torch.from_numpy(r["cmc"] * n)
            sums[max_rank:max_rank + 3] = torch.tensor([r["mAP"] * n, r["mINP"] * n, float(n)])
    except Exception as e:  # noqa: BLE001 -- re-raised below, after the other ranks know
        error = e
        sums[-1] = 1.0
    all_reduce_sum(sums)
    if error is not None:
        raise error
    if sums[-1] > 0:
        raise RuntimeError("sharded evaluation failed on another rank (its error is in that rank's log)")
    num_valid = int(round(float(sums[max_rank + 2])))
    if num_valid == 0:
        raise ValueError("no query has a gallery match from another camera; cannot evaluate")
    return {"cmc": (sums[:max_rank] / num_valid).numpy(), "mAP": float(sums[max_rank]) / num_valid,
            "mINP": float(sums[max_rank + 1]) / num_valid, "num_valid": num_valid}
