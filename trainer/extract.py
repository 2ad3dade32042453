"""Retrieval features of a trained model for one split of a manifest, saved as `.npz`.

    python -m attention_swap_reid.trainer.extract CKPT MANIFEST --split query|gallery|train \
        --out feats.npz [--flip-test]

CKPT is a checkpoint of `trainer/run.py` (`<run>/<variant>/checkpoints/latest.pt` or an
epoch file); the model is built from the run's `config.yaml` (found in the folders above
CKPT, or given with `--config`) and its input size. The `.npz` holds `features` (N, D)
float32 L2-normalized, `pids` and `camids` (N,) int64 and `paths` (N,) str, in manifest order.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from attention_swap_reid.dali_pipes import EvalLoader, ManifestError
from attention_swap_reid.trainer.checkpoint import load_checkpoint, load_weights, model_weights
from attention_swap_reid.trainer.config import Config, ConfigError, load_config
from attention_swap_reid.trainer.errors import TrainerError
from attention_swap_reid.trainer.features import extract_features
from attention_swap_reid.trainer.fit import make_model, model_settings
from attention_swap_reid.trainer.model import ReIDModel
from attention_swap_reid.trainer.preflight import resolve_devices

SPLITS = ("query", "gallery", "train")


@dataclass(frozen=True)
class Features:
    """`features` (N, D) float32 L2-normalized; `pids`, `camids` (N,) int64; `paths` (N,) str."""

    features: np.ndarray
    pids: np.ndarray
    camids: np.ndarray
    paths: np.ndarray

    def save(self, path: str | os.PathLike) -> None:
        """Write the four arrays to an `.npz` file (uncompressed; `np.load` reads it back)."""
        with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a path without it
            np.savez(f, features=self.features, pids=self.pids, camids=self.camids, paths=self.paths)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Features:
        with np.load(path) as data:
            return cls(*(data[k] for k in ("features", "pids", "camids", "paths")))


def find_config(checkpoint: str | os.PathLike) -> Path:
    """The run's `config.yaml` in the nearest folder above `checkpoint`; `TrainerError` if none."""
    for folder in Path(checkpoint).resolve().parents:
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise TrainerError(f"{checkpoint}: no config.yaml in the folders above it (not inside a run folder); "
                       f"give the run's config with --config")


def model_from_checkpoint(cfg: Config, path: str | os.PathLike, state: dict | None = None) -> ReIDModel:
    """The model of `cfg` with the weights of checkpoint `path` (its `state` when already
    loaded with `load_checkpoint`), in eval mode on the CPU; `CheckpointError` naming the file
    when it holds no model of this trainer, one of other model settings or architecture, or
    weights that are not finite (see `trainer.checkpoint.model_weights`)."""
    state = load_checkpoint(path) if state is None else state
    weights = model_weights(path, state, model_settings(cfg))
    model = make_model(cfg, weights["classifier.weight"].shape[0])
    load_weights(model, weights, path, f"model.name {cfg.model.name} (last_stride {cfg.model.last_stride})")
    return model.eval()


def features_of(model: ReIDModel, cfg: Config, manifest: str | os.PathLike, split: str, *, flip: bool = False,
                batch_size: int | None = None, progress: bool = True) -> Features:
    """Features of every `split` row of `manifest` (manifest order), read at the run's size
    and letterboxing, on the run's devices ("auto" resolved here)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    device, loader_device = resolve_devices(cfg)
    try:
        loader = EvalLoader(manifest, split=split, batch_size=batch_size or cfg.loader.eval_batch_size,
                            size=tuple(cfg.data.size), device=loader_device, letterbox=cfg.data.letterbox,
                            num_threads=cfg.loader.num_threads)
    except ManifestError:
        raise
    except ValueError as e:  # e.g. no row of that split
        raise TrainerError(str(e)) from None
    batches = tqdm(loader, total=len(loader), desc=f"{split} features", unit="batch", disable=not progress)
    feats, pids, camids = extract_features(model.to(device), batches, device, flip=flip)
    paths = np.array([s.image for s in loader.samples], dtype=str)
    return Features(feats.numpy().astype(np.float32), pids, camids, paths)


def extract(checkpoint: str | os.PathLike, manifest: str | os.PathLike, split: str = "query", *,
            config: str | os.PathLike | None = None, flip: bool = False, batch_size: int | None = None,
            progress: bool = True) -> Features:
    """Features of `split` of `manifest` by the model in `checkpoint`, built from `config`
    (default: the run's `config.yaml` above the checkpoint)."""
    cfg = load_config(config if config is not None else find_config(checkpoint))
    return features_of(model_from_checkpoint(cfg, checkpoint), cfg, manifest, split, flip=flip,
                       batch_size=batch_size, progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.trainer.extract",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="checkpoint of trainer/run.py, e.g. "
                        "runs/demo-.../attention/checkpoints/latest.pt")
    parser.add_argument("manifest", help="manifest CSV (image,mask,pid,camid,viewpoint,split)")
    parser.add_argument("--split", default="query", choices=SPLITS)
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--flip-test", action="store_true", help="add the feature of the mirrored image")
    parser.add_argument("--config", help="the run's config.yaml (default: found above the checkpoint)")
    parser.add_argument("--batch-size", type=int, help="default: the run's loader.eval_batch_size")
    args = parser.parse_args(argv)
    try:
        feats = extract(args.checkpoint, args.manifest, args.split, config=args.config, flip=args.flip_test,
                        batch_size=args.batch_size)
        feats.save(args.out)
    except (ConfigError, ManifestError, TrainerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {args.out}: cannot write: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {feats.features.shape[0]} x {feats.features.shape[1]} features ({args.split})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
