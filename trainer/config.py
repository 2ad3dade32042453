"""The run configuration: a typed, frozen dataclass tree loaded from YAML plus `--set` overrides.

This is the only module that parses a config. `load_config(path, overrides)` returns a
validated `Config` or raises `ConfigError` listing *every* problem, each with its key path and
what is allowed, e.g.::

    loader.batch_pp: unknown key; did you mean 'batch_p'? allowed: batch_p, batch_k, ...
    augment.p: must be <= 1, got 1.5

Relative paths in a config are relative to the working directory (as in BoT / fast-reid).
Checks that need the data or the machine (P x K against the manifest, weights files, CUDA)
are done by `trainer.preflight`, still before any work.
"""
from __future__ import annotations

import os
import typing
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from typing import Any, Literal

import yaml

from attention_swap_reid.dali_pipes.check import ImageLimits
from attention_swap_reid.dali_pipes.sizes import parse_size
from attention_swap_reid.kernels import config as kernels_config
from attention_swap_reid.trainer.backbones import backbone_problem
from attention_swap_reid.trainer.safe_yaml import parse_yaml, read_yaml, yaml_problem
from attention_swap_reid.trainer.typed_tree import ConfigError, build, derived_section, option, section

__all__ = ["Config", "ConfigError", "load_config", "read_yaml", "from_dict", "parse_overrides", "to_dict",
           "default_value", "dump_config"]


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of `prepare.synthetic.ensure_world`: the world is (re)generated when missing
    or made with other parameters."""

    train_ids: int = option(100, "training identities", ge=2)
    test_ids: int = option(50, "query/gallery identities", ge=2)
    images_per_id: int = option(12, "images per identity", ge=2)
    height: int = option(128, "image height in pixels", ge=32)
    width: int = option(64, "image width in pixels", ge=16)
    seed: int = option(0, "world seed", ge=0)
    bg_bias: float = option(0.8, "share of a training identity's images shot in its own scenes", ge=0, le=1)
    independent_test: bool = option(False, "opt-in: test part drawn apart from training, the same for every bg_bias")
    heldout_scenes: int = option(0, "opt-in: scenes no shot uses, pictured empty in heldout/", ge=0)
    probes: bool = option(False, "opt-in: probe test sets (neutral layout, queries on a new background / "
                                 "without the person)")
    controls: bool = option(False, "opt-in: background-only and person-only training manifests")


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how they are sized."""

    manifest: str = option("data/synth/manifest.csv", "manifest CSV: image,mask,pid,camid,viewpoint,split")
    synthetic: SyntheticConfig | None = option(None, "generate the synthetic world here (null: use the manifest)")
    robustness_manifest: str | None = option(
        "auto", "background-swapped test set; 'auto' = robustness.csv beside the manifest if present")
    size: tuple[int, int] = option((256, 128), "training/test size [H, W] (or HxW, e.g. 256x128)", ge=32,
                                   text=parse_size)
    separate_test_ids: bool = option(False, "query/gallery pids are numbered on their own (MSMT17), so a pid "
                                            "also used in training is another person, not a leak")
    letterbox: bool = option(False, "pad to the aspect ratio by edge replication instead of stretching")
    unmasked: Literal["error", "keep", "drop"] = option(
        "error", "training rows without a person mask: stop, train them un-augmented, or leave them out")
    max_image_pixels: int = option(ImageLimits.max_pixels, "largest image or mask (width x height, from its "
                                   "header; checked before decoding)", ge=1)
    max_image_bytes: int = option(ImageLimits.max_bytes, "largest image or mask file in bytes", ge=1)


@dataclass(frozen=True)
class LoaderConfig:
    """The DALI loader (`dali_pipes.ReIDLoader` / `EvalLoader`)."""

    device: Literal["auto", "cpu", "gpu", "cuda"] = option("auto", "where the pipeline runs (gpu and cuda are the "
                                                           "same); auto = the GPU if the model is on one")
    batch_p: int = option(16, "identities per batch (P)", ge=1)
    batch_k: int = option(4, "images per identity (K)", ge=1)
    num_threads: int = option(2, "DALI CPU threads", ge=1)
    flip: float = option(0.5, "horizontal flip probability", ge=0, le=1)
    pad: int = option(10, "padding before the random crop", ge=0)
    erasing: float = option(0.5, "random erasing probability", ge=0, le=1)
    eval_batch_size: int = option(128, "batch size of the evaluation loaders", ge=1)
    augment_in: Literal["auto", "pipeline", "iterator"] = option(
        "auto", "where the augmentation and the BoT tail run: in the DALI graph, or after the iterator "
        "(fused kernels on the GPU); auto = the graph on the CPU, after the iterator on the GPU")
    mask_source: Literal["bank", "png"] = option(
        "bank", "masks decoded once into a bit-packed mask bank, or from PNG every batch")


