"""Train and evaluate a BoT ReID model from a YAML config (the command behind `trainer/run.py`).

    python trainer/run.py CONFIG [--set key=value ...]
    python trainer/run.py --resume RUN [CONFIG] [--set key=value ...]   # continue RUN
    python trainer/run.py --eval-only CKPT [CONFIG] [--out DIR]         # evaluate a checkpoint
    torchrun --nproc_per_node N trainer/run.py CONFIG        # DDP, loader sharded per rank

A run writes `<output.dir>/<name>-<timestamp>/`: `config.yaml` (resolved), `train.log`,
`final.json` (metrics + provenance) and one folder per variant (`attention`, and `baseline`
with `train.compare_baseline`) holding `metrics.csv`, `tensorboard/` and `checkpoints/`.
It ends with a table of rank-1/5/10, mAP, mINP and the robustness score (mAP on the
background-swapped test set, when there is one). `--resume RUN` continues with the run's own
`config.yaml` (a CONFIG or `--set` given as well may change only the resumable keys).
`--eval-only RUN/<variant>/checkpoints/latest.pt` evaluates with the run's config and writes
`RUN/eval-<variant>-latest.json` (or into `--out DIR`); it makes no run folder.

Faults of the input (config, data, checkpoints, run folder) stop the run with one line
naming the file, row or key, exit code 2, and nothing left behind: the run folder is made
after the checks, and removed again when the run fails before writing a checkpoint; later
errors also go into its train.log. So does a write the disk refuses (a full disk: the line
names the file; the files written before stay whole). A training whose loss or weights stop
being finite stops with exit code 3, naming the step, the epoch and the last good checkpoint
(never replaced by a diverged model). Ctrl-C exits with 130, SIGTERM with 143 and SIGHUP with
129, each with the command that resumes (also in train.log).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from importlib import resources
from pathlib import Path

import torch

from attention_swap_reid.dali_pipes.manifest import ManifestError
from attention_swap_reid.prepare.synthetic import WorldMismatch, ensure_world, is_world
from attention_swap_reid.trainer import distributed
from attention_swap_reid.trainer.config import (Config, ConfigError, default_value, dump_config, load_config,
                                                parse_overrides, read_yaml, to_dict)
from attention_swap_reid.trainer.disk import atomic_write_text, disk_error
from attention_swap_reid.trainer.errors import TrainerError
from attention_swap_reid.trainer.extract import model_from_checkpoint
from attention_swap_reid.trainer.fit import check_manifests, evaluate_model, fit, make_eval_sets, manifest_notes
from attention_swap_reid.trainer.metrics_log import column_values
from attention_swap_reid.trainer.preflight import (check_data, check_machine, probe_manifests, resolve_devices,
                                                   robustness_manifest)
from attention_swap_reid.trainer.provenance import provenance
from attention_swap_reid.trainer.run_folder import (Interrupted, RunFolder, create_run_folder, stop_on_signals,
                                                    stopping)
from attention_swap_reid.trainer.summary import format_table

DEFAULT_CONFIG = "pipeline.yaml"  # trainer/pipeline.yaml; ./pipeline.yaml in the repository links to it

log = logging.getLogger("trainer")
RESUMABLE_CHANGES = {"train.epochs", "train.eval_every", "output.dir"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trainer/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", help="YAML config, e.g. pipeline.yaml (with --resume: "
                        "by default the run's own config.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=3 (repeatable)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its last checkpoints")
    group.add_argument("--eval-only", metavar="CKPT", help="only evaluate the model in checkpoint CKPT "
                       "(CONFIG defaults to the config.yaml of its run)")
    parser.add_argument("--out", metavar="DIR", help="--eval-only: write eval-*.json here instead of beside "
                        "the checkpoint's run")
    parser.add_argument("--config-example", action="store_true",
                        help="print the default config (the synthetic-world demo, every key commented) and exit")
    args = parser.parse_args(argv)
    if args.config_example:
        return args
    if args.config is None and not (args.resume or args.eval_only):
        parser.error("a CONFIG is needed (or --resume RUN to continue a run with its own config)")
    if args.out and not args.eval_only:
        parser.error("--out goes with --eval-only")
    return args


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out |= _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v}
    return out


def _resume_problems(cfg: Config, run_dir: Path) -> tuple[list[str], list[str]]:
    """(problems, notes) of resuming `run_dir` with `cfg`: keys that differ from the run's
    config.yaml are problems (but `RESUMABLE_CHANGES`); a key the run's config lacks (made
    before the key existed) is read as its default, which the note says."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return [f"--resume: {run_dir} is not a run folder (no config.yaml)"], []
    saved = _flatten(read_yaml(saved_path) or {})
    now = _flatten(to_dict(cfg))
    added = {k: default_value(k) for k in now if k not in saved and not any(k.startswith(f"{s}.") for s in saved)}
    notes = [f"{k}: not in {saved_path} (the run was made before the key existed); resuming with its default "
             f"{value!r}" for k, value in added.items() if now[k] == value]
    saved |= added
    problems = [f"{k}: differs from the resumed run ({saved.get(k)!r} there, {now.get(k)!r} now); "
                f"only {', '.join(sorted(RESUMABLE_CHANGES))} may change on --resume"
                for k in sorted(set(saved) | set(now)) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k)]
    return problems, notes


