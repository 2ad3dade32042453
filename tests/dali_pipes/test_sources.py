"""dali_pipes.sources: what the training source hands DALI per batch."""
import numpy as np

from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.dali_pipes.sampler import PKSampler
from attention_swap_reid.dali_pipes.sources import TRAIN_OUTPUTS, BotOptions, TrainSource


def _source(manifest, with_masks, num_shards=1, shard_id=0, identities=2):
    samples = read_manifest(manifest, ["train"])
    pids = np.array([s.pid for s in samples])
    labels = np.searchsorted(np.unique(pids), pids)
    sampler = PKSampler(pids, identities, 2, seed=0, num_shards=num_shards, shard_id=shard_id)
    return samples, labels, TrainSource(samples, labels, sampler, (32, 16), BotOptions(), with_masks=with_masks)


def test_every_field_but_the_files_is_one_dense_array_per_batch(good_manifest):
    samples, labels, source = _source(good_manifest, with_masks=True)
    batch = dict(zip(TRAIN_OUTPUTS, next(iter(source))))
    idx = batch["index"]
    assert isinstance(batch["image"], list) and isinstance(batch["mask"], list) and len(batch["image"]) == 4
    for k, row in enumerate(idx):  # the files of the sampled rows, byte for byte
        assert np.array_equal(batch["image"][k], np.fromfile(samples[row].image, np.uint8))
        assert np.array_equal(batch["mask"][k], np.fromfile(samples[row].mask, np.uint8))
    for name in ("pid", "camid", "viewpoint", "label", "index", "position"):
        assert isinstance(batch[name], np.ndarray) and batch[name].shape == (4,) and batch[name].dtype == np.int64
    assert batch["pid"].tolist() == [samples[i].pid for i in idx]
    assert batch["camid"].tolist() == [samples[i].camid for i in idx]
    assert batch["viewpoint"].tolist() == [samples[i].viewpoint for i in idx]
    assert batch["label"].tolist() == labels[idx].tolist()
    assert batch["position"].tolist() == [0, 1, 2, 3]
    assert batch["flip"].shape == (4,) and batch["crop_anchor"].shape == (4, 2)


def test_positions_are_global_across_shards_and_masks_are_optional(good_manifest):
    _, _, shard1 = _source(good_manifest, with_masks=False, num_shards=2, shard_id=1, identities=1)
    outputs = next(iter(shard1))
    assert len(outputs) == len(TRAIN_OUTPUTS) - 1
    batch = dict(zip([n for n in TRAIN_OUTPUTS if n != "mask"], outputs))
    assert batch["position"].tolist() == [2, 3]  # step 0 of shard 1: after shard 0's 2 samples
