"""Throughput benchmark: images/s of the authors-style loader and ours, side by side (what
`benchmarks/throughput.py` runs).

    python benchmarks/throughput.py [--device cpu|gpu|auto] [--batch 256] [--size 256x128]
        [--workers N] [--quick] [--plan full|quick|short] [--windows N] [--rows 1,3,4,5,t]
        [--manifest CSV | --world DIR] [--out DIR]

One run measures, on the same cores and data (the synthetic world at the benchmark size,
made if missing, or any manifest's training split):
  (1) the authors-style per-sample PyTorch DataLoader, background swap at p=0.5, N workers;
  (2) the same DataLoader without the swap;
  (3) our DALI pipeline without augmentation (decode + resize + BoT augs), N threads;
  (4) the same with the attention augmentation at p=0.5 (plus variants: where it runs, where
      the masks come from, when the loader offers them);
  (5) `AttentionAugment` alone on prepared batches (numpy or cupy), next to the authors'
      per-sample core (dilate + Telea + paste) alone on the same arrays;
and on a GPU (t) the trainer's data-wait share for ResNet-50 + AMP. Each figure is the median
of several timed windows after a warm-up, with its spread. `--plan short` (about 1/8 of the
full timing) and `--rows` (a subset of the row ids) fit a short GPU lease. Writes
throughput.json, .md, .png and command.txt into OUT/<device>/ (default
./benchmarks/results/, relative to the working directory) and prints the ratios.
"""
from __future__ import annotations

import argparse
import functools
import gc
import os
import re
import shlex
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from attention_swap_reid.benchmarks import steps
from attention_swap_reid.benchmarks.report import write_report
from attention_swap_reid.benchmarks.timing import TimingPlan, measure
from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.dali_pipes.sizes import parse_size
from attention_swap_reid.kernels import AugmentConfig
from attention_swap_reid.trainer.provenance import file_sha256, git_commit, versions

RESULTS = Path("benchmarks") / "results"
PLANS = {"full": TimingPlan(warmup_s=3.0, windows=5, window_s=4.0, min_warmup_steps=2),
         "short": TimingPlan(warmup_s=1.0, windows=3, window_s=1.0, min_warmup_steps=2),
         "quick": TimingPlan(warmup_s=0.2, windows=2, window_s=0.3, min_warmup_steps=1)}
TRAINER_ROW = "t"
WORLDS = {"full": dict(train_ids=100, test_ids=4, images_per_id=16),   # 1,600 training images
          "quick": dict(train_ids=16, test_ids=4, images_per_id=8)}    # 128
P = 0.5


