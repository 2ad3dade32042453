"""`ReIDLoader` (training) and `EvalLoader` (query/gallery): DALI pipelines behind a torch-style
iterable of dicts of tensors, for any PyTorch trainer (docs/design.md)."""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import torch
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from attention_swap_reid.dali_pipes import torch_augs
from attention_swap_reid.dali_pipes.augment_op import AugmentOp
from attention_swap_reid.dali_pipes.checked import CheckedManifest, checked_manifest
from attention_swap_reid.dali_pipes.cuda_flavour import warn_on_mismatch
from attention_swap_reid.dali_pipes.devices import resolve_device
from attention_swap_reid.dali_pipes.in_flight import InFlight
from attention_swap_reid.dali_pipes.manifest import UNMASKED_ACTIONS, Sample
from attention_swap_reid.dali_pipes.mask_bank import MaskBank
from attention_swap_reid.dali_pipes.output_format import OutputFormat
from attention_swap_reid.dali_pipes.pipeline import eval_pipeline, train_pipeline
from attention_swap_reid.dali_pipes.placement import Placement
from attention_swap_reid.dali_pipes.sampler import PKSampler
from attention_swap_reid.dali_pipes.sizes import parse_size
from attention_swap_reid.dali_pipes.sources import BotOptions, EvalSource, TrainSource
from attention_swap_reid.kernels import AttentionAugment, AugmentConfig, bot_tail

warn_on_mismatch()  # DALI / CuPy of another CUDA major than torch's: one warning, at import

OPTIONS = {"bot": BotOptions, "output": OutputFormat, "placement": Placement}
"""The loaders' grouped options: parameter name -> the class its value must be."""


def _check_options(**given) -> None:
    """Each grouped option (`OPTIONS`) is an instance of its class (which checks its own fields)."""
    for name, value in given.items():
        kind = OPTIONS[name]
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be a dali_pipes.{kind.__name__} (e.g. {name}={kind.__name__}()), "
                            f"got {type(value).__name__}")


def _checked(manifest, split: str, validate: bool, **options) -> CheckedManifest:
    """`manifest` as a `CheckedManifest`: one already, rows (a list of `Sample`), or a path
    checked here (for `split` only)."""
    if isinstance(manifest, CheckedManifest):
        return manifest
    if isinstance(manifest, (list, tuple)):
        return CheckedManifest.of_samples(manifest, split)
    return checked_manifest(manifest, [split], validate=validate, **options)


class _DaliEpochs:
    """Runs a pipeline epoch by epoch through `DALIGenericIterator` (built on first use, reset
    between epochs, rebuilt when an epoch was left unfinished)."""

    def __init__(self, build):
        self._build = build
        self._iterator = None
        self._finished = False
        self._next = None  # the number the pass after the last finished one has

    def epoch(self, before_start=lambda: None, number: int | None = None) -> Iterator[dict]:
        """One pass. `number` (the loader's epoch): the pipeline's sources count passes from its
        build, so it is rebuilt unless this is the pass after the last finished one."""
        if self._iterator is not None and (not self._finished or number != self._next):
            self._iterator = None  # an unfinished epoch, or not the next one: start from a fresh pipeline
        before_start()
        if self._iterator is None:
            pipe, names = self._build()
            self._iterator = DALIGenericIterator(pipe, names, auto_reset=False)
        else:
            self._iterator.reset()
        self._finished = False
        for outputs in self._iterator:
            yield outputs[0]
        self._finished = True
        self._next = None if number is None else number + 1


