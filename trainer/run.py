"""Train and evaluate a BoT ReID model from a YAML config.

    python trainer/run.py CONFIG [--set key=value ...] [--resume DIR] [--eval-only CKPT]
    torchrun --nproc_per_node N trainer/run.py CONFIG        # DDP, loader sharded per rank

A run writes `<output.dir>/<name>-<timestamp>/`: `config.yaml` (resolved), `train.log`,
`final.json` (metrics + provenance) and one folder per variant (`attention`, and `baseline`
with `train.compare_baseline`) holding `metrics.csv`, `tensorboard/` and `checkpoints/`.
It ends with a table of rank-1/5/10, mAP, mINP and the robustness score (mAP on the
background-swapped test set, when there is one).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script: trainer/ is sys.path[0]; put the repository root there instead so that
    # trainer/*.py modules cannot shadow top-level names and `trainer.*` imports work.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402

from dali_pipes.manifest import ManifestError  # noqa: E402
from prepare.synthetic import ensure_world  # noqa: E402
from trainer import distributed  # noqa: E402
from trainer.checkpoint import load_checkpoint  # noqa: E402
from trainer.config import Config, ConfigError, dump_config, load_config, to_dict  # noqa: E402
from trainer.fit import evaluate_model, fit, make_eval_sets, make_model  # noqa: E402
from trainer.preflight import check_data, check_machine, resolve_devices, robustness_manifest  # noqa: E402
from trainer.provenance import provenance  # noqa: E402
from trainer.summary import format_table  # noqa: E402

log = logging.getLogger("trainer")
RESUMABLE_CHANGES = {"train.epochs", "train.eval_every", "output.dir"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trainer/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="YAML config, e.g. pipeline.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=3 (repeatable)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoints")
    group.add_argument("--eval-only", metavar="CKPT", help="only evaluate the model in checkpoint CKPT")
    return parser.parse_args(argv)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out |= _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v}
    return out


def _resume_problems(cfg: Config, run_dir: Path) -> list[str]:
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return [f"--resume: {run_dir} is not a run folder (no config.yaml)"]
    saved = _flatten(yaml.safe_load(saved_path.read_text()))
    now = _flatten(to_dict(cfg))
    return [f"{k}: differs from the resumed run ({saved.get(k)!r} there, {now.get(k)!r} now); "
            f"only {', '.join(sorted(RESUMABLE_CHANGES))} may change on --resume"
            for k in sorted(set(saved) | set(now)) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k)]


def _new_run_dir(cfg: Config) -> Path:
    base = Path(cfg.output.dir) / f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = base, 0
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def _setup_logging(run_dir: Path, is_main: bool) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    if is_main:
        fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
        for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(run_dir / "train.log")):
            handler.setFormatter(fmt)
            log.addHandler(handler)


def _prepare_data(cfg: Config, info: distributed.DistInfo) -> None:
    """With `data.synthetic`, rank 0 makes sure the world exists with these parameters."""
    if info.is_main and cfg.data.synthetic is not None:
        ensure_world(os.path.dirname(cfg.data.manifest) or ".", **to_dict(cfg)["data"]["synthetic"])
    distributed.barrier()


def run(args: argparse.Namespace) -> dict:
    """Validate, prepare, train/evaluate; returns the final record (rank 0; {} elsewhere)."""
    cfg = load_config(args.config, args.set)
    problems = check_machine(cfg)
    if args.resume:
        problems += _resume_problems(cfg, Path(args.resume))
    if args.eval_only and not os.path.isfile(args.eval_only):
        problems.append(f"--eval-only: checkpoint {args.eval_only!r} not found")
    if problems:
        raise ConfigError(problems, args.config)
    device, loader_device = resolve_devices(cfg)
    info = distributed.init_distributed(device.type)
    try:
        _prepare_data(cfg, info)
        problems = check_data(cfg, info.world_size)
        if problems:
            raise ConfigError(problems, args.config)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        else:
            torch.backends.cudnn.benchmark = True
        return _run(cfg, args, info, device, loader_device)
    finally:
        distributed.shutdown()


def _run(cfg: Config, args: argparse.Namespace, info: distributed.DistInfo, device: torch.device,
         loader_device: str) -> dict:
    run_dir = Path(args.resume) if args.resume else (_new_run_dir(cfg) if info.is_main else None)
    run_dir = Path(distributed.broadcast_object(str(run_dir) if run_dir else None))
    _setup_logging(run_dir, info.is_main)
    if info.is_main:
        (run_dir / "config.yaml").write_text(dump_config(cfg))
        log.info("run folder %s (%s, %d process(es), loader on %s)", run_dir, device, info.world_size, loader_device)
    robust = robustness_manifest(cfg)
    eval_sets = make_eval_sets(cfg, loader_device, robust) if info.is_main else None
    results, started = {}, time.perf_counter()
    if args.eval_only:
        state = load_checkpoint(args.eval_only, map_location="cpu")
        weights = state.get("model", state)
        model = make_model(cfg, weights["classifier.weight"].shape[0])
        model.load_state_dict(weights)
        if info.is_main:
            results["eval"] = {"augment_p": None, "minutes": 0.0,
                               **evaluate_model(model.to(device), eval_sets, device, cfg)}
    else:
        variants = {"attention": cfg.augment.p} if cfg.augment.p > 0 else {"baseline": 0.0}
        if cfg.train.compare_baseline:
            variants["baseline"] = 0.0
        for name, p in variants.items():
            t0 = time.perf_counter()
            metrics = fit(cfg, run_dir / name, p, info, device, loader_device, eval_sets, resume=bool(args.resume))
            results[name] = {"augment_p": p, "minutes": (time.perf_counter() - t0) / 60, **metrics}
    if not info.is_main:
        return {}
    record = {"name": cfg.name, "run_dir": str(run_dir), "minutes": (time.perf_counter() - started) / 60,
              "results": results,
              "provenance": provenance(seed=cfg.train.seed, manifest=cfg.data.manifest, device=device,
                                       world_size=info.world_size, robustness_manifest=robust),
              "config": to_dict(cfg)}
    tmp = run_dir / "final.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, run_dir / "final.json")
    log.info("results (%s, %.1f min):\n%s", run_dir, record["minutes"], format_table(results))
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (ConfigError, ManifestError) as e:  # bad config or data: one clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