AugmentConfig = derived_section(
    kernels_config.AugmentConfig, "The attention (background-swap) augmentation; p = 0 disables it "
    "(its seed is train.seed).", __name__, omit=("seed",))


@dataclass(frozen=True)
class ModelConfig:
    """Backbone and BNNeck (BoT)."""

    name: str = option("resnet50", "backbone (trainer.backbones): resnet18 | resnet34 | resnet50 (torchvision), "
                                   "resnet18_ibn_a | resnet34_ibn_a | resnet50_ibn_a (IBN-Net) or timm/<timm model name>")
    last_stride: int = option(1, "stride of the last stage", ge=1, le=2)
    pretrained: Literal["none", "imagenet"] = option("none", "initial weights")
    weights: str | None = option(None, "local ImageNet weights file (needed by pretrained: imagenet)")


@dataclass(frozen=True)
class LossConfig:
    """Label-smoothed CE + batch-hard triplet (+ center loss)."""

    ce_weight: float = option(1.0, "weight of the ID (cross-entropy) loss", ge=0)
    label_smooth: float = option(0.1, "label smoothing epsilon", ge=0, lt=1)
    triplet_weight: float = option(1.0, "weight of the batch-hard triplet loss", ge=0)
    triplet_margin: float = option(0.3, "triplet margin", ge=0)
    soft_margin: bool = option(False, "soft-margin triplet (softplus) instead of the hinge")
    center_weight: float = option(0.0, "weight of the center loss (BoT: 0.0005; 0 = off)", ge=0)
    center_lr: float = option(0.5, "SGD learning rate of the centers", gt=0)


@dataclass(frozen=True)
class OptimConfig:
    """Adam with warmup + step schedule (BoT), stepped per epoch."""

    lr: float = option(3.5e-4, "base learning rate", gt=0)
    weight_decay: float = option(5e-4, "weight decay", ge=0)
    bias_lr_factor: float = option(1.0, "lr factor of bias parameters", gt=0)
    weight_decay_bias: float = option(5e-4, "weight decay of bias parameters", ge=0)
    warmup_epochs: int = option(10, "linear warmup length in epochs", ge=0)
    warmup_factor: float = option(0.01, "lr factor at epoch 0", gt=0, le=1)
    milestones: tuple[int, ...] = option((40, 70), "epochs where the lr is multiplied by gamma", ge=1)
    gamma: float = option(0.1, "lr decay factor", gt=0, le=1)