class ReIDLoader:
    """PK-sampled training batches with the attention augmentation, as torch tensors.

    Each epoch is a pure function of ``(seed, epoch, shard_id, num_shards)`` and the
    augmentation's own seed; the epoch advances by one after each full pass unless
    `set_epoch` says otherwise. Batches (dict, tensors on the loader's device)::

        images      (B, 3, H, W) float32, ImageNet-normalized (or as `output` says)
        labels      (B,) int64   contiguous training label 0..num_classes-1
        pids, camids, viewpoints, indices, donor_pids   (B,) int64
        swapped     (B,) bool
        masks       (B, H, W, 1) uint8 {0, 1}, after the same flip/crop (return_masks=True only)

    Example::

        ReIDLoader("manifest.csv", batch_size=64, num_instances=4, augment=AugmentConfig(p=0.5),
                   output=OutputFormat(normalize=False), placement=Placement(num_threads=4))

    Parameters (all but `manifest` keyword-only; a wrong value raises a one-line error naming it):
        manifest (str | os.PathLike | CheckedManifest | list[Sample]): a manifest path, whose
            `split` rows are checked (files decode, masks fit) before anything runs (bad input
            raises `ManifestError` naming every bad row); or a `CheckedManifest`
            (`dali_pipes.checked`: a run checks its manifest once and gives it to all its
            loaders); or a list of `Sample` the caller has checked.
        split (str, default "train"): the manifest split to train on: "train", "query" or "gallery".
        batch_size (int, default 64): images per batch, a multiple of `num_instances`.
        num_instances (int, default 4): images per identity in a batch (K of PK sampling;
            P = batch_size // num_instances identities).
        size (tuple[int, int] | str, default (256, 128)): output (H, W), or "HxW" such as "256x128".
        augment (AugmentConfig | None, default None): the attention augmentation
            (`kernels.AugmentConfig`); None or p = 0 trains without it.
        device (str, default "auto"): where DALI runs and the batches live: "cpu", "gpu" or
            "cuda" (torch's current GPU), "cuda:N", or "auto" (the GPU if torch sees one).
        shard_id (int, default 0): this process's shard, 0 <= shard_id < num_shards.
        num_shards (int, default 1): processes sharing the epoch (one per rank under torchrun);
            each gets a disjoint part of every epoch.
        seed (int, default 0): seed of the PK sampling and of the BoT draws.
        letterbox (bool, default False): pad each image to the output's aspect ratio by edge
            replication before resizing, instead of stretching it.
        bot (BotOptions, default BotOptions()): the BoT augmentation's flip and erasing
            probabilities and padding before the crop (`dali_pipes.BotOptions`).
        return_masks (bool, default False): also yield ``masks``, flipped and cropped as the images.
        output (OutputFormat, default OutputFormat()): how images are delivered
            (`dali_pipes.OutputFormat`): `normalize=False` gives float pixels in 0-255 (what
            fast-reid's models take), `dtype` "float16" / "bfloat16" halves the batch,
            `channels_last` gives channels_last tensors; applied inside the tail, except bfloat16
            in DALI, which is a cast of the float32 result.
        unmasked (str, default "error"): training rows without a person mask (none given, or an
            empty one: a detector found nobody) are an error ("error"), train without the
            augmentation and are never donors ("keep"), or are left out ("drop");
            `unmasked_rows` lists their manifest row numbers.
        validate (bool, default True): with a manifest path, decode every file of `split` to
            check it first (False only parses the manifest); ignored for checked rows.
        placement (Placement, default Placement()): where the work runs, none of which changes a
            batch (`dali_pipes.Placement`): the augmentation in the DALI graph or after the
            iterator, masks from a mask bank or PNG, the source's worker processes (the files of
            each batch are read there, never on the main thread), DALI's threads and prefetch.
    """

    def __init__(self, manifest: str | os.PathLike | CheckedManifest | list[Sample], *, split: str = "train",
                 batch_size: int = 64, num_instances: int = 4, size: tuple[int, int] | str = (256, 128),
                 augment: AugmentConfig | None = None, device: str = "auto", shard_id: int = 0,
                 num_shards: int = 1, seed: int = 0, letterbox: bool = False, bot: BotOptions = BotOptions(),
                 return_masks: bool = False, output: OutputFormat = OutputFormat(), unmasked: str = "error",
                 validate: bool = True, placement: Placement = Placement()):
        if augment is not None and not isinstance(augment, AugmentConfig):
            raise TypeError(f"augment must be a kernels.AugmentConfig (e.g. AugmentConfig(**settings)) or None, "
                            f"got {type(augment).__name__}")
        _check_options(bot=bot, output=output, placement=placement)
        if unmasked not in UNMASKED_ACTIONS:
            raise ValueError(f"unmasked must be one of {list(UNMASKED_ACTIONS)}, got {unmasked!r}")
        size = parse_size(size)
        if batch_size % num_instances:
            raise ValueError(f"batch_size ({batch_size}) must be a multiple of num_instances ({num_instances})")
        self.bot, self.output, self.placement = bot, output, placement
        self.device_id = resolve_device(device)
        self.augment_in = augment_in = placement.resolved(gpu=self.device_id is not None)
        augmenting = augment is not None and augment.p > 0
        checked = _checked(manifest, split, validate, masks=augmenting or return_masks, unmasked=unmasked)
        self.samples = checked.rows(split, drop_unmasked=augmenting and unmasked == "drop")
        self.unmasked_rows = list(checked.unmasked_rows) if augmenting or return_masks else []
        pids = np.array([s.pid for s in self.samples])
        self.pid_list = sorted(set(pids.tolist()))
        labels = np.searchsorted(self.pid_list, pids)
        sampler = PKSampler(pids, batch_size // num_instances, num_instances, seed=seed,
                            shard_id=shard_id, num_shards=num_shards)
        self.size = size
        self._return_masks = return_masks
        self._bank = None
        if augmenting and placement.mask_source == "bank":
            self._bank = MaskBank.build(self.samples, self.size, letterbox=letterbox,
                                        num_threads=placement.num_threads)
        self._source = TrainSource(self.samples, labels, sampler, self.size, bot,
                                   with_masks=(augmenting and self._bank is None) or return_masks)
        in_graph = augment_in == "pipeline"
        self._augment = None
        self._running_epoch = 0  # the epoch of the pass under way

        def build():
            self._source.first_epoch = self._running_epoch  # its workers count the epochs from here
            if augmenting:  # a fresh pipeline starts with a fresh donor bank
                self._augment = AttentionAugment(augment, backend="numpy" if self.device_id is None else "cupy")
            op = AugmentOp(self._augment, lambda: self._running_epoch, self._bank) if in_graph and self._augment \
                else None
            return train_pipeline(self._source, batch_size=batch_size, size=self.size, augment_op=op,
                                  device_id=self.device_id, num_threads=placement.num_threads, seed=seed,
                                  letterbox=letterbox, bot=in_graph, return_masks=return_masks,
                                  prefetch=placement.prefetch, output=self.output,
                                  source_workers=placement.source_workers)

        self._epochs = _DaliEpochs(build)
        self._after_iterator = None if in_graph else self._augment_and_finish
        self._in_flight = None if self.device_id is None else InFlight()  # DALI's batches live until the GPU read them
        self._lengths: dict[int, int] = {}
        self.epoch = 0

    @property
    def num_classes(self) -> int:
        return len(self.pid_list)

    @property
    def batch_size(self) -> int:
        return self._source.sampler.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next pass samples (and augments) for."""
        self.epoch = int(epoch)

    def epoch_plan(self, epoch: int | None = None) -> np.ndarray:
        """(num_batches, B) row indices (into `samples`) of an epoch, without decoding anything."""
        return self._source.plan(self.epoch if epoch is None else epoch)

    def __len__(self) -> int:
        if self.epoch not in self._lengths:
            self._lengths[self.epoch] = len(self.epoch_plan())
        return self._lengths[self.epoch]

    def __iter__(self) -> Iterator[dict]:
        epoch = self.epoch

        def start():
            self._running_epoch = epoch

        dali_memory = None  # the last batch's tensors in DALI's memory, GPU mode
        for batch in self._epochs.epoch(start, number=epoch):
            if self._in_flight is not None:
                if dali_memory is not None:  # everything queued for the last batch is queued by now
                    self._in_flight.hold(dali_memory)
                dali_memory = dict(batch)
            if self._after_iterator is not None:
                batch = self._after_iterator(batch, epoch)
            else:
                batch["images"] = self.output.from_dali(batch["images"])
                batch["swapped"] = batch["swapped"].bool()
            del batch["positions"]
            yield batch
        if dali_memory is not None:
            self._in_flight.hold(dali_memory)
        self.epoch = epoch + 1

    def _augment_and_finish(self, batch: dict, epoch: int) -> dict:
        """`augment_in="iterator"`: the augmentation and the BoT tail on the iterator's dense
        batch, on torch's current stream; on the GPU nothing here waits for the device."""
        images, masks = batch.pop("images"), batch.pop("masks", None)
        flip, anchor = batch.pop("flip"), batch.pop("crop_anchor")
        tail = self.output.tail(flip, anchor, batch.pop("erase_anchor"), batch.pop("erase_shape"))
        if self._augment is None:
            batch["images"] = self.output.cast(bot_tail(images, tail))
            batch["swapped"] = torch.zeros_like(batch["pids"], dtype=torch.bool)
            batch["donor_pids"] = torch.full_like(batch["pids"], -1)
        else:
            person = masks[..., 0] if self._bank is None else self._bank.gather(batch["indices"])
            out = self._augment(images, person, batch["pids"], batch["viewpoints"], epoch=epoch,
                                index=batch["positions"], tail=tail)
            batch["images"] = self.output.cast(out.images)
            batch["swapped"], batch["donor_pids"] = out.swapped, out.donor_pids
        if self._return_masks:
            batch["masks"] = torch_augs.flip_and_crop(masks, flip, anchor, self.size)
        return batch

    def state_dict(self) -> dict:
        s = self._source.sampler
        return {"epoch": self.epoch, "seed": s.seed, "shard_id": s.shard_id, "num_shards": s.num_shards}

    def load_state_dict(self, state: dict) -> None:
        s = self._source.sampler
        mine = {"seed": s.seed, "num_shards": s.num_shards}
        theirs = {k: state.get(k) for k in mine}
        if mine != theirs:
            raise ValueError(f"loader state was saved with {theirs}, this loader has {mine}")
        self.set_epoch(state["epoch"])


