"""`ReIDLoader` / `EvalLoader` as the data that fast-reid's and torchreid's trainers read.

fast-reid (JDAI-CV/fast-reid) — return these from a `DefaultTrainer` subclass::

    raw = OutputFormat(normalize=False)
    build_train_loader(cfg) -> FastReIDTrainLoader(ReIDLoader(..., output=raw))
    build_test_loader(cfg, name) -> fastreid_test_loader(EvalLoader(..., "query", output=raw),
                                                         EvalLoader(..., "gallery", output=raw))

Its models subtract their own pixel mean and divide by their std, in place, so the loaders
must deliver float pixels in 0-255 (`OutputFormat(normalize=False)`); batches stay on the loader's device
("gpu" when the model is on one).

torchreid (KaiyangZhou/deep-person-reid) — give its engines a `TorchreidDataManager(train,
query, gallery)` where they take a datamanager; its models take ImageNet-normalized images
(the loaders' default).

Resuming: the training adapters take their place in the sampling from the engine that iterates
them, so that a resumed run samples (and augments) the batches an uninterrupted run would have:
torchreid's `Engine.train` sets the `ReIDLoader`'s epoch to its `epoch` (`engine.run(start_epoch=
...)`), fast-reid's `SimpleTrainer.run_step` starts the endless loader at batch `iter` of the
run. The engine is the object whose method asks for the batches (`self` of the calling frame)
and holds the adapter as its `train_loader` (torchreid) or `data_loader` (fast-reid); iterated
by anything else, the adapters go on from the loader's own epoch.
"""
from __future__ import annotations

import sys
from types import FrameType
from typing import Iterator

import torch

from attention_swap_reid.dali_pipes.loader import EvalLoader, ReIDLoader


def _check_normalize(loader, normalize: bool, framework: str) -> None:
    """Refuse a loader whose pixel format is not the one `framework`'s models take."""
    if loader.output.normalize != normalize:
        want = "ImageNet-normalized images (normalize=True)" if normalize else \
            "float pixels in 0-255 (normalize=False: its models normalize their input themselves)"
        raise ValueError(f"{framework} takes {want}; build the {type(loader).__name__} with "
                         f"output=OutputFormat(normalize={normalize})")


def _engine_count(adapter, frame: FrameType | None, holder: str, count: str) -> int | None:
    """The integer `count` attribute ("epoch", "iter") of the engine calling from `frame`: its
    `self`, when that holds `adapter` as its `holder` attribute; None for any other caller."""
    engine = frame.f_locals.get("self") if frame is not None else None
    if engine is None or getattr(engine, holder, None) is not adapter:
        return None
    value = getattr(engine, count, None)
    return value if isinstance(value, int) and value >= 0 else None


def _paths(loader: EvalLoader, batch: dict) -> list[str]:
    """Image paths of a batch's rows (reads the row indices back to the host)."""
    return [loader.samples[i].image for i in batch["indices"].tolist()]


class _Dataset:
    """What fast-reid's trainer reads from `data_loader.dataset`: `len()` (images),
    `num_classes` (identities) and `num_cameras`."""

    def __init__(self, num_images: int, num_classes: int, num_cameras: int):
        self.num_images, self.num_classes, self.num_cameras = num_images, num_classes, num_cameras

    def __len__(self) -> int:
        return self.num_images


class FastReIDTrainLoader:
    """A `ReIDLoader` (built with `output=OutputFormat(normalize=False)`) as fast-reid's training data loader.

    fast-reid's `SimpleTrainer` calls `iter()` once and `next()` at every step, and
    `DefaultTrainer` sizes an epoch as `len(loader.dataset) // IMS_PER_BATCH` and its
    classifier by `loader.dataset.num_classes` (fastreid/engine/train_loop.py, defaults.py),
    so this iterates forever, epoch after epoch of the loader, from batch `iter` of the run
    when the trainer that reads it has one (a resumed run: see the module's docstring). Batches::

        images   (B, 3, H, W) float pixels in 0-255, on the loader's device
        targets  (B,) int64 training label 0..num_classes-1
        camids   (B,) int64 camera index 0..num_cameras-1 (cameras relabelled as fast-reid's
                 CommDataset does)
    """

    def __init__(self, loader: ReIDLoader):
        _check_normalize(loader, False, "fast-reid")
        self.loader = loader
        self._cameras = torch.tensor(sorted({s.camid for s in loader.samples}))
        self.dataset = _Dataset(len(loader.samples), loader.num_classes, len(self._cameras))

    def position(self, iteration: int) -> tuple[int, int]:
        """(epoch of the loader, batches into it) of the run's batch number `iteration`."""
        epoch = 0
        while iteration >= (batches := len(self.loader.epoch_plan(epoch))):
            iteration -= batches
            epoch += 1
        return epoch, iteration

    def __iter__(self) -> Iterator[dict]:
        start = _engine_count(self, sys._getframe(1), "data_loader", "iter")
        skip = 0
        if start is not None:
            epoch, skip = self.position(start)
            self.loader.set_epoch(epoch)
        while True:
            for batch in self.loader:
                if skip:  # the resumed epoch's batches before `iter`: drawn and dropped
                    skip -= 1
                    continue
                if self._cameras.device != batch["camids"].device:  # once: onto the loader's device
                    self._cameras = self._cameras.to(batch["camids"].device)
                yield {"images": batch["images"], "targets": batch["labels"],
                       "camids": torch.searchsorted(self._cameras, batch["camids"])}


