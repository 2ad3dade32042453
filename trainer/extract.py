"""Retrieval features of a trained model, saved as `.npz`: for one split of a manifest, for
image files, or for every image in folders.

    python -m attention_swap_reid.trainer.extract CKPT MANIFEST --split query|gallery|train \
        --out feats.npz [--flip-test]
    python -m attention_swap_reid.trainer.extract CKPT IMAGE_OR_FOLDER [...] --out feats.npz

CKPT is a checkpoint of `trainer/run.py` (`<run>/<variant>/checkpoints/latest.pt` or an
epoch file); the model is built from the run's `config.yaml` (found in the folders above
CKPT, or given with `--config`) and its input size. The `.npz` holds `features` (N, D)
float32 L2-normalized, `pids` and `camids` (N,) int64 (-1 for images given without a manifest)
and `paths` (N,) str, in manifest order, or in the order given with each folder's images
sorted by path. `--out` is checked before any work: its folder must be writable (it is made
when missing), and an existing file is replaced only when it is a features file (or with
`--force`). `feature_extractor.FeatureExtractor` is the same in Python, on paths, arrays or
tensors.
"""
from __future__ import annotations

import argparse
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from attention_swap_reid.dali_pipes import EvalLoader, ManifestError, Sample
from attention_swap_reid.dali_pipes.manifest import OutputError, check_output
from attention_swap_reid.dali_pipes.outputs import check_writable
from attention_swap_reid.trainer.checkpoint import load_checkpoint, load_weights, model_weights
from attention_swap_reid.trainer.config import Config, ConfigError, load_config
from attention_swap_reid.trainer.errors import TrainerError
from attention_swap_reid.trainer.features import extract_features
from attention_swap_reid.trainer.fit import loader_placement, make_model, model_settings
from attention_swap_reid.trainer.model import ReIDModel
from attention_swap_reid.trainer.preflight import resolve_devices

SPLITS = ("query", "gallery", "train")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""Files a folder source contributes (what DALI's image decoder reads)."""
ARRAYS = ("features", "pids", "camids", "paths")


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
            return cls(*(data[k] for k in ARRAYS))


def is_features_file(path: str | os.PathLike) -> bool:
    """Whether `path` is an `.npz` with exactly the arrays `Features.save` writes (a file
    `extract` may replace)."""
    try:
        with zipfile.ZipFile(path) as z:
            return sorted(z.namelist()) == sorted(f"{k}.npy" for k in ARRAYS)
    except (OSError, zipfile.BadZipFile):
        return False


def check_out(path: str | os.PathLike, force: bool = False) -> None:
    """`OutputError` unless `extract` may write its features to `path`: a writable folder, and
    no file there that is not a features file (unless `force`)."""
    check_output(path, force=force, ours=is_features_file, what="a features file (features, pids, camids, paths)")
    check_writable(path)


def manifest_of(sources: list[str | os.PathLike]) -> str | os.PathLike | None:
    """The manifest when `sources` is one `.csv` path, None for images and folders;
    `TrainerError` for a manifest among other sources."""
    manifests = [s for s in sources if str(s).lower().endswith(".csv")]
    if manifests and len(sources) > 1:
        raise TrainerError(f"{manifests[0]}: a manifest is given alone, not among images or folders")
    return manifests[0] if manifests else None


def image_samples(sources: list[str | os.PathLike]) -> list[Sample]:
    """Image files and folders (each folder's `IMAGE_SUFFIXES` files, recursively, sorted by
    path) as rows without identity (pid, camid, viewpoint -1), in the order given;
    `TrainerError` naming a missing source or a folder without images."""
    paths = []
    for source in map(Path, sources):
        if source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise TrainerError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            paths += found
        elif source.is_file():
            paths.append(source)
        else:
            raise TrainerError(f"{source}: no such image file or folder")
    return [Sample(str(p.resolve()), "", -1, -1, -1, "query", row=i + 1) for i, p in enumerate(paths)]


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


def features_of(model: ReIDModel, cfg: Config, manifest: str | os.PathLike | list[Sample], split: str, *,
                flip: bool = False, batch_size: int | None = None, progress: bool = True,
                devices: tuple[torch.device, str] | None = None) -> Features:
    """Features of every `split` row of `manifest` (a path, or rows such as `image_samples`
    gives; manifest order), read at the run's size and letterboxing, on `devices` (model,
    loader), by default the run's ("auto" resolved here)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    device, loader_device = devices or resolve_devices(cfg)
    try:
        loader = EvalLoader(manifest, split, batch_size=batch_size or cfg.loader.eval_batch_size,
                            size=tuple(cfg.data.size), device=loader_device, letterbox=cfg.data.letterbox,
                            placement=loader_placement(cfg))
    except ManifestError:
        raise
    except ValueError as e:  # e.g. no row of that split
        raise TrainerError(str(e)) from None
    what = f"{split} features" if isinstance(manifest, (str, os.PathLike)) else "features"  # rows: image files
    batches = tqdm(loader, total=len(loader), desc=what, unit="batch", disable=not progress)
    feats, pids, camids = extract_features(model.to(device), batches, device, flip=flip)
    paths = np.array([s.image for s in loader.samples], dtype=str)
    return Features(feats.numpy().astype(np.float32), pids, camids, paths)


def extract(checkpoint: str | os.PathLike, source: str | os.PathLike | list[str | os.PathLike],
            split: str = "query", *, config: str | os.PathLike | None = None, flip: bool = False,
            batch_size: int | None = None, progress: bool = True) -> Features:
    """Features by the model in `checkpoint`, built from `config` (default: the run's
    `config.yaml` above the checkpoint), of `split` of a manifest (`source` a `.csv` path), or
    of image files and folders (`source` one path or a list; `split` unused)."""
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    manifest = manifest_of(sources)
    data = manifest if manifest is not None else image_samples(sources)
    cfg = load_config(config if config is not None else find_config(checkpoint))
    return features_of(model_from_checkpoint(cfg, checkpoint), cfg, data, split if manifest else "query", flip=flip,
                       batch_size=batch_size, progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.trainer.extract",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="checkpoint of trainer/run.py, e.g. "
                        "runs/demo-.../attention/checkpoints/latest.pt")
    parser.add_argument("sources", nargs="+", metavar="MANIFEST_OR_IMAGES",
                        help="a manifest CSV (image,mask,pid,camid,viewpoint,split), or image files and folders")
    parser.add_argument("--split", default="query", choices=SPLITS, help="the manifest's split (default query)")
    parser.add_argument("--out", required=True, help="the .npz file to write (a new file, or a features file)")
    parser.add_argument("--force", action="store_true", help="replace --out even if it is not a features file")
    parser.add_argument("--flip-test", action="store_true", help="add the feature of the mirrored image")
    parser.add_argument("--config", help="the run's config.yaml (default: found above the checkpoint)")
    parser.add_argument("--batch-size", type=int, help="default: the run's loader.eval_batch_size")
    args = parser.parse_args(argv)
    try:
        check_out(args.out, args.force)
        feats = extract(args.checkpoint, args.sources, args.split, config=args.config, flip=args.flip_test,
                        batch_size=args.batch_size)
        feats.save(args.out)
    except (ConfigError, ManifestError, OutputError, TrainerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {args.out}: cannot write: {e.strerror or e}", file=sys.stderr)
        return 2
    what = args.split if manifest_of(args.sources) else "images"
    print(f"{args.out}: {feats.features.shape[0]} x {feats.features.shape[1]} features ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