def _checkpoint_run(ckpt: Path) -> Path | None:
    """The run folder a checkpoint `RUN/<variant>/checkpoints/<file>.pt` belongs to, if it does."""
    run_dir = ckpt.parent.parent.parent
    return run_dir if ckpt.parent.name == "checkpoints" and (run_dir / "config.yaml").is_file() else None


def _check_eval_checkpoint(ckpt: Path) -> None:
    """A one-line `TrainerError` when the --eval-only argument is no checkpoint file: missing,
    or a folder (a run folder: its checkpoints are named)."""
    if ckpt.is_file():
        return
    if not ckpt.is_dir():
        raise TrainerError(f"--eval-only: checkpoint not found: {ckpt}")
    found = sorted(str(p) for p in ckpt.glob("*/checkpoints/latest.pt"))
    hint = f"e.g. {' or '.join(found)}" if found else "this folder holds no <variant>/checkpoints/latest.pt"
    raise TrainerError(f"--eval-only: {ckpt} is a folder; give a checkpoint file ({hint})")


def _config_path(args: argparse.Namespace) -> str:
    """The config to use: CONFIG, or else the run's own config.yaml (--resume RUN, or the run
    of the --eval-only checkpoint)."""
    if args.eval_only:
        _check_eval_checkpoint(Path(args.eval_only))
    if args.config is not None:
        return args.config
    run_dir = Path(args.resume) if args.resume else _checkpoint_run(Path(args.eval_only))
    if run_dir is None:
        raise ConfigError([f"--eval-only: {args.eval_only} is not in a run folder "
                           f"(RUN/<variant>/checkpoints/); give the CONFIG it was trained with"], "--eval-only")
    return str(run_dir / "config.yaml")


def _eval_output(args: argparse.Namespace) -> Path:
    """Where --eval-only writes its record: in --out, else beside the checkpoint's run (or the
    checkpoint itself), as eval-[<variant>-]<checkpoint name>.json."""
    ckpt = Path(args.eval_only)
    run_dir = _checkpoint_run(ckpt)
    folder = Path(args.out) if args.out else (run_dir or ckpt.parent)
    name = f"eval-{ckpt.parent.parent.name}-{ckpt.stem}.json" if run_dir else f"eval-{ckpt.stem}.json"
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise TrainerError(f"--out: cannot write into {existing}")
    return folder / name


def _resume_command(run_dir: Path) -> str:
    return f"python trainer/run.py --resume {shlex.quote(str(run_dir))}"


