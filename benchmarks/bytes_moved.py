"""A bytes-moved model of the fused GPU path per batch, and the time it implies at 3.35 TB/s (the
memory bandwidth of an H100 SXM); no GPU needed.

    python benchmarks/bytes_moved.py [--batches 64 256] [--label NAME] [--out DIR]

One `AttentionAugment` call as the loader makes it (256 x 128 images, p = 0.5, pull-push, a
donor bank of 64 already full, the BoT tail) runs on a traced build of the CPU emulation of the
kernels (`kernels/testing/emulation_trace.h`): each kernel launch counts the distinct 32-byte
sectors of its arrays it reads and writes. The model: every such sector crosses DRAM once per launch
(nothing is assumed to stay in L2 between launches; within a launch a sector is read once), the
GEMMs move their operands and result once (NumPy stands in for cuBLAS), and a float16 output
costs a checkout whose tail writes float32 a cast after it (read 4 bytes, write 2, per value).
It is a floor for the DRAM traffic and the time, not a measurement of a GPU. Run with an older
checkout first on PYTHONPATH (and this checkout's kernels/testing/ copied into its kernels/) to
model that checkout.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

BANDWIDTH = 3.35e12  # bytes/s: H100 SXM (HBM3)
SIZE = (256, 128)


def _batch(cp, b: int, seed: int) -> tuple:
    """Device images (B, H, W, 3), box-shaped person masks of similar size (most pairs are
    compatible), pids (K = 4), viewpoints, positions."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    masks = np.zeros((b, h, w), np.uint8)
    for k in range(b):
        top, left = rng.integers(10, 30), rng.integers(20, 40)
        masks[k, top: top + 200 + rng.integers(0, 10), left: left + 55 + rng.integers(0, 6)] = 1
    return (cp.asarray(rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)), cp.asarray(masks),
            cp.asarray(np.arange(b) // 4), cp.asarray(np.zeros(b, np.int64)), cp.asarray(np.arange(b)))


def _tail(cp, b: int, dtype: str):
    """The BoT tail the loader asks for (None-fields drawn as `dali_pipes.draws` would), in
    `dtype` when this checkout's tail writes it (else float32, and `cast` is True)."""
    from attention_swap_reid.dali_pipes.draws import draw_bot_params
    from attention_swap_reid.kernels import Tail

    params = draw_bot_params(b, SIZE, flip=0.5, pad=10, erasing=0.5, seed=0, epoch=0, shard=0, step=0)
    arrays = {name: cp.asarray(getattr(params, name)) for name in ("flip", "crop_anchor", "erase_anchor",
                                                                    "erase_shape")}
    writes_dtype = "dtype" in {f.name for f in dataclasses.fields(Tail)}
    tail = Tail(**arrays, **({"dtype": dtype} if writes_dtype else {}))
    return tail, dtype != "float32" and not writes_dtype


def model(cp, b: int, dtype: str) -> dict:
    """Bytes per batch of `b` for an output of `dtype`: per kernel (read, written), the GEMMs,
    the cast, in all, and the time at `BANDWIDTH`."""
    from attention_swap_reid.kernels import AttentionAugment, AugmentConfig

    gemms = []
    matmul = cp.matmul

    def counted_matmul(a, b_, out=None, **kw):
        result = matmul(a, b_, out=out, **kw) if out is not None else matmul(a, b_, **kw)
        gemms.append(a.nbytes + b_.nbytes + result.nbytes)
        return result

    cp.matmul = counted_matmul
    try:
        aug = AttentionAugment(AugmentConfig(p=0.5, bank_size=64, seed=0, min_area_ratio=0.5, min_iou=0.3),
                               backend="cupy")
        images, masks, pids, views, index = _batch(cp, b, seed=b)
        tail, cast = _tail(cp, b, dtype)
        aug(images, masks, pids, views, epoch=0, index=index, tail=tail)  # fills the bank
        gemms.clear()
        with cp.counting() as recorder:
            out = aug(images, masks, pids, views, epoch=1, index=index, tail=tail)
    finally:
        cp.matmul = matmul
    kernels = defaultdict(lambda: [0, 0])
    for name, read, written in recorder.traffic:
        kernels[name][0] += read
        kernels[name][1] += written
    cast_bytes = out.images.size * (4 + 2) if cast else 0
    total = sum(r + w for r, w in kernels.values()) + sum(gemms) + cast_bytes
    return {"batch": b, "dtype": dtype, "kernels": {k: {"read": r, "written": w} for k, (r, w) in kernels.items()},
            "launches": len(recorder.traffic), "gemm_bytes": sum(gemms), "cast_bytes": cast_bytes,
            "total_bytes": total, "time_us": total / BANDWIDTH * 1e6, "swapped": int(out.stats["swapped"])}


def markdown(rows: list[dict], command: str) -> str:
    lines = [f"Made by `{command}`.", "",
             "| B | output | kernels (MB) | GEMMs (MB) | cast (MB) | total (MB) | at 3.35 TB/s (µs) |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        kernels = sum(k["read"] + k["written"] for k in r["kernels"].values())
        lines.append(f"| {r['batch']} | {r['dtype']} | {kernels / 1e6:.1f} | {r['gemm_bytes'] / 1e6:.2f} | "
                     f"{r['cast_bytes'] / 1e6:.1f} | {r['total_bytes'] / 1e6:.1f} | {r['time_us']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/bytes_moved.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--label", default="", help="a name for this checkout in the output (e.g. before, after)")
    parser.add_argument("--out", help="write bytes_moved[-LABEL].json and .md into this folder")
    args = parser.parse_args(argv)
    from attention_swap_reid.kernels.testing.emulation import installed, make_module

    rows = []
    with tempfile.TemporaryDirectory() as tmp, installed(make_module(Path(tmp), threads="serial",
                                                                     sanitizer="trace")) as cp:
        for batch in args.batches:
            for dtype in ("float32", "float16"):
                rows.append(model(cp, batch, dtype))
                r = rows[-1]
                print(f"B={batch} {dtype}: {r['total_bytes'] / 1e6:,.1f} MB, {r['time_us']:.1f} µs at 3.35 TB/s "
                      f"({r['launches']} launches, {r['swapped']} swapped)", flush=True)
    command = " ".join(["python", "benchmarks/bytes_moved.py", *(argv if argv is not None else sys.argv[1:])])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"bytes_moved{'-' + args.label if args.label else ''}"
        (out / f"{stem}.json").write_text(json.dumps({"label": args.label, "command": command, "rows": rows},
                                                     indent=1) + "\n")
        (out / f"{stem}.md").write_text(markdown(rows, command))
        print(f"wrote {out / stem}.json, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
