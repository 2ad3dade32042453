"""dali_pipes.adapters read by faithful copies of the lines of fast-reid's and torchreid's
engines that touch the data loaders and batches (each copy names its file)."""
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes import EvalLoader, OutputFormat, Placement, ReIDLoader, read_manifest
from attention_swap_reid.dali_pipes.adapters import (FastReIDTrainLoader, TorchreidDataManager,
                                                     fastreid_test_loader)
from attention_swap_reid.dali_pipes.output_format import IMAGENET_MEAN, IMAGENET_STD
from attention_swap_reid.kernels import AugmentConfig

SIZE = (64, 32)


ONE_THREAD = Placement(num_threads=1)


def train_loader(manifest, normalize):
    return ReIDLoader(manifest, batch_size=8, num_instances=4, size=SIZE, device="cpu", placement=ONE_THREAD,
                      output=OutputFormat(normalize=normalize))


def eval_loader(manifest, split, normalize):
    return EvalLoader(manifest, split, batch_size=5, size=SIZE, device="cpu", placement=ONE_THREAD,
                      output=OutputFormat(normalize=normalize))


class FastReIDBaselinePreprocess:
    """fastreid/modeling/meta_arch/baseline.py `Baseline.preprocess_image` and the training
    branch of `forward` (what it does with the batch before the backbone)."""

    pixel_mean = torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1)  # fast-reid's default PIXEL_MEAN
    pixel_std = torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)

    def preprocess_image(self, batched_inputs):
        if isinstance(batched_inputs, dict):
            images = batched_inputs['images']
        elif isinstance(batched_inputs, torch.Tensor):
            images = batched_inputs
        else:
            raise TypeError("batched_inputs must be dict or torch.Tensor, but get {}".format(type(batched_inputs)))
        images.sub_(self.pixel_mean).div_(self.pixel_std)
        return images

    def training_targets(self, batched_inputs):
        assert "targets" in batched_inputs, "Person ID annotation are missing in training!"
        targets = batched_inputs["targets"]
        if targets.sum() < 0: targets.zero_()  # noqa: E701 -- as written there
        return targets


def test_fastreid_trainer_reads_an_endless_train_loader(tiny_world):
    loader = train_loader(tiny_world, normalize=False)
    data_loader = FastReIDTrainLoader(loader)
    ims_per_batch = 8
    # fastreid/engine/defaults.py DefaultTrainer.__init__
    num_classes = data_loader.dataset.num_classes
    iters_per_epoch = len(data_loader.dataset) // ims_per_batch
    # fastreid/engine/train_loop.py SimpleTrainer.__init__ / run_step
    _data_loader_iter = iter(data_loader)
    model = FastReIDBaselinePreprocess()
    cameras = sorted({s.camid for s in loader.samples})
    for _ in range(len(loader) + 2):  # past the end of the loader's first epoch
        data = next(_data_loader_iter)
        assert data["images"].min() >= 0 and data["images"].max() > 1  # pixels in 0-255
        images = model.preprocess_image(data)
        targets = model.training_targets(data)
        assert images.shape == (8, 3, *SIZE) and images.dtype == torch.float32
        assert targets.dtype == torch.int64 and 0 <= int(targets.min()) and int(targets.max()) < num_classes
        assert set(data["camids"].tolist()) <= set(range(len(cameras)))
    assert loader.epoch >= 1
    assert num_classes == loader.num_classes and iters_per_epoch == len(loader.samples) // 8
    assert data_loader.dataset.num_cameras == len(cameras)


class FastReIDReidEvaluator:
    """fastreid/evaluation/reid_evaluation.py `ReidEvaluator.process` and the query/gallery split
    of `evaluate`."""

    def __init__(self, num_query):
        self._num_query = num_query
        self._predictions = []
        self._cpu_device = torch.device("cpu")

    def process(self, inputs, outputs):
        prediction = {
            'feats': outputs.to(self._cpu_device, torch.float32),
            'pids': inputs['targets'].to(self._cpu_device),
            'camids': inputs['camids'].to(self._cpu_device)
        }
        self._predictions.append(prediction)

    def split(self):
        features, pids, camids = [], [], []
        for prediction in self._predictions:
            features.append(prediction['feats'])
            pids.append(prediction['pids'])
            camids.append(prediction['camids'])
        features = torch.cat(features, dim=0)
        pids = torch.cat(pids, dim=0).numpy()
        camids = torch.cat(camids, dim=0).numpy()
        return ((features[:self._num_query], pids[:self._num_query], camids[:self._num_query]),
                (features[self._num_query:], pids[self._num_query:], camids[self._num_query:]))


