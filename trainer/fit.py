"""Train and evaluate one variant of a run (part of the CLI: turns the `Config` into the plain
keyword arguments of the loader, model, losses and optimizer, then runs the epoch loop with
evaluation, logging and checkpoints)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from attention_swap_reid.dali_pipes import BotOptions, EvalLoader, Placement, ReIDLoader
from attention_swap_reid.dali_pipes.check import ImageLimits
from attention_swap_reid.dali_pipes.checked import CheckedManifest, checked_manifest
from attention_swap_reid.dali_pipes.manifest import UNMASKED_ACTIONS, ManifestError
from attention_swap_reid.kernels import AugmentConfig
from attention_swap_reid.trainer.checkpoint import Checkpointer, nonfinite_tensors, rng_state, set_rng_state
from attention_swap_reid.trainer.disk import atomic_write
from attention_swap_reid.trainer.config import Config
from attention_swap_reid.trainer.distributed import DistInfo, barrier, gather_objects
from attention_swap_reid.trainer.engine import NonFiniteLoss, train_one_epoch
from attention_swap_reid.trainer.errors import Diverged, TrainerError
from attention_swap_reid.trainer.attention import attention_shares, feature_maps_of, identity_targets
from attention_swap_reid.trainer.features import evaluate_features, extract_features_sharded
from attention_swap_reid.trainer.losses import ReIDLoss
from attention_swap_reid.trainer.metrics_log import MetricsLog
from attention_swap_reid.trainer.model import ReIDModel, build_model
from attention_swap_reid.trainer.optim import WarmupMultiStepLR, make_optimizer

log = logging.getLogger("trainer")
RERANK = (20, 6, 0.3)  # k1, k2, lambda (Zhong et al. 2017; BoT)
TRAIN_COLUMNS = ("train.loss", "train.ce", "train.triplet", "train.center", "train.acc", "train.lr",
                 "train.swap_rate", "train.img_s", "train.data_wait", "train.seconds")
EVAL_KEYS = ("rank1", "rank5", "rank10", "mAP", "mINP")
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "scheduler", "ranks")  # what a resume needs


def check_manifests(cfg: Config, robustness: Path | None, train: bool = True,
                    probes: dict[str, Path] | None = None) -> dict[str, CheckedManifest]:
    """The run's manifests, each read and checked once (every file decoded once): "test" (the
    data manifest: query and gallery, and with `train` the training split, with its masks when
    the run augments), "robust" (the background-swapped set, query and gallery) and each of
    `probes` ({name: manifest}, query and gallery: the synthetic world's probe sets), for every
    loader of the run. Bad rows raise `ManifestError`."""
    splits = ("train", "query", "gallery") if train else ("query", "gallery")
    options = dict(unmatched=cfg.eval.unmatched_queries,
                   limits=ImageLimits(cfg.data.max_image_pixels, cfg.data.max_image_bytes))
    checked = {"test": checked_manifest(cfg.data.manifest, splits, masks=cfg.augment.p > 0,
                                        unmasked=cfg.data.unmasked, separate_test_ids=cfg.data.separate_test_ids,
                                        **options)}
    if robustness is not None:
        checked["robust"] = checked_manifest(robustness, ("query", "gallery"), masks=False, **options)
    for name, path in (probes or {}).items():
        checked[name] = checked_manifest(path, ("query", "gallery"), masks=False, **options)
    return checked


def manifest_notes(manifests: dict[str, CheckedManifest]) -> list[str]:
    """What the checks of `check_manifests` found that the run goes on with, one line each: the
    query rows left out (`eval.unmatched_queries: drop`) and the warnings (masks that look
    inverted or soft)."""
    notes = []
    for checked in manifests.values():
        if checked.dropped_queries:
            notes.append(f"{checked.path}: {len(checked.dropped_queries)} query row(s) have no gallery image of "
                         f"their pid from another camera and are left out of the evaluation "
                         f"(eval.unmatched_queries: drop; first: row {checked.dropped_queries[0]})")
        notes += [f"warning: {w}" for w in checked.warnings]
    return notes


def loader_placement(cfg: Config) -> Placement:
    """The loaders' `Placement` from the `loader` section (where the work runs, DALI's threads)."""
    lc = cfg.loader
    return Placement(augment_in=lc.augment_in, mask_source=lc.mask_source, num_threads=lc.num_threads)


def make_eval_sets(cfg: Config, loader_device: str, manifests: dict[str, CheckedManifest]) -> dict:
    """{"test": (query, gallery)} EvalLoaders, plus "robust" on the background-swapped set and one
    per probe set of `manifests`. When every test query has a person mask, the test query loader
    returns the masks too (for the attention share)."""
    def pair(checked: CheckedManifest, masks: bool = False) -> tuple:
        return tuple(EvalLoader(checked, split, batch_size=cfg.loader.eval_batch_size, size=tuple(cfg.data.size),
                                device=loader_device, letterbox=cfg.data.letterbox,
                                return_masks=masks and split == "query", placement=loader_placement(cfg))
                     for split in ("query", "gallery"))
    queries = manifests["test"].splits.get("query", [])
    sets = {"test": pair(manifests["test"], masks=bool(queries) and all(s.mask for s in queries))}
    for name in manifests:
        if name != "test":
            sets[name] = pair(manifests[name])
    return sets


def evaluate_model(model: torch.nn.Module, eval_sets: dict, device: torch.device, cfg: Config) -> dict:
    """Metrics as fractions: rank1/5/10, mAP, mINP on "test"; "<set>_*" on every other set
    ("robust_*" on the swapped set).

    Under `torchrun` every rank calls this: the forward passes and the scoring are split over
    the ranks and every rank gets the metrics (see `trainer.features`)."""
    out, test_gallery = {}, None
    for name, (query, gallery) in eval_sets.items():
        qf, qp, qc = extract_features_sharded(model, query, device, flip=cfg.eval.flip)
        gf, gp, gc = extract_features_sharded(model, gallery, device, flip=cfg.eval.flip)
        if name == "test":
            test_gallery = (gf, gp)
        r = evaluate_features(qf, qp, qc, gf, gp, gc, rerank_k=RERANK if cfg.eval.rerank else None,
                              max_rank=cfg.eval.max_rank, sharded=True)
        values = dict(zip(EVAL_KEYS, (r["cmc"][0], r["cmc"][4], r["cmc"][9], r["mAP"], r["mINP"])))
        prefix = "" if name == "test" else f"{name}_"
        out.update({prefix + k: float(v) for k, v in values.items()})
    query = eval_sets["test"][0]
    if getattr(query, "returns_masks", False) and feature_maps_of(model) is not None:
        out |= attention_shares(model, query, identity_targets(*test_gallery), device)
    return out


def model_settings(cfg: Config) -> dict[str, object]:
    """The config keys that shape the model beyond what its weights show (a last stride of 1
    and of 2 have the same weights), as its checkpoints record them: evaluating a checkpoint
    with other values is refused (`trainer.checkpoint.model_weights`)."""
    return {"model.name": cfg.model.name, "model.last_stride": cfg.model.last_stride}


def make_model(cfg: Config, num_classes: int) -> ReIDModel:
    return build_model(cfg.model.name, num_classes, last_stride=cfg.model.last_stride,
                       pretrained=cfg.model.pretrained, weights_path=cfg.model.weights, size=tuple(cfg.data.size))


def _train_loader(cfg: Config, p: float, info: DistInfo, loader_device: str, data: CheckedManifest) -> ReIDLoader:
    """The training loader; a manifest it cannot train on raises `ManifestError` or a one-line
    `TrainerError` (e.g. no training row left after `data.unmasked: drop`)."""
    augment = None
    if p > 0:
        fields = {k: v for k, v in asdict(cfg.augment).items() if k != "p"}
        augment = AugmentConfig(p=p, seed=cfg.train.seed, **fields)
    lc = cfg.loader
    bot = BotOptions(flip=lc.flip, pad=lc.pad, erasing=lc.erasing)
    try:
        return ReIDLoader(data, split="train", batch_size=lc.batch_p * lc.batch_k, num_instances=lc.batch_k,
                          size=tuple(cfg.data.size), augment=augment, device=loader_device, shard_id=info.rank,
                          num_shards=info.world_size, seed=cfg.train.seed, letterbox=cfg.data.letterbox, bot=bot,
                          unmasked=cfg.data.unmasked, placement=loader_placement(cfg))
    except ManifestError:
        raise
    except ValueError as e:
        raise TrainerError(f"data.manifest: {e} (data.unmasked: {cfg.data.unmasked})") from None


def _check_identities(state: dict, loader: ReIDLoader, manifest: str) -> None:
    """Refuse to resume when the training identities are not those the checkpoint was trained on."""
    now = [int(pid) for pid in loader.pid_list]
    then = state.get("train_pids")
    count = len(then) if then is not None else int(state["model"]["classifier.weight"].shape[0])
    if count != len(now) or (then is not None and list(then) != now):
        raise TrainerError(f"data.manifest: the training identities changed since this run started ({count} then, "
                           f"{len(now)} now, in {manifest}); resume with the manifest the run started with, "
                           f"or start a new run")


@dataclass
class TrainingParts:
    """What one variant trains with. The checkpoint holds the state of every part but the
    loader (whose state is per rank) under the part's name."""

    model: torch.nn.Module
    loss: ReIDLoss
    optimizer: torch.optim.Optimizer
    scheduler: WarmupMultiStepLR
    center_optimizer: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler
    loader: ReIDLoader

    def checkpointed(self) -> dict:
        """name -> part, for the parts whose state the checkpoint holds."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "loader" and getattr(self, f.name) is not None}


def _restore(state: dict, info: DistInfo, parts: TrainingParts) -> None:
    """Load every part's state; the loader and RNG state are this rank's own."""
    if len(state["ranks"]) != info.world_size:
        raise TrainerError(f"checkpoint was written by {len(state['ranks'])} rank(s), this run has "
                           f"{info.world_size}; resume with the same number of processes")
    mine = state["ranks"][info.rank]
    for name, part in parts.checkpointed().items():
        part.load_state_dict(state[name])
    parts.loader.load_state_dict(mine["loader"])
    set_rng_state(mine["rng"])


def _build(cfg: Config, p: float, info: DistInfo, device: torch.device, loader_device: str,
           data: CheckedManifest) -> TrainingParts:
    """The training loader, model, loss and optimizers of one variant, seeded by `train.seed`."""
    loader = _train_loader(cfg, p, info, loader_device, data)
    torch.manual_seed(cfg.train.seed)
    model = make_model(cfg, loader.num_classes).to(device)
    amp = cfg.train.amp and device.type == "cuda"
    if amp:
        model = model.to(memory_format=torch.channels_last)  # the engine feeds channels_last images
    lc, oc = cfg.loss, cfg.optim
    loss_fn = ReIDLoss(loader.num_classes, model.feat_dim, ce_weight=lc.ce_weight, label_smooth=lc.label_smooth,
                       triplet_weight=lc.triplet_weight, margin=lc.triplet_margin, soft_margin=lc.soft_margin,
                       center_weight=lc.center_weight,
                       generator=torch.Generator().manual_seed(cfg.train.seed)).to(device)
    optimizer = make_optimizer(model, oc.lr, oc.weight_decay, oc.bias_lr_factor, oc.weight_decay_bias)
    center = loss_fn.center
    return TrainingParts(
        model=model, loss=loss_fn, optimizer=optimizer,
        scheduler=WarmupMultiStepLR(optimizer, oc.milestones, oc.gamma, oc.warmup_factor, oc.warmup_epochs),
        center_optimizer=torch.optim.SGD(center.parameters(), lr=lc.center_lr) if center is not None else None,
        # bfloat16 has float32's range: no loss scaling needed (the scaler stays off)
        scaler=torch.amp.GradScaler(device.type, enabled=amp and cfg.train.amp_dtype == "float16"),
        loader=loader)


def _eval_due(cfg: Config, epoch: int) -> bool:
    """Evaluate after `epoch` (1-based)? Every `eval_every` epochs and after the last."""
    every = cfg.train.eval_every
    return epoch == cfg.train.epochs or bool(every and epoch % every == 0)


def fit(cfg: Config, folder: Path, p: float, info: DistInfo, device: torch.device, loader_device: str,
        data: CheckedManifest, eval_sets: dict | None, resume: bool = False,
        on_start: Callable[[], None] = lambda: None) -> dict:
    """Train with augmentation probability `p` on the checked manifest `data` (see
    `check_manifests`) in `folder`; returns the final eval metrics
    (on rank 0; {} elsewhere). With `resume`, continue from the newest intact checkpoint in
    `folder/checkpoints`. `on_start` is called once the data and checkpoint are accepted,
    before the first epoch."""
    ckpt = Checkpointer(folder / "checkpoints", keep=cfg.train.keep_checkpoints)
    state = ckpt.load_latest(required=CHECKPOINT_KEYS) if resume else None
    if resume and state is None and info.is_main:
        log.warning("%s: no checkpoint to resume from in %s; training it from epoch 1", folder.name, ckpt.folder)
    if state is not None and state["epoch"] >= cfg.train.epochs and state.get("metrics"):
        log.info("%s: already trained for %d epochs", folder.name, state["epoch"])
        return state["metrics"] if info.is_main else {}
    parts = _build(cfg, p, info, device, loader_device, data)
    model, loader, optimizer = parts.model, parts.loader, parts.optimizer
    if loader.unmasked_rows and info.is_main:
        log.warning("%s: %d training row(s) have no person mask (first: row %d of %s); data.unmasked=%s: %s",
                    folder.name, len(loader.unmasked_rows), loader.unmasked_rows[0], cfg.data.manifest,
                    cfg.data.unmasked, UNMASKED_ACTIONS[cfg.data.unmasked])
    start, metrics = 0, {}
    if state is not None:
        _check_identities(state, loader, cfg.data.manifest)
        _restore(state, info, parts)
        start, metrics = state["epoch"], state.get("metrics", {})
        log.info("%s: resumed after epoch %d", folder.name, start)
    on_start()
    amp_dtype = getattr(torch, cfg.train.amp_dtype) if cfg.train.amp and device.type == "cuda" else None
    net = DistributedDataParallel(model, find_unused_parameters=cfg.loss.ce_weight == 0) if info.enabled else model
    sets = ["test", "robust", *(name for name in eval_sets or {} if name not in ("test", "robust"))]
    columns = ("epoch",) + TRAIN_COLUMNS + tuple(f"eval.{'' if name == 'test' else name + '_'}{k}"
                                                 for name in sets for k in EVAL_KEYS) + ("eval.attention", "eval.gradcam")
    metrics_log = MetricsLog(folder, columns, resume_epoch=start if state else None) if info.is_main else None
    seen: list[np.ndarray] = []
    on_batch = (lambda b: seen.append(b["indices"].cpu().numpy())) if cfg.train.record_indices else None
    saved = start if state is not None else None  # the epoch of the last checkpoint written
    for epoch in range(start + 1, cfg.train.epochs + 1):  # 1-based
        loader.set_epoch(epoch - 1)
        lr = optimizer.param_groups[0]["lr"]
        try:
            stats = train_one_epoch(net, loader, parts.loss, optimizer, device=device, epoch=epoch,
                                    scaler=parts.scaler, amp_dtype=amp_dtype,
                                    center_optimizer=parts.center_optimizer,
                                    show_progress=info.is_main, on_batch=on_batch)
        except NonFiniteLoss as e:
            raise _diverged(cfg, folder, ckpt, saved, str(e)) from None
        bad = nonfinite_tensors(model.state_dict())  # one device sync per epoch
        if bad:
            raise _diverged(cfg, folder, ckpt, saved,
                            f"the weights are not finite after epoch {epoch} (first: {bad[0]})")
        parts.scheduler.step()
        if seen:
            (folder / "indices").mkdir(exist_ok=True)
            atomic_write(folder / "indices" / f"rank{info.rank}-epoch{epoch:03d}.npy",
                         lambda f: np.save(f, np.concatenate(seen)))
            seen.clear()
        row = {f"train.{k}": v for k, v in stats.items()} | {"train.lr": lr}
        if eval_sets is not None and _eval_due(cfg, epoch):
            metrics = evaluate_model(model, eval_sets, device, cfg)
            row |= {f"eval.{k}": v for k, v in metrics.items()}
        barrier()
        _save(ckpt, parts, epoch, metrics, info, model_settings(cfg))
        saved = epoch
        if metrics_log is not None:
            metrics_log.log(epoch, row)
            shown = " ".join(f"{k} {100 * row[f'eval.{k}']:.1f}"
                             for k in ("rank1", "mAP", "mINP", "robust_mAP", "attention", "gradcam") if f"eval.{k}" in row)
            log.info("%s epoch %d/%d: loss %.4f acc %.3f lr %.2e %.0f img/s data-wait %.0f%% %s",
                     folder.name, epoch, cfg.train.epochs, stats["loss"], stats["acc"], lr,
                     stats["img_s"], 100 * stats["data_wait"], shown)
    if not metrics and eval_sets is not None:
        metrics = evaluate_model(model, eval_sets, device, cfg)
    return metrics if info.is_main else {}


def _diverged(cfg: Config, folder: Path, ckpt: Checkpointer, saved: int | None, what: str) -> Diverged:
    """The one-line error of a training that diverged: `what` happened, the last good
    checkpoint (written after epoch `saved`, None: none yet) is left as it was."""
    kept = (f"the last good checkpoint, {ckpt.latest} (after epoch {saved}), is kept" if saved is not None
            else "no checkpoint was written yet")
    return Diverged(f"{folder.name}: training diverged: {what}; {kept}; try a lower optim.lr "
                    f"(now {cfg.optim.lr:g}) or check the data")


def _save(ckpt: Checkpointer, parts: TrainingParts, epoch: int, metrics: dict, info: DistInfo,
          settings: dict) -> None:
    """Gather every rank's loader and RNG state; rank 0 writes the checkpoint atomically (with
    the model `settings` it was built with)."""
    ranks = gather_objects({"loader": parts.loader.state_dict(), "rng": rng_state()})
    if info.is_main:
        state = {name: part.state_dict() for name, part in parts.checkpointed().items()}
        pids = [int(pid) for pid in parts.loader.pid_list]
        ckpt.save(state | {"epoch": epoch, "metrics": metrics, "ranks": ranks, "train_pids": pids,
                           "model_settings": settings}, epoch)
    barrier()
