"""What a sweep reads and makes before its runs start: the sweep file and every run's trainer
config (`load_sweep`), the synthetic world of the sweep's `set` (made once here, not by two runs
side by side), and the degraded training masks of the variants with `degrade`
(`prepare.degrade_masks`), in `<runs_dir>/masks/<variant>/`. `spec` and `plan` read nothing;
this module does their reading for them."""
from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from attention_swap_reid.prepare.degrade_masks import degrade_manifest
from attention_swap_reid.prepare.synthetic import ensure_world
from attention_swap_reid.sweeps.plan import degraded_manifest, expand
from attention_swap_reid.sweeps.spec import Sweep, Variant, parse_sweep
from attention_swap_reid.trainer.config import Config, load_config, to_dict
from attention_swap_reid.trainer.safe_yaml import read_yaml


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file, every run's trainer config included, before any work
    starts; raises ConfigError naming the file and key."""
    path = os.fspath(path)
    sweep = parse_sweep(read_yaml(path) or {}, path)
    sweep = replace(sweep, robustness_manifests={v.name: _scored_robustness(sweep, v)
                                                 for v in sweep.file.variants if v.degrade is not None})
    for run in expand(sweep):
        load_config(sweep.file.base, list(run.overrides))
    return sweep


def _source_config(sweep: Sweep, variant: Variant) -> Config:
    """The trainer config the variant's runs would have without the degraded masks."""
    return load_config(sweep.file.base, list(sweep.overrides + variant.overrides))


def _scored_robustness(sweep: Sweep, variant: Variant) -> str | None:
    """The robustness manifest of the variant's source config, "auto" resolved beside its
    manifest (where the synthetic world makes one, or one is there)."""
    cfg = _source_config(sweep, variant)
    robust = cfg.data.robustness_manifest
    if robust == "auto":
        beside = Path(cfg.data.manifest).parent / "robustness.csv"
        robust = str(beside) if cfg.data.synthetic is not None or beside.is_file() else None
    return robust


def make_inputs(sweep: Sweep, variants: list[Variant]) -> None:
    """Make the sweep's synthetic world when its `set` names one, and write the degraded
    manifest of every variant with `degrade` that lacks one (the synthetic world it comes from
    is made first when the sweep generates one)."""
    cfg = load_config(sweep.file.base, list(sweep.overrides))
    if cfg.data.synthetic is not None:
        ensure_world(os.path.dirname(cfg.data.manifest) or ".", **to_dict(cfg)["data"]["synthetic"])
    for variant in variants:
        target = degraded_manifest(sweep, variant)
        if variant.degrade is None or target.is_file():
            continue
        cfg = _source_config(sweep, variant)
        if cfg.data.synthetic is not None:
            ensure_world(os.path.dirname(cfg.data.manifest) or ".", **to_dict(cfg)["data"]["synthetic"])
        d = variant.degrade
        print(f"degrading the training masks of {cfg.data.manifest} ({d.kind}, level {d.level:g}) "
              f"into {target.parent}", flush=True)
        scratch = target.parent.with_name(target.parent.name + ".tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        degrade_manifest(cfg.data.manifest, scratch, d.kind, d.level, seed=d.seed, progress=False)
        shutil.rmtree(target.parent, ignore_errors=True)
        os.replace(scratch, target.parent)