@dataclass(frozen=True)
class Row:
    """One measured path: `build()` returns its step; `group`: steps per burst (DataLoader workers)."""

    id: str
    key: str
    label: str
    group: str
    build: Callable[[], steps.Step]
    burst: int = 1
    note: str = ""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/throughput.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu", "auto"), default="auto")
    parser.add_argument("--batch", type=int, default=None, help="batch size, a multiple of 4 (default 256; 16 with --quick)")
    parser.add_argument("--size", default="256x128", help="training size HxW or [H, W] (default 256x128)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="DataLoader workers, and our pipeline's threads (default: the number of cores)")
    parser.add_argument("--quick", action="store_true", help="small world, short windows (< 1 min on CPU)")
    parser.add_argument("--plan", choices=tuple(PLANS), default=None,
                        help="timing plan: full (default), short (for a GPU lease), quick (default with --quick)")
    parser.add_argument("--rows", default=None,
                        help=f"comma-separated row ids to measure (e.g. 1,3,4,5,{TRAINER_ROW}); default all")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--manifest", help="benchmark on this manifest's training split")
    data.add_argument("--world", help="folder of the synthetic world (made if missing; default data/synth_bench[_quick])")
    parser.add_argument("--out", default=str(RESULTS), help=f"results folder; files go to OUT/<device>/ (default ./{RESULTS})")
    parser.add_argument("--windows", type=int, default=None, help="timed windows per row (default 5; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        args.size = parse_size(args.size, "--size")
    except ValueError as e:
        parser.error(str(e))
    if min(args.size) < 16:
        parser.error(f"--size {args.size[0]}x{args.size[1]}: expected H, W >= 16")
    args.batch = args.batch or (16 if args.quick else 256)
    if args.batch < 8 or args.batch % 4:
        parser.error(f"--batch {args.batch}: expected a multiple of 4 (PK batches, K = 4), >= 8")
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: expected >= 1")
    if args.windows is not None and args.windows < 1:
        parser.error(f"--windows {args.windows}: expected >= 1")
    args.plan = args.plan or ("quick" if args.quick else "full")
    if args.rows is not None:
        args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
        if not args.rows:
            parser.error("--rows: expected row ids, e.g. 3,4,5")
    return args


def device_kind(choice: str) -> str:
    """"cpu" or "gpu" for --device, by the loaders' rule ("auto": the GPU when torch sees one)."""
    from attention_swap_reid.dali_pipes.devices import resolve_device

    try:
        return "cpu" if resolve_device(choice) is None else "gpu"
    except RuntimeError:
        raise SystemExit(f"--device {choice}: no CUDA device visible to torch") from None


def device_info(device: str) -> dict:
    """Name and results-folder slug of the measured device."""
    if device == "gpu":
        import torch

        name = torch.cuda.get_device_name(0)
    else:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "unknown CPU")
        name = f"{model} ({len(os.sched_getaffinity(0))} cores)"
    slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(.*\)", "", name).lower()).strip("-")
    return {"kind": device, "name": name, "slug": f"{device}-{slug}"}


PLACEMENTS = {"pipeline": "in the DALI graph", "iterator": "after the iterator"}


def loader_variants(device: str) -> tuple:
    """Where the augmentation runs and where its masks come from: row (4) is the loader's
    default for `device` (CPU: in the DALI graph; GPU: fused kernels after the iterator; masks
    from the mask bank); these are the alternatives."""
    default = "pipeline" if device == "cpu" else "iterator"
    other = "iterator" if device == "cpu" else "pipeline"
    return (("b", f"augmentation {PLACEMENTS[other]}, mask bank", {"augment_in": other}),
            ("c", f"augmentation {PLACEMENTS[default]}, PNG masks decoded per batch", {"mask_source": "png"}),
            ("d", f"augmentation {PLACEMENTS[other]}, PNG masks", {"augment_in": other, "mask_source": "png"}))


def rows(args: argparse.Namespace, device: str, manifest: str, samples: list) -> list[Row]:
    """Everything one run measures, in table order."""
    size, batch, n = args.size, args.batch, args.workers
    aug = AugmentConfig(p=P, seed=args.seed)
    backend = "cupy" if device == "gpu" else "numpy"
    prepared = functools.cache(lambda: steps.prepare_batch(samples, size, batch, args.seed))  # rows 5 only
    telea_batch = min(batch, 64)  # Telea costs per image: a smaller batch keeps windows short
    out = [
        Row("1", "authors_aug", f"authors-style DataLoader, per-sample swap p={P}, {n} workers", "authors",
            lambda: steps.authors_step(samples, size, batch, n, P, args.seed), burst=n),
        Row("2", "authors_plain", f"authors-style DataLoader, no swap, {n} workers", "authors",
            lambda: steps.authors_step(samples, size, batch, n, 0.0, args.seed), burst=n),
        Row("3", "ours_plain", f"ours: DALI decode + resize + BoT augs, {n} threads", "ours",
            lambda: steps.loader_step(manifest, size, batch, device, n, None, args.seed)),
        Row("4", "ours_aug", f"ours: + attention augmentation p={P} "
            f"({PLACEMENTS['pipeline' if device == 'cpu' else 'iterator']}, mask bank)", "ours",
            lambda: steps.loader_step(manifest, size, batch, device, n, aug, args.seed)),
    ]
    for suffix, label, options in loader_variants(device):
        out.append(Row("4" + suffix, "ours_aug_" + "_".join(f"{k}_{v}" for k, v in options.items()),
                       f"ours: {label}", "ours",
                       lambda o=options: steps.loader_step(manifest, size, batch, device, n, aug, args.seed, **o)))
    out.append(Row("5", "kernel_ours", f"AttentionAugment alone ({backend}, pull-push)", "kernel",
                   lambda: steps.kernel_step(prepared(), aug, device)))
    if device == "cpu":
        telea = AugmentConfig(p=P, seed=args.seed, inpaint="telea")
        out.append(Row("5t", "kernel_ours_telea", "AttentionAugment alone (numpy, Telea)", "kernel",
                       lambda: steps.kernel_step(prepared().head(telea_batch), telea, device),
                       note=f"batch {telea_batch}"))
    out.append(Row("5r", "kernel_authors", "authors' per-sample core alone (dilate + Telea + paste)", "authors",
                   lambda: steps.authors_core_step(prepared(), P, args.seed), note="one sample at a time, in-process"))
    if args.rows is None:
        return out
    known = [r.id for r in out] + [TRAINER_ROW]
    unknown = [r for r in args.rows if r not in known]
    if unknown:
        raise SystemExit(f"--rows: unknown row id(s) {unknown}; this run has {known}")
    return [r for r in out if r.id in args.rows]


def not_measured(device: str) -> list[dict]:
    """What this run leaves out, and why."""
    out = []
    if device == "gpu":
        out.append({"key": "kernel_ours_telea", "reason": "Telea inpainting exists on the numpy backend only"})
    return out


def ratios(by_key: dict[str, float]) -> dict[str, dict]:
    """The headline ratios of the medians (only those whose rows were measured)."""
    wanted = {
        "ours_aug_over_ours_plain": ("ours_aug", "ours_plain", "(4)/(3): ours with augmentation / without"),
        "ours_aug_over_authors_aug": ("ours_aug", "authors_aug", "(4)/(1): ours with augmentation / authors-style"),
        "ours_plain_over_authors_plain": ("ours_plain", "authors_plain", "(3)/(2): ours / authors-style, no swap"),
        "kernel_over_authors_core": ("kernel_ours", "kernel_authors", "(5)/(5r): AttentionAugment / authors' core"),
    }
    out = {name: {"value": by_key[a] / by_key[b], "text": text}
           for name, (a, b, text) in wanted.items() if a in by_key and b in by_key}
    if "ours_aug" in by_key and "ours_plain" in by_key:
        out["aug_added_time"] = {"value": by_key["ours_plain"] / by_key["ours_aug"] - 1,
                                 "text": "time the augmentation adds to (3) per image, (3)/(4) - 1"}
    return out


def _shown(path: Path) -> str:
    """`path` relative to the working directory when inside it (committed results stay portable)."""
    return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    device = device_kind(args.device)
    info = device_info(device)
    if args.manifest:
        from attention_swap_reid.dali_pipes import ManifestError, check_manifest

        manifest = Path(args.manifest).absolute()
        problems = check_manifest(manifest, ["train"])
        if problems:
            raise ManifestError(problems)
    else:
        from attention_swap_reid.prepare.synthetic import WorldMismatch, ensure_world

        world = args.world or f"data/synth_bench{'_quick' if args.quick else ''}"
        try:
            manifest = ensure_world(world, progress=False, height=args.size[0], width=args.size[1], **WORLDS[mode])
        except WorldMismatch as e:  # e.g. another --size than the world was made for: never replaced
            print(f"error: {e}; give --world another folder (or remove this one)", file=sys.stderr)
            return 2
    samples = read_manifest(manifest, splits=("train",))
    command = shlex.join(["python", "benchmarks/throughput.py", *argv])
    print(f"{info['name']}: {len(samples)} training images of {manifest}", flush=True)

    load_before = os.getloadavg()[0]
    plan, results = PLANS[args.plan], []
    if args.windows:
        plan = replace(plan, windows=args.windows)
    for row in rows(args, device, str(manifest), samples):
        step = row.build()
        rate = measure(step, plan, group=row.burst)
        del step
        gc.collect()  # stops DataLoader workers / DALI threads before the next row
        results.append({"id": row.id, "key": row.key, "label": row.label, "group": row.group,
                        "note": row.note, "rate": rate.to_dict()})
        print(f"({row.id}) {row.label}: {rate.median:,.1f} images/s [{rate.min:,.1f}-{rate.max:,.1f}]", flush=True)

    if device == "gpu" and (args.rows is None or TRAINER_ROW in args.rows):
        from attention_swap_reid.benchmarks.trainer_wait import trainer_data_wait

        try:
            trainer = trainer_data_wait(str(manifest), args.size, AugmentConfig(p=P, seed=args.seed), args.workers,
                                        steps=40 if args.plan == "full" else 15,
                                        warmup_steps=10 if args.plan == "full" else 5)
        except ImportError as e:  # a bare GPU machine may lack the trainer's dependencies (tqdm)
            trainer = {"skipped": f"trainer not importable here: {e}"}
    elif device == "gpu":
        trainer = {"skipped": f"row {TRAINER_ROW} not asked for (--rows)"}
    else:
        trainer = {"skipped": "CPU run: the ResNet-50 + AMP data-wait share is measured on a GPU"}
    by_key = {r["key"]: r["rate"]["median"] for r in results}
    record = {
        "device": info, "versions": versions(), "git_commit": git_commit(Path(__file__).resolve().parent.parent),
        "command": command,
        "config": {"mode": mode, "plan": args.plan, "rows": args.rows, "batch": args.batch, "size": list(args.size),
                   "workers": args.workers,
                   "cpu_cores": len(os.sched_getaffinity(0)), "p": P, "seed": args.seed,
                   "manifest": _shown(manifest), "manifest_sha256": file_sha256(manifest),
                   "train_images": len(samples), "timing": asdict(plan),
                   "load_average": [load_before, os.getloadavg()[0]]},
        "rows": results, "ratios": ratios(by_key), "trainer": trainer, "skipped": not_measured(device),
    }
    folder = Path(args.out) / info["slug"]
    paths = write_report(record, folder)
    (folder / "command.txt").write_text(command + "\n")
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    for name in ("ours_aug_over_ours_plain", "ours_aug_over_authors_aug"):
        if name in record["ratios"]:
            print(f"{record['ratios'][name]['text']}: {record['ratios'][name]['value']:.3g}")
    return 0
