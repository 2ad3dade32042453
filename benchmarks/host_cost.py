"""Host cost of the GPU path per batch, measured on the CPU with the GPU work stubbed out.

    python benchmarks/host_cost.py [--batches 64 256] [--repeats 200] [--out DIR]

On a GPU the augmentation is nearly free only if the Python around it is: every microsecond
the host spends per batch is a microsecond the GPU may wait. This measures that host work
without a GPU, per batch of B samples, for the pieces of the GPU path that run Python:

  source    `TrainSource.__next__`: the per-batch inputs handed to DALI (file bytes, labels,
            the drawn BoT parameters); reading the encoded files stays per sample.
  marshal   the in-graph placement's `AugmentOp`: stacking DALI's per-sample inputs and
            splitting the outputs back into per-sample arrays (the augmentation itself stubbed).
  augment   `AttentionAugment` on device arrays with every CUDA kernel launch a no-op, the
            GEMM an allocation, and the arrays tiny (16x8 images), so what is left is the
            Python and array-library bookkeeping a real GPU run also pays on the host.

The device stand-in is the CPU emulation of CuPy used by the tests (NumPy arrays posing as
CuPy's); a real CuPy call costs a few µs more on the host than a NumPy call, so the figure is a
lower bound for the array operations and exact for the Python around them. The same script
measures an older checkout when run with that checkout first on PYTHONPATH.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

SIZE = (16, 8)


def _fake_cupy(build_dir: Path):
    """The emulator's `cupy`, with kernel launches that do nothing and an allocating matmul."""
    from attention_swap_reid.kernels import emulation

    module = emulation.make_module(build_dir)

    class NoKernels:
        def __init__(self, code: str, options=()):
            pass

        def get_function(self, name: str):
            return lambda grid, block, args: None

    module.RawModule = NoKernels
    module.empty, module.empty_like = module.zeros, module.zeros_like  # kernels write nothing: keep indices valid
    module.matmul = lambda a, b, **_: np.empty((a.shape[0], b.shape[-1]), np.float32).view(module.ndarray)
    return module


def _world(folder: Path, ids: int, per_id: int) -> list:
    """`ids * per_id` training samples pointing at one small JPEG and its PNG mask."""
    from attention_swap_reid.dali_pipes.manifest import Sample

    image, mask = folder / "image.jpg", folder / "mask.png"
    cv2.imwrite(str(image), np.full((256, 128, 3), 128, np.uint8))
    person = np.zeros((256, 128), np.uint8)
    person[40:220, 40:90] = 255
    cv2.imwrite(str(mask), person)
    return [Sample(str(image), str(mask), pid, pid % 6, pid % 3, "train", row=pid * per_id + k)
            for pid in range(ids) for k in range(per_id)]