def test_fastreid_evaluation_reads_query_then_gallery(tiny_world):
    data_loader, num_query = fastreid_test_loader(eval_loader(tiny_world, "query", False),
                                                  eval_loader(tiny_world, "gallery", False))
    query, gallery = read_manifest(tiny_world, ["query"]), read_manifest(tiny_world, ["gallery"])
    normalized = torch.cat([b["images"] for split in ("query", "gallery")
                            for b in eval_loader(tiny_world, split, True)])
    # fastreid/evaluation/evaluator.py inference_on_dataset
    assert len(data_loader.dataset) == len(query) + len(gallery)
    total = len(data_loader)
    evaluator = FastReIDReidEvaluator(num_query)
    model, seen, paths = FastReIDBaselinePreprocess(), [], []
    for idx, inputs in enumerate(data_loader):
        outputs = model.preprocess_image(inputs)  # the "features": the model's normalized input
        seen.append(outputs.clone())
        paths += inputs["img_paths"]
        evaluator.process(inputs, outputs.flatten(1))
    assert idx + 1 == total and num_query == len(query)
    torch.testing.assert_close(torch.cat(seen), normalized, atol=1e-4, rtol=1e-5)  # 0-255 in, same as ours after
    (_, q_pids, q_camids), (_, g_pids, g_camids) = evaluator.split()
    assert q_pids.tolist() == [s.pid for s in query] and g_camids.tolist() == [s.camid for s in gallery]
    assert paths == [s.image for s in query + gallery]


def test_fastreid_refuses_normalized_loaders(tiny_world):
    with pytest.raises(ValueError, match=r"fast-reid takes float pixels in 0-255 .* ReIDLoader with "
                                         r"output=OutputFormat\(normalize=False\)"):
        FastReIDTrainLoader(train_loader(tiny_world, normalize=True))
    with pytest.raises(ValueError, match=r"build the EvalLoader with output=OutputFormat\(normalize=False\)"):
        fastreid_test_loader(eval_loader(tiny_world, "query", True), eval_loader(tiny_world, "gallery", False))


class TorchreidEngine:
    """torchreid/engine/engine.py `Engine`: what `__init__`, `train`, `test` / `_evaluate` and
    `parse_data_for_train` / `parse_data_for_eval` read from the datamanager and its batches."""

    def __init__(self, datamanager, model):
        self.datamanager = datamanager
        self.train_loader = self.datamanager.train_loader
        self.test_loader = self.datamanager.test_loader
        self.model = model

    def parse_data_for_train(self, data):
        imgs = data['img']
        pids = data['pid']
        return imgs, pids

    def parse_data_for_eval(self, data):
        imgs = data['img']
        pids = data['pid']
        camids = data['camid']
        return imgs, pids, camids

    def train(self):
        self.num_batches = len(self.train_loader)
        seen = []
        for self.batch_idx, data in enumerate(self.train_loader):
            imgs, pids = self.parse_data_for_train(data)
            seen.append((imgs, pids))
        return seen

    def test(self):
        results = {}
        targets = list(self.test_loader.keys())
        for name in targets:
            domain = 'source' if name in self.datamanager.sources else 'target'
            query_loader = self.test_loader[name]['query']
            gallery_loader = self.test_loader[name]['gallery']
            results[name] = (domain, self._feature_extraction(query_loader), self._feature_extraction(gallery_loader))
        return results

    def _feature_extraction(self, data_loader):
        f_, pids_, camids_ = [], [], []
        for batch_idx, data in enumerate(data_loader):
            imgs, pids, camids = self.parse_data_for_eval(data)
            features = self.model(imgs)
            features = features.data.cpu()
            f_.append(features)
            pids_.extend(pids)
            camids_.extend(camids)
        f_ = torch.cat(f_, 0)
        pids_ = np.asarray(pids_)
        camids_ = np.asarray(camids_)
        return f_, pids_, camids_


def test_torchreid_engine_trains_and_tests_on_the_datamanager(tiny_world):
    train = train_loader(tiny_world, normalize=True)
    datamanager = TorchreidDataManager(train, eval_loader(tiny_world, "query", True),
                                       eval_loader(tiny_world, "gallery", True), name="synth")
    engine = TorchreidEngine(datamanager, model=lambda imgs: imgs.mean(dim=(2, 3)))
    assert datamanager.num_train_pids == train.num_classes
    assert datamanager.num_train_cams == len({s.camid for s in train.samples})
    for epoch in range(2):  # the engine iterates the train loader once per epoch
        batches = len(train)  # this epoch's (PK sampling: epochs differ by a batch or so)
        seen = engine.train()
        assert len(seen) == engine.num_batches == batches and train.epoch == epoch + 1
    imgs, pids = seen[0]
    assert imgs.shape == (8, 3, *SIZE) and imgs.min() < 0  # ImageNet-normalized
    assert 0 <= int(pids.min()) and int(pids.max()) < datamanager.num_train_pids

    (domain, (qf, q_pids, q_camids), (gf, g_pids, g_camids)), = engine.test().values()
    query, gallery = read_manifest(tiny_world, ["query"]), read_manifest(tiny_world, ["gallery"])
    assert domain == "source" and qf.shape == (len(query), 3) and gf.shape == (len(gallery), 3)
    assert q_pids.tolist() == [s.pid for s in query] and g_camids.tolist() == [s.camid for s in gallery]
    # torchreid's visualize_ranked_results reads (path, pid, camid) tuples and the size
    q_items, g_items = datamanager.fetch_test_loaders("synth")
    assert q_items[0] == (query[0].image, query[0].pid, query[0].camid) and len(g_items) == len(gallery)
    assert (datamanager.data_type, datamanager.height, datamanager.width) == ("image", *SIZE)


