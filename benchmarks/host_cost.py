"""Host cost of the GPU path per batch on the training process's main thread, measured on the CPU
with the GPU work stubbed out.

    python benchmarks/host_cost.py [--batches 64 256] [--repeats 200] [--label NAME] [--out DIR]

On a GPU the augmentation is nearly free only if the Python around it is: every microsecond
the main thread spends per batch is a microsecond the GPU may wait. Per batch of B samples,
CPU time of the main thread (`time.thread_time`, so waiting does not count), median of
`--repeats` batches:

  source          the training source's call on the main thread, as the loader runs it by
                  default: its worker process (`source_workers=1`) reads the files and draws
                  the batch; the call hands DALI the batch that is ready.
  source_fed      all DALI does on the main thread to take that batch (`Pipeline.
                  _run_input_callbacks` of DALI 2.4: the call, then feeding the batch in).
  source_main, source_main_fed    the same with the source on the main thread
                  (`source_workers=0`: reading the files there, as the loader did before it had
                  workers).
  source_dali_fed  the same source run by DALI's own parallel external source instead
                  (`parallel=True`, one worker process, fork): all DALI does on the main thread
                  per batch (scheduling the batch, receiving it from the worker, feeding it in);
                  the design the loader did not take.
  augment         an `AttentionAugment` call with the BoT tail (p = 0.5, pull-push) on device
                  arrays, every kernel launch a no-op, the GEMM an allocation, the images tiny
                  (16x8), so what is left is the Python and array bookkeeping a GPU run pays on
                  the host.
  augment_bank    the same with a donor bank of 64.
  gpu_path        source + augment (what the GPU path's own code costs the main thread).
  gpu_path_fed    source_fed + augment (with DALI's feeding of the source's batch).
  loader_augment  the loader's whole augmentation step on the GPU path
                  (`ReIDLoader._augment_and_finish`: the mask bank's gather, `AttentionAugment`
                  with the tail, the output dtype) on torch tensors posing as CUDA tensors: the
                  emulation takes their memory through DLPack and allocates through torch's
                  allocator, as on a GPU (about ten DLPack conversions a batch on top of augment).

The stand-ins are NumPy calls posing as CuPy's and torch's CPU allocator posing as its CUDA
one; a real CuPy call costs a few µs more on the host than a NumPy call, so the array
operations are a lower bound and the Python around them exact. Run with an older checkout
first on PYTHONPATH (and this checkout's kernels/testing/ copied into its kernels/) to measure
that checkout: its training source then runs as it did, on the main thread, in both columns.
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
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np

SIZE = (16, 8)


def _fake_cupy(build_dir: Path):
    """The emulator's `cupy`, with kernel launches that do nothing and an allocating matmul."""
    from attention_swap_reid.kernels.testing import emulation

    module = emulation.make_module(build_dir)

    class NoKernels:
        def __init__(self, code: str, options=()):
            pass

        def get_function(self, name: str):
            return lambda grid, block, args: None

    module.RawModule = NoKernels
    module.matmul = lambda a, b, out=None, **_: (out if out is not None else
                                                 np.empty((a.shape[0], b.shape[-1]), np.float32).view(module.ndarray))
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