class _RunLog(logging.FileHandler):
    """The run's train.log. A write the disk refuses is said once, in one line on stderr, and
    the log goes on on the terminal only (instead of logging's traceback at every line)."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not self.failed and isinstance(error, OSError):
            print(f"warning: {disk_error(self.baseFilename, error)}; the log goes on on the terminal only",
                  file=sys.stderr)
            self.failed = True
        elif not self.failed:
            super().handleError(record)


def _setup_logging(run_dir: Path | None, is_main: bool) -> None:
    """Rank 0 logs to stdout and, given a run folder, to its train.log."""
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    if is_main:
        fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
        handlers = [logging.StreamHandler(sys.stdout)]
        if run_dir is not None:
            handlers.append(_RunLog(run_dir / "train.log"))
        for handler in handlers:
            handler.setFormatter(fmt)
            log.addHandler(handler)


def _own_manifest(config_path: str, items: list[str]) -> tuple[list[str], list[str]]:
    """The `--set` items, and notes for the log. A `--set data.manifest` that names an existing
    manifest outside any synthetic world (no world.json beside it: the user's own dataset), with
    a config whose `data.synthetic` describes a world and no `--set data.synthetic...`, trains on
    that manifest as it is: `data.synthetic=null` is added (the world is neither made nor
    looked for), and a note says so."""
    given = dict(parse_overrides(items))
    manifest = given.get("data.manifest")
    if (not isinstance(manifest, str) or "data" in given or any(k.startswith("data.synthetic") for k in given)
            or not os.path.isfile(manifest) or is_world(os.path.dirname(manifest) or ".")
            or _section(_section(read_yaml(config_path), "data"), "synthetic") is None):
        return list(items), []
    return [*items, "data.synthetic=null"], [
        f"data.manifest: {manifest} is not in a synthetic world (no world.json beside it): trained on as it is, "
        f"without {config_path}'s data.synthetic"]


def _section(raw, key: str):
    """raw[key] of a YAML mapping, None when either is missing or not a mapping (load_config
    reports those)."""
    return raw.get(key) if isinstance(raw, dict) else None


def _prepare_data(cfg: Config, info: distributed.DistInfo, owned: bool) -> None:
    """With `data.synthetic`, rank 0 makes sure the world exists with these parameters: made
    when missing only where the config file itself puts it (`owned`: data.manifest not changed by
    --set), never regenerated over a world made with other parameters (refused, naming them)."""
    if info.is_main and cfg.data.synthetic is not None:
        try:
            ensure_world(os.path.dirname(cfg.data.manifest) or ".", create=owned, **to_dict(cfg)["data"]["synthetic"])
        except WorldMismatch as e:
            as_it_is = "; to train on the world there as it is: --set data.synthetic=null" if e.differing else ""
            raise TrainerError(f"data.manifest: {e}{as_it_is}") from None
    distributed.barrier()


def run(args: argparse.Namespace) -> dict:
    """Validate, prepare, train/evaluate; returns the final record (rank 0; {} elsewhere)."""
    config_path = _config_path(args)
    overrides, world_notes = _own_manifest(config_path, args.set)
    cfg = load_config(config_path, overrides)
    problems, upgraded = check_machine(cfg), []
    if args.resume:
        found, upgraded = _resume_problems(cfg, Path(args.resume))
        problems += found
    if problems:
        raise ConfigError(problems, config_path)
    # a checkpoint --eval-only cannot use (damaged, refused, other model settings, not finite) stops here
    eval_model = model_from_checkpoint(cfg, args.eval_only) if args.eval_only else None
    eval_output = _eval_output(args) if args.eval_only else None
    device, loader_device = resolve_devices(cfg)
    info = distributed.init_distributed(device.type)
    try:
        overridden = {key for key, _ in parse_overrides(args.set)}
        _prepare_data(cfg, info, owned=not overridden & {"data", "data.manifest"})
        problems, notes = check_data(cfg, info.world_size)
        if problems:
            raise ConfigError(problems, config_path)
        notes = world_notes + notes
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        else:
            torch.backends.cudnn.benchmark = True
        manifests = check_manifests(cfg, robustness_manifest(cfg), train=not args.eval_only,
                                    probes=probe_manifests(cfg))  # read once
        notes += manifest_notes(manifests)
        if args.eval_only:
            return _eval_only(cfg, args.eval_only, eval_model, eval_output, info, device, loader_device, manifests,
                              notes)
        return _run(cfg, args, info, device, loader_device, upgraded + notes, manifests)
    finally:
        distributed.shutdown()


def _open_run_folder(cfg: Config, args: argparse.Namespace,
                     info: distributed.DistInfo) -> tuple[Path, AbstractContextManager]:
    """The run folder (made by rank 0 unless resuming) and the context rank 0 works in."""
    run_dir = None
    if info.is_main:
        run_dir = Path(args.resume) if args.resume else \
            create_run_folder(cfg.output.dir, f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}")
    run_dir = Path(distributed.broadcast_object(str(run_dir) if run_dir else None))
    if not info.is_main:
        return run_dir, nullcontext()
    return run_dir, RunFolder(run_dir, created=not args.resume, resume_command=_resume_command(run_dir))


def _eval_only(cfg: Config, ckpt: str, model: torch.nn.Module, output: Path, info: distributed.DistInfo,
               device: torch.device, loader_device: str, manifests: dict, notes: list[str]) -> dict:
    """--eval-only: evaluate the checkpoint's model (on every rank, each its share) and write the
    record to `output`."""
    _setup_logging(None, info.is_main)
    for note in notes if info.is_main else []:
        log.warning("%s", note)
    robust = robustness_manifest(cfg)
    started = time.perf_counter()
    model = model.to(device)
    metrics = evaluate_model(model, make_eval_sets(cfg, loader_device, manifests), device, cfg)
    if not info.is_main:
        return {}
    results = {"eval": {"augment_p": None, "minutes": (time.perf_counter() - started) / 60, **metrics}}
    record = _record(cfg, {"checkpoint": str(ckpt)}, results, started, robust, device, info)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(output.parent, e) from None
    _write_json(output, record)
    log.info("results of %s (written to %s):\n%s", ckpt, output, format_table(results))
    return record


def _run(cfg: Config, args: argparse.Namespace, info: distributed.DistInfo, device: torch.device,
         loader_device: str, notes: list[str], manifests: dict) -> dict:
    """Train in a new run folder (or the resumed one) and write its final.json."""
    run_dir, context = _open_run_folder(cfg, args, info)
    with context:
        _setup_logging(run_dir, info.is_main)
        if info.is_main:
            log.info("run folder %s (%s, %d process(es), loader on %s)", run_dir, device, info.world_size,
                     loader_device)
            for leftover in context.leftovers:
                log.warning("removed %s, a temporary file left by a process killed while writing it", leftover)
            for note in notes:
                log.warning("%s", note)
        return _train_and_report(cfg, bool(args.resume), run_dir, info, device, loader_device, manifests)


def _train_and_report(cfg: Config, resume: bool, run_dir: Path, info: distributed.DistInfo,
                      device: torch.device, loader_device: str, manifests: dict) -> dict:
    robust = robustness_manifest(cfg)
    eval_sets = make_eval_sets(cfg, loader_device, manifests)  # every rank evaluates its share
    results, started = {}, time.perf_counter()

    def write_config() -> None:  # once training starts: a refused --resume leaves the run's config as it was
        if info.is_main:
            atomic_write_text(run_dir / "config.yaml", dump_config(cfg))

    variants = {"attention": cfg.augment.p} if cfg.augment.p > 0 else {"baseline": 0.0}
    if cfg.train.compare_baseline:
        variants["baseline"] = 0.0
    for name, p in variants.items():
        t0 = time.perf_counter()
        metrics = fit(cfg, run_dir / name, p, info, device, loader_device, manifests["test"], eval_sets,
                      resume=resume, on_start=write_config)
        results[name] = {"augment_p": p, "minutes": (time.perf_counter() - t0) / 60, **metrics}
        swap_rates = column_values(run_dir / name, "train.swap_rate") if info.is_main else []
        if swap_rates:  # the achieved swap rate over the whole training (epochs are equally long)
            results[name]["swap_rate"] = sum(swap_rates) / len(swap_rates)
    if not info.is_main:
        return {}
    record = _record(cfg, {"run_dir": str(run_dir)}, results, started, robust, device, info)
    _write_json(run_dir / "final.json", record)
    log.info("results (%s, %.1f min):\n%s", run_dir, record["minutes"], format_table(results))
    return record


def _record(cfg: Config, where: dict, results: dict, started: float, robust: Path | None, device: torch.device,
            info: distributed.DistInfo) -> dict:
    """The final record: results with their provenance and config."""
    return {"name": cfg.name, **where, "minutes": (time.perf_counter() - started) / 60, "results": results,
            "provenance": provenance(seed=cfg.train.seed, manifest=cfg.data.manifest, device=device,
                                     world_size=info.world_size, robustness_manifest=robust),
            "config": to_dict(cfg)}


def _json_safe(obj: object) -> object:
    """`obj` with every NaN or infinity replaced by None (JSON has no such numbers: other tools
    refuse the bare `NaN` Python writes)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _write_json(path: Path, record: dict) -> None:
    """Write `record` as strict JSON (NaN as null), whole or not at all."""
    atomic_write_text(path, json.dumps(_json_safe(record), indent=2, allow_nan=False))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.config_example:  # shipped in the package, so an installed project has it too
        print(resources.files("attention_swap_reid.trainer").joinpath(DEFAULT_CONFIG).read_text(), end="")
        return 0
    try:
        with stop_on_signals():
            run(args)
    except Interrupted as e:
        print(f"\n{e}", file=sys.stderr)  # after ^C or a progress bar's line
        return e.exit_code
    except (ConfigError, ManifestError, TrainerError) as e:  # bad input: one clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt as e:
        what, code = stopping(e)
        print(f"\n{what}; nothing was written", file=sys.stderr)
        return code
    return 0
