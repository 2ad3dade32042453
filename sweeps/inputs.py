"""What a sweep's runs need made before they start: the synthetic world of the sweep's `set`
(made once here, not by two runs side by side), and the degraded training masks of the
variants with `degrade` (`prepare.degrade_masks`), in `<runs_dir>/masks/<variant>/`."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from attention_swap_reid.prepare.degrade_masks import degrade_manifest
from attention_swap_reid.prepare.synthetic import ensure_world
from attention_swap_reid.trainer.config import Config, load_config, to_dict

if TYPE_CHECKING:
    from attention_swap_reid.sweeps.spec import Sweep, Variant


def _source_config(sweep: Sweep, variant: Variant) -> Config:
    """The trainer config the variant's runs would have without the degraded masks."""
    return load_config(sweep.file.base, list(sweep.overrides + variant.overrides))


def degraded_manifest(sweep: Sweep, variant: Variant) -> Path:
    return sweep.runs_dir / "masks" / variant.name / "manifest.csv"


def degrade_overrides(sweep: Sweep, variant: Variant) -> tuple[str, ...]:
    """Trainer keys that train on the variant's degraded manifest and still score the source
    manifest's background-swapped test set ("auto" would look beside the degraded one)."""
    cfg = _source_config(sweep, variant)
    robust = cfg.data.robustness_manifest
    if robust == "auto":
        beside = Path(cfg.data.manifest).parent / "robustness.csv"
        robust = str(beside) if cfg.data.synthetic is not None or beside.is_file() else None
    return (f"data.manifest={json.dumps(str(degraded_manifest(sweep, variant)))}", "data.synthetic=null",
            f"data.robustness_manifest={json.dumps(robust)}")


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