class EvalLoader:
    """Every image of one split (query or gallery) exactly once, in manifest order, no
    augmentation. Batches: ``images`` (B, 3, H, W) float32 normalized (or as `output` says),
    ``pids``, ``camids``, ``indices`` (B,) int64 (row index into `samples`); with
    ``flip_test=True`` also ``images_flipped`` (the horizontal mirror, for flip-test feature
    averaging); with ``return_masks=True`` also ``masks`` (B, H, W, 1) uint8 {0, 1}, resized as
    in training (empty where a row has none).

    Parameters (all but `manifest` and `split` keyword-only; a wrong value raises a one-line
    error naming it):
        manifest (str | os.PathLike | CheckedManifest | list[Sample]): a manifest path, whose
            `split` rows are checked first (bad input raises `ManifestError` naming every bad
            row); or a `CheckedManifest`; or a list of `Sample` the caller has checked.
        split (str, default "query"): the split to read: "query", "gallery" or "train".
        batch_size (int, default 128): images per batch (the last one may be smaller).
        size (tuple[int, int] | str, default (256, 128)): output (H, W), or "HxW" such as "256x128".
        device (str, default "auto"): where DALI runs and the batches live: "cpu", "gpu" or
            "cuda" (torch's current GPU), "cuda:N", or "auto" (the GPU if torch sees one).
        letterbox (bool, default False): pad each image to the output's aspect ratio by edge
            replication before resizing, instead of stretching it (as the training loader did).
        flip_test (bool, default False): also yield ``images_flipped``.
        return_masks (bool, default False): also yield ``masks``; the rows' masks are checked too.
        output (OutputFormat, default OutputFormat()): how images are delivered, as for
            `ReIDLoader` (`dali_pipes.OutputFormat`: normalize, dtype, channels_last).
        validate (bool, default True): with a manifest path, decode every file of `split` to
            check it first (False only parses the manifest); ignored for checked rows.
        placement (Placement, default Placement()): DALI's threads and prefetch depth
            (`dali_pipes.Placement`; its other fields concern the training loader only).
    """

    def __init__(self, manifest: str | os.PathLike | CheckedManifest | list[Sample], split: str = "query", *,
                 batch_size: int = 128, size: tuple[int, int] | str = (256, 128), device: str = "auto",
                 letterbox: bool = False, flip_test: bool = False, return_masks: bool = False,
                 output: OutputFormat = OutputFormat(), validate: bool = True, placement: Placement = Placement()):
        _check_options(output=output, placement=placement)
        size = parse_size(size)
        self.output, self.placement = output, placement
        self.device_id = resolve_device(device)
        self.samples = _checked(manifest, split, validate, masks=return_masks).rows(split)
        self.flip_test = flip_test
        self.returns_masks = return_masks
        source = EvalSource(self.samples, batch_size, with_masks=return_masks)
        self._len = len(source)
        self._epochs = _DaliEpochs(lambda: eval_pipeline(
            source, batch_size=batch_size, size=size, device_id=self.device_id, num_threads=placement.num_threads,
            letterbox=letterbox, prefetch=placement.prefetch, output=self.output))

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[dict]:
        for batch in self._epochs.epoch():
            batch["images"] = self.output.from_dali(batch["images"])
            if self.flip_test:
                batch["images_flipped"] = torch.flip(batch["images"], dims=[3])
            yield batch