@dataclass(frozen=True)
class TrainConfig:
    """The training loop."""

    epochs: int = option(120, "number of epochs", ge=1)
    eval_every: int = option(40, "evaluate every N epochs (and at the end); 0 = only at the end", ge=0)
    seed: int = option(0, "seed of the sampler, augmentation and initialisation", ge=0)
    device: Literal["auto", "cpu", "cuda"] = option("auto", "where the model runs; auto = cuda if available")
    amp: bool = option(True, "mixed precision (CUDA only; ignored on CPU): autocast, channels_last")
    amp_dtype: Literal["float16", "bfloat16"] = option("float16", "autocast type under amp (bfloat16: Ampere "
                                                       "and newer, e.g. Hopper; needs no loss scaling)")
    compare_baseline: bool = option(False, "also train with augment.p = 0 and report both (p = 0: one run)")
    keep_checkpoints: int = option(2, "per-epoch checkpoint files kept (latest.pt always)", ge=1)
    record_indices: bool = option(False, "debug: each rank saves the sample indices it trained on")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation: CMC, mAP and mINP on query x gallery."""

    flip: bool = option(False, "average features of the image and its mirror")
    rerank: bool = option(False, "k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3)")
    max_rank: int = option(50, "length of the CMC curve (the summary reports rank-10)", ge=10)
    unmatched_queries: Literal["error", "drop"] = option(
        "error", "query rows without a gallery image of their pid from another camera: stop, or leave them out "
                 "of the evaluation (counted in the log)")


@dataclass(frozen=True)
class OutputConfig:
    """Where runs are written: <dir>/<name>-<timestamp>/."""

    dir: str = option("runs", "parent folder of the run folders")


@dataclass(frozen=True)
class Config:
    """A complete, validated run configuration."""

    name: str = option("run", "run name (prefix of the run folder)")
    data: DataConfig = section(DataConfig)
    loader: LoaderConfig = section(LoaderConfig)
    augment: AugmentConfig = section(AugmentConfig)
    model: ModelConfig = section(ModelConfig)
    loss: LossConfig = section(LossConfig)
    optim: OptimConfig = section(OptimConfig)
    train: TrainConfig = section(TrainConfig)
    eval: EvalConfig = section(EvalConfig)
    output: OutputConfig = section(OutputConfig)


def _combinations(cfg: Config) -> list[str]:
    """Problems that involve more than one key."""
    problems = []
    ms = cfg.optim.milestones
    if any(b <= a for a, b in zip(ms, ms[1:])):
        problems.append(f"optim.milestones: must be strictly increasing, got {list(ms)}")
    if cfg.loss.triplet_weight > 0 and cfg.loader.batch_k < 2:
        problems.append(f"loader.batch_k: must be >= 2 when loss.triplet_weight > 0 (batch-hard triplet "
                        f"needs a positive for every sample), got {cfg.loader.batch_k}")
    if cfg.loss.ce_weight + cfg.loss.triplet_weight + cfg.loss.center_weight == 0:
        problems.append("loss: ce_weight, triplet_weight and center_weight are all 0; nothing to train")
    wrong_model = backbone_problem(cfg.model.name)
    if wrong_model:
        problems.append(f"model.name: {wrong_model}")
    if cfg.model.pretrained == "imagenet" and not cfg.model.weights:
        problems.append("model.weights: pretrained: imagenet needs a local weights file (no download); "
                        "set model.weights or use pretrained: none")
    if not cfg.name or any(sep in cfg.name for sep in ("/", "\\", "\0")):
        problems.append(f"name: {cfg.name!r} is not a folder name: the run folder is <output.dir>/<name>-<timestamp> "
                        f"and must stay in output.dir; allowed: a name without '/' or '\\'")
    if cfg.data.synthetic is not None and os.path.basename(cfg.data.manifest) != "manifest.csv":
        problems.append(f"data.manifest: with data.synthetic the world is written as <dir>/manifest.csv, "
                        f"got {cfg.data.manifest!r}")
    try:
        kernels_config.AugmentConfig(**asdict(cfg.augment))  # the rules between its fields
    except ValueError as e:
        problems.append(f"augment: {e}")
    syn = cfg.data.synthetic
    if syn is not None and cfg.loader.batch_p > syn.train_ids:
        problems.append(f"loader.batch_p: {cfg.loader.batch_p} identities per batch, but "
                        f"data.synthetic.train_ids is {syn.train_ids}; allowed: 1..{syn.train_ids}")
    return problems


def _set_path(raw: dict, dotted: str, value: Any) -> None:
    node = raw
    keys = dotted.split(".")
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            raise ConfigError([f"{'.'.join(keys[:i + 1])}: is not a mapping, cannot set {dotted!r}"], "--set")
        node = child
    node[keys[-1]] = value


def parse_overrides(items: list[str] | tuple[str, ...]) -> list[tuple[str, Any]]:
    """`["train.epochs=3", "augment.roi=upper"]` -> [(key path, YAML-parsed value)]."""
    out = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"{item!r}: expected KEY=VALUE, e.g. train.epochs=3"], "--set")
        try:
            value = parse_yaml(text) if text.strip() else None
        except yaml.YAMLError as e:
            shown = text if len(text) <= 60 else f"{text[:40]}...{text[-10:]}"
            raise ConfigError([f"{key.strip()}: the value {shown!r} is not valid YAML ({yaml_problem(e)}); "
                               f"quote a string, e.g. {key.strip()}='\"...\"'"], "--set") from None
        out.append((key.strip(), value))
    return out


def from_dict(raw: dict, overrides: list[str] | tuple[str, ...] = (), source: str = "config") -> Config:
    """Validate a raw mapping (plus `--set` overrides) into a `Config`; raises `ConfigError`."""
    raw = yaml.safe_load(yaml.safe_dump(raw or {}))  # deep copy, plain types only
    if not isinstance(raw, dict):
        raise ConfigError([f"top level: expected a mapping, got {type(raw).__name__}"], source)
    for key, value in parse_overrides(overrides):
        _set_path(raw, key, value)
    problems: list[str] = []
    cfg = build(Config, raw, "", problems)
    if not problems:
        problems = _combinations(cfg)
    if problems:
        raise ConfigError(problems, source)
    return cfg


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config file, apply `--set` overrides and validate; raises `ConfigError`."""
    return from_dict(read_yaml(path) or {}, overrides, source=os.fspath(path))


def default_value(key: str) -> Any:
    """The default of config key `key` ("train.amp", "data.synthetic.seed"), as `to_dict` gives
    values (tuples as lists); KeyError for a path that is not a key."""
    cls: Any = Config
    *sections, name = key.split(".")
    for part in sections:
        hint = typing.get_type_hints(cls)[part]
        cls = next((a for a in typing.get_args(hint) if is_dataclass(a)), hint)  # `X | None` -> X
    found = {f.name: f for f in fields(cls)}[name]
    return _plain(found.default if found.default is not MISSING else asdict(found.default_factory()))


def to_dict(cfg: Config) -> dict:
    """The config as plain YAML-able types (tuples become lists)."""
    return _plain(asdict(cfg))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML text (loadable again with `from_dict`)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