def _median_us(step, repeats: int) -> float:
    for _ in range(5):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure_source(samples: list, batch: int, repeats: int, read_files: bool = True) -> float:
    """µs per `TrainSource.__next__` at batch size `batch` (PK with K = 4, masks from the mask
    bank); `read_files=False` serves the file bytes from memory, leaving the rest of the work."""
    from unittest import mock

    from attention_swap_reid.dali_pipes import sources
    from attention_swap_reid.dali_pipes.sampler import PKSampler

    pids = np.array([s.pid for s in samples])
    sampler = PKSampler(pids, batch // 4, 4, seed=0)
    source = sources.TrainSource(samples, np.searchsorted(np.unique(pids), pids), sampler, (256, 128),
                                 sources.BotOptions(), with_masks=False)
    if not read_files:
        cached = sources.read_bytes(samples[0].image)
        with mock.patch.object(sources, "read_bytes", lambda path: cached):
            return _time_source(source, repeats)
    return _time_source(source, repeats)


def _time_source(source, repeats: int) -> float:
    """µs per batch of `source`, starting a new epoch whenever one ends."""

    def step():
        try:
            next(source)
        except StopIteration:
            iter(source)
            next(source)

    iter(source)
    return _median_us(step, repeats)


def measure_marshal(cp, batch: int, repeats: int) -> float:
    """µs per call of the in-graph operator's Python around a stubbed augmentation."""
    from collections import deque
    from types import SimpleNamespace

    from attention_swap_reid.dali_pipes.augment_op import AugmentOp

    h, w = SIZE
    images = [cp.zeros((h, w, 3), np.uint8) for _ in range(batch)]
    masks = [cp.zeros((h, w, 1), np.uint8) for _ in range(batch)]
    scalars = [cp.zeros((), np.int64) for _ in range(batch)]
    result = SimpleNamespace(images=cp.zeros((batch, h, w, 3), np.uint8), swapped=cp.zeros(batch, bool),
                             donor_pids=cp.zeros(batch, np.int64))
    keys = deque()
    op = AugmentOp(lambda *a, **k: result, keys, None)

    def step():
        keys.append((0, np.arange(batch)))
        op(images, masks, scalars, scalars)

    return _median_us(step, repeats)


def measure_augment(cp, batch: int, repeats: int, bank_size: int) -> float:
    """µs per `AttentionAugment` call on stubbed device arrays (p = 0.5, pull-push)."""
    import inspect

    from attention_swap_reid.kernels import AttentionAugment, AugmentConfig

    rng = np.random.default_rng(0)
    h, w = SIZE
    images = cp.asarray(rng.integers(0, 256, (batch, h, w, 3), dtype=np.uint8))
    masks = cp.asarray(np.ones((batch, h, w), np.uint8))
    pids, views = cp.asarray(np.arange(batch) // 4), cp.asarray(np.zeros(batch, np.int64))
    index = cp.asarray(np.arange(batch, dtype=np.int64))
    aug = AttentionAugment(AugmentConfig(p=0.5, seed=0, bank_size=bank_size), backend="cupy")
    extra = {}
    if "tail" in inspect.signature(aug.__call__).parameters:  # the fused path applies the BoT tail too
        from attention_swap_reid.kernels import Tail

        zeros = cp.asarray(np.zeros((batch, 2), np.float32))
        extra["tail"] = Tail(flip=cp.asarray(np.zeros(batch, np.int32)), crop_anchor=zeros,
                             erase_anchor=zeros, erase_shape=zeros)
    return _median_us(lambda: aug(images, masks, pids, views, epoch=0, index=index, **extra), repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/host_cost.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--label", default="", help="a name for this checkout in the output (e.g. before, after)")
    parser.add_argument("--out", help="write host_cost[-LABEL].json into this folder")
    args = parser.parse_args(argv)

    from attention_swap_reid.kernels.emulation import installed

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        samples = _world(Path(tmp), ids=4 * max(args.batches), per_id=4)  # 16 batches an epoch at the largest B
        with installed(_fake_cupy(Path(tmp))) as cp:
            for batch in args.batches:
                row = {"batch": batch,
                       "source_us": measure_source(samples, batch, args.repeats),
                       "source_no_io_us": measure_source(samples, batch, args.repeats, read_files=False),
                       "marshal_us": measure_marshal(cp, batch, args.repeats),
                       "augment_us": measure_augment(cp, batch, args.repeats, bank_size=0),
                       "augment_bank_us": measure_augment(cp, batch, args.repeats, bank_size=64)}
                rows.append(row)
                print(f"B={batch}: " + ", ".join(f"{k[:-3]} {v:,.0f} µs" for k, v in row.items() if k != "batch"),
                      flush=True)
    record = {"label": args.label, "command": " ".join(["python", "benchmarks/host_cost.py", *(argv or sys.argv[1:])]),
              "cpu": os.uname().machine, "cores": len(os.sched_getaffinity(0)), "rows": rows}
    if args.out:
        path = Path(args.out) / f"host_cost{'-' + args.label if args.label else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