class FastReIDTestLoader:
    """Query then gallery, as fast-reid's test loader: `len()` batches, `len(dataset)` images
    (fastreid/evaluation/evaluator.py); its `ReidEvaluator` takes the first `num_query` rows as
    queries. Batches: `images` (B, 3, H, W) float pixels in 0-255, `targets` (B,) int64 person
    ids, `camids` (B,) int64 camera ids, `img_paths` list of B paths."""

    def __init__(self, query: EvalLoader, gallery: EvalLoader):
        for loader in (query, gallery):
            _check_normalize(loader, False, "fast-reid")
        self.loaders = (query, gallery)
        self.num_query = len(query.samples)
        samples = query.samples + gallery.samples
        self.dataset = _Dataset(len(samples), len({s.pid for s in samples}), len({s.camid for s in samples}))

    def __len__(self) -> int:
        return sum(len(loader) for loader in self.loaders)

    def __iter__(self) -> Iterator[dict]:
        for loader in self.loaders:
            for batch in loader:
                yield {"images": batch["images"], "targets": batch["pids"], "camids": batch["camids"],
                       "img_paths": _paths(loader, batch)}


def fastreid_test_loader(query: EvalLoader, gallery: EvalLoader) -> tuple[FastReIDTestLoader, int]:
    """`(test loader, num_query)`, what fast-reid's `build_reid_test_loader` returns."""
    loader = FastReIDTestLoader(query, gallery)
    return loader, loader.num_query


class _TorchreidLoader:
    """A loader as torchreid's engines iterate it: `len()` batches, batches with `img`, `pid`,
    `camid` (torchreid/engine/engine.py `parse_data_for_train` / `parse_data_for_eval`).

    Training batches: `img` (B, 3, H, W) normalized, `pid` (B,) int64 training label,
    `camid` (B,) int64, on the loader's device (the engine moves them to its GPU). Test
    batches: `img` likewise, `pid`, `camid` (B,) int64 on the CPU (the engine collects them
    into NumPy arrays) and `impath` (list of B paths).
    """

    def __init__(self, loader: ReIDLoader | EvalLoader):
        _check_normalize(loader, True, "torchreid")
        self.loader = loader
        self._train = isinstance(loader, ReIDLoader)

    def _follow(self, frame: FrameType | None) -> None:
        """A training loader takes the epoch of the torchreid engine calling from `frame`."""
        epoch = _engine_count(self, frame, "train_loader", "epoch") if self._train else None
        if epoch is not None:
            self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        self._follow(sys._getframe(1))  # Engine.train sizes the epoch first: the engine's epoch's size
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        self._follow(sys._getframe(1))
        for batch in self.loader:
            if self._train:
                yield {"img": batch["images"], "pid": batch["labels"], "camid": batch["camids"]}
            else:
                yield {"img": batch["images"], "pid": batch["pids"].cpu(), "camid": batch["camids"].cpu(),
                       "impath": _paths(self.loader, batch)}


class TorchreidDataManager:
    """What torchreid's engines read from a datamanager (torchreid/engine/engine.py,
    torchreid/data/datamanager.py): `train_loader`, `test_loader` {name: {"query", "gallery"}},
    `sources` / `targets` (dataset names), `num_train_pids`, `num_train_cams`, and for ranked
    pictures `fetch_test_loaders(name)`, `data_type`, `height`, `width`.

    `train` is iterated once per engine epoch, at the engine's `epoch` (so `engine.run(
    start_epoch=k)` resumes the sampling at epoch k; elsewhere it advances its own epoch);
    `name` is the one dataset name the engine reports results under.
    """

    data_type = "image"

    def __init__(self, train: ReIDLoader, query: EvalLoader, gallery: EvalLoader, name: str = "dali"):
        self.sources = self.targets = [name]
        self.height, self.width = train.size
        self.train_loader = _TorchreidLoader(train)
        self.train_loader_t = None
        self.test_loader = {name: {"query": _TorchreidLoader(query), "gallery": _TorchreidLoader(gallery)}}
        self.test_dataset = {name: {split: [(s.image, s.pid, s.camid) for s in loader.samples]
                                    for split, loader in (("query", query), ("gallery", gallery))}}
        self.num_train_pids = train.num_classes
        self.num_train_cams = len({s.camid for s in train.samples})

    def fetch_test_loaders(self, name: str) -> tuple[list, list]:
        """(query, gallery) lists of `(image path, pid, camid)` of dataset `name`."""
        return self.test_dataset[name]["query"], self.test_dataset[name]["gallery"]