def _source_pipeline(samples: list, batch: int, workers: int):
    """A DALI pipeline that only takes the loader's training source's batches (the source as the
    loader builds it, without masks: they come from the mask bank)."""
    from nvidia.dali.pipeline import Pipeline

    from attention_swap_reid.dali_pipes import pipeline, sources
    from attention_swap_reid.dali_pipes.sampler import PKSampler

    pids = np.array([s.pid for s in samples])
    sampler = PKSampler(pids, batch // 4, 4, seed=0)
    source = sources.TrainSource(samples, np.searchsorted(np.unique(pids), pids), sampler, (256, 128),
                                 sources.BotOptions(), with_masks=False)
    if workers == "dali":  # DALI's own parallel external source, one worker process, the same source
        from nvidia.dali import fn

        pipe = Pipeline(batch_size=batch, num_threads=2, device_id=None, prefetch_queue_depth=2, py_num_workers=1,
                        py_start_method="fork")
        with pipe:
            pipe.set_outputs(fn.external_source(source=_Samples(source), batch=True, batch_info=True, parallel=True))
        return pipe  # (the graph's cutting of the rows runs on DALI's threads, not timed here either)
    pipe = Pipeline(batch_size=batch, num_threads=2, device_id=None, prefetch_queue_depth=2)
    with pipe:
        if hasattr(pipeline, "source_inputs"):
            from attention_swap_reid.dali_pipes.source_workers import SourceWorkers

            reader = SourceWorkers(source, workers) if workers else source
            outputs = pipeline.source_inputs(reader, source.layout, with_masks=False).values()
        else:  # a checkout from before the source workers: its iterator, on the main thread
            from nvidia.dali import fn

            outputs = fn.external_source(source=source, num_outputs=len(source.outputs), cycle="raise", batch=True)
        pipe.set_outputs(*outputs)
    return pipe


class _Samples:
    """A batch source as DALI's parallel external source takes it: a list of samples."""

    def __init__(self, source):
        self.source = source

    def __call__(self, info):
        return list(self.source(info))


def _timed(owner, name: str, times: list):
    """Patch `owner.name` (a method or function) to append its main-thread CPU seconds to `times`."""
    function = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            times.append(time.thread_time() - start)

    return mock.patch.object(owner, name, timed)


def measure_source(samples: list, batch: int, repeats: int, workers: int | str) -> tuple[float | None, float]:
    """µs of main-thread CPU per batch in the source's own call (None where it is not called on
    the main thread), and in all DALI does on the main thread to take the batch from it (the
    call, then feeding the batch into the pipeline). `workers`: 0, 1 (`SourceWorkers`), or
    "dali" (DALI's parallel external source)."""
    pipe = _source_pipeline(samples, batch, workers)
    pipe.build()
    from attention_swap_reid.dali_pipes import sources

    if hasattr(sources, "RowLayout"):
        from attention_swap_reid.dali_pipes.source_workers import SourceWorkers

        source_class, method = (SourceWorkers if workers == 1 else sources.TrainSource), "__call__"
    else:  # a checkout from before the source workers: its iterator
        source_class, method = sources.TrainSource, "__next__"
    calls, taken = [], []
    with _timed(source_class, method, calls), _timed(pipe, "_run_input_callbacks", taken):
        while len(taken) < repeats + 5:
            try:
                pipe.run()
            except StopIteration:
                pipe.reset()
    return (statistics.median(calls[5:]) * 1e6 if calls else None), statistics.median(taken[5:]) * 1e6


def _median_cpu_us(step, repeats: int) -> float:
    """Median main-thread CPU µs of `step()` over `repeats` calls, after 5 unmeasured ones."""
    times = []
    for _ in range(repeats + 5):
        start = time.thread_time()
        step()
        times.append(time.thread_time() - start)
    return statistics.median(times[5:]) * 1e6


def measure_augment(cp, batch: int, repeats: int, bank_size: int) -> float:
    """µs of main-thread CPU per `AttentionAugment` call (p = 0.5, pull-push, the BoT tail) on
    device arrays."""
    from attention_swap_reid.kernels import AttentionAugment, AugmentConfig, Tail

    rng = np.random.default_rng(0)
    h, w = SIZE
    images = cp.asarray(rng.integers(0, 256, (batch, h, w, 3), dtype=np.uint8))
    masks = cp.asarray(np.ones((batch, h, w), np.uint8))
    pids, views = cp.asarray(np.arange(batch) // 4), cp.asarray(np.zeros(batch, np.int64))
    index = cp.asarray(np.arange(batch, dtype=np.int64))
    aug = AttentionAugment(AugmentConfig(p=0.5, seed=0, bank_size=bank_size), backend="cupy")
    zeros = cp.asarray(np.zeros((batch, 2), np.float32))
    tail = Tail(flip=cp.asarray(np.zeros(batch, np.int32)), crop_anchor=zeros, erase_anchor=zeros, erase_shape=zeros)
    return _median_cpu_us(lambda: aug(images, masks, pids, views, epoch=0, index=index, tail=tail), repeats)


def measure_loader_augment(cp, batch: int, repeats: int, bank_size: int) -> float:
    """µs of main-thread CPU per call of the loader's GPU-path augmentation (p = 0.5, pull-push,
    the BoT tail) on torch tensors posing as CUDA tensors."""
    import torch

    from attention_swap_reid.dali_pipes import loader
    from attention_swap_reid.dali_pipes.mask_bank import MaskBank
    from attention_swap_reid.dali_pipes.output_format import OutputFormat
    from attention_swap_reid.kernels import AttentionAugment, AugmentConfig, arrays, augment

    h, w = SIZE
    rng = np.random.default_rng(0)
    bank = MaskBank(np.zeros((4 * batch, -(-h * w // 8)), np.uint8), SIZE)
    this = SimpleNamespace(output=OutputFormat(), _bank=bank, _return_masks=False, size=SIZE,
                           _augment=AttentionAugment(AugmentConfig(p=0.5, seed=0, bank_size=bank_size), backend="cupy"))
    fields = dict(images=torch.from_numpy(rng.integers(0, 256, (batch, h, w, 3), dtype=np.uint8)),
                  pids=torch.arange(batch) // 4, camids=torch.zeros(batch, dtype=torch.int64),
                  viewpoints=torch.zeros(batch, dtype=torch.int64), indices=torch.arange(batch),
                  positions=torch.arange(batch), labels=torch.zeros(batch, dtype=torch.int64),
                  flip=torch.zeros(batch, dtype=torch.int32), crop_anchor=torch.zeros(batch, 2),
                  erase_anchor=torch.zeros(batch, 2), erase_shape=torch.zeros(batch, 2))
    stream = SimpleNamespace(cuda_stream=1)
    with mock.patch.object(arrays, "torch_on_gpu", lambda t: True), \
            mock.patch.object(augment, "torch_on_gpu", lambda t: True), \
            mock.patch.object(torch.cuda, "current_stream", lambda device=None: stream):
        return _median_cpu_us(lambda: loader.ReIDLoader._augment_and_finish(this, dict(fields), 0), repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/host_cost.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--label", default="", help="a name for this checkout in the output (e.g. before, after)")
    parser.add_argument("--out", help="write host_cost[-LABEL].json into this folder")
    args = parser.parse_args(argv)

    from attention_swap_reid.dali_pipes import sources
    from attention_swap_reid.kernels.testing.emulation import installed

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        samples = _world(Path(tmp), ids=4 * max(args.batches), per_id=4)  # 16 batches an epoch at the largest B
        with installed(_fake_cupy(Path(tmp))) as cp:
            for batch in args.batches:
                source, source_fed = measure_source(samples, batch, args.repeats, workers=1)
                source_main, source_main_fed = measure_source(samples, batch, args.repeats, workers=0)
                row = {"batch": batch, "source_us": source, "source_fed_us": source_fed, "source_main_us": source_main,
                       "source_main_fed_us": source_main_fed}
                if hasattr(sources, "RowLayout"):  # a source DALI's parallel external source can run
                    row["source_dali_fed_us"] = measure_source(samples, batch, args.repeats, workers="dali")[1]
                row |= {"augment_us": measure_augment(cp, batch, args.repeats, bank_size=0),
                        "augment_bank_us": measure_augment(cp, batch, args.repeats, bank_size=64),
                        "loader_augment_us": measure_loader_augment(cp, batch, args.repeats, bank_size=0)}
                row["gpu_path_us"] = row["source_us"] + row["augment_us"]
                row["gpu_path_fed_us"] = row["source_fed_us"] + row["augment_us"]
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