def test_torchreid_refuses_raw_pixel_loaders(tiny_world):
    with pytest.raises(ValueError, match="torchreid takes ImageNet-normalized images"):
        TorchreidDataManager(train_loader(tiny_world, normalize=False), eval_loader(tiny_world, "query", True),
                             eval_loader(tiny_world, "gallery", True))


class TorchreidRun(TorchreidEngine):
    """torchreid/engine/engine.py `Engine.run`: its epoch loop around `train` (start_epoch is
    what `resume_from_checkpoint` returns on a resumed run)."""

    def run(self, max_epoch=0, start_epoch=0):
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        seen = {}
        for self.epoch in range(self.start_epoch, self.max_epoch):
            batches = self.train()
            seen[self.epoch] = (self.num_batches, batches)
        return seen


def torchreid_run(manifest, **run):
    train = ReIDLoader(manifest, batch_size=8, num_instances=4, size=SIZE, device="cpu", placement=ONE_THREAD,
                       augment=AugmentConfig(p=0.5, min_iou=0.0, min_area_ratio=0.0, dilate=3, seed=0))
    datamanager = TorchreidDataManager(train, eval_loader(manifest, "query", True), eval_loader(manifest, "gallery", True))
    return TorchreidRun(datamanager, model=None).run(**run), train


def test_a_resumed_torchreid_run_samples_the_batches_of_an_uninterrupted_one(tiny_world):
    whole, train = torchreid_run(tiny_world, max_epoch=3)
    resumed, _ = torchreid_run(tiny_world, max_epoch=3, start_epoch=2)
    assert list(resumed) == [2]
    (num_batches, seen), (whole_num, whole_seen) = resumed[2], whole[2]
    assert num_batches == whole_num == len(train.epoch_plan(2)) == len(seen)
    assert any(len(whole[e][1]) != len(whole[2][1]) or not torch.equal(whole[e][1][0][1], whole[2][1][0][1])
               for e in (0, 1))  # the epochs differ: a replay of epoch 0 would show
    for (imgs, pids), (whole_imgs, whole_pids) in zip(seen, whole_seen):
        assert torch.equal(pids, whole_pids) and torch.equal(imgs, whole_imgs)


def test_torchreid_loaders_iterated_by_anything_else_keep_their_own_epochs(tiny_world):
    train = train_loader(tiny_world, normalize=True)
    datamanager = TorchreidDataManager(train, eval_loader(tiny_world, "query", True),
                                       eval_loader(tiny_world, "gallery", True))
    for epoch in range(2):
        assert sum(1 for _ in datamanager.train_loader) == len(train.epoch_plan(epoch)) and train.epoch == epoch + 1


class FastReIDTrainer:
    """fastreid/engine/train_loop.py `TrainerBase.train` and `SimpleTrainer.__init__` /
    `run_step` (the lines that touch the data; a resumed run starts at `start_epoch`)."""

    def __init__(self, data_loader):
        self.data_loader = data_loader
        self._data_loader_iter = iter(data_loader)
        self.seen = []

    def train(self, start_epoch, max_epoch, iters_per_epoch):
        self.iter = self.start_iter = start_epoch * iters_per_epoch
        for self.epoch in range(start_epoch, max_epoch):
            for _ in range(iters_per_epoch):
                self.run_step()
                self.iter += 1

    def run_step(self):
        data = next(self._data_loader_iter)
        self.seen.append(data)


def test_a_resumed_fastreid_run_samples_the_batches_of_an_uninterrupted_one(tiny_world):
    def run(start_epoch):
        loader = FastReIDTrainLoader(train_loader(tiny_world, normalize=False))
        trainer = FastReIDTrainer(loader)
        iters_per_epoch = len(loader.dataset) // 8 - 1  # fast-reid's epochs do not end where the loader's do
        trainer.train(start_epoch, 3, iters_per_epoch)
        return trainer.seen, iters_per_epoch, loader

    whole, iters_per_epoch, loader = run(0)
    resumed, _, _ = run(2)
    assert loader.position(2 * iters_per_epoch)[1] > 0  # resumed mid-way through an epoch of the loader
    assert len(resumed) == iters_per_epoch and len(whole) == 3 * iters_per_epoch
    for data, expected in zip(resumed, whole[2 * iters_per_epoch:]):
        assert torch.equal(data["targets"], expected["targets"]) and torch.equal(data["images"], expected["images"])
    assert not torch.equal(resumed[0]["images"], whole[0]["images"])


def test_position_counts_the_loaders_own_epochs(tiny_world):
    loader = FastReIDTrainLoader(train_loader(tiny_world, normalize=False))
    lengths = [len(loader.loader.epoch_plan(e)) for e in range(3)]
    assert loader.position(0) == (0, 0) and loader.position(lengths[0] - 1) == (0, lengths[0] - 1)
    assert loader.position(lengths[0]) == (1, 0) and loader.position(lengths[0] + lengths[1] + 1) == (2, 1)
