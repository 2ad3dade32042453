"""dali_pipes.sources: what the training source hands DALI per batch, and how the pipeline cuts it
back into fields (`pipeline.source_inputs`)."""
import pickle

import numpy as np
import pytest
from nvidia.dali.pipeline import Pipeline
from nvidia.dali.types import BatchInfo

from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.dali_pipes.pipeline import source_inputs
from attention_swap_reid.dali_pipes.sampler import PKSampler
from attention_swap_reid.dali_pipes.sources import FLOAT_FIELDS, INTEGER_FIELDS, BotOptions, TrainSource


def _source(manifest, with_masks, num_shards=1, shard_id=0, identities=2):
    samples = read_manifest(manifest, ["train"])
    pids = np.array([s.pid for s in samples])
    labels = np.searchsorted(np.unique(pids), pids)
    sampler = PKSampler(pids, identities, 2, seed=0, num_shards=num_shards, shard_id=shard_id)
    return samples, labels, TrainSource(samples, labels, sampler, (32, 16), BotOptions(), with_masks=with_masks)


def fields(source: TrainSource, rows: np.ndarray) -> dict:
    """The fields of a batch of rows, read off `source.layout`."""
    layout = source.layout
    integers = rows[:, : layout.floats_at].copy().view(np.int64)
    out = {name: integers[:, k] for k, name in enumerate(INTEGER_FIELDS)}
    floats = rows[:, layout.floats_at: layout.image_at].copy().view(np.float32)
    start = 0
    for name, width in FLOAT_FIELDS.items():
        out[name] = floats[:, start: start + width]
        start += width
    out["image"] = [row[layout.image_at: layout.image_at + n] for row, n in zip(rows, out["image_length"])]
    out["mask"] = [row[layout.mask_at: layout.mask_at + n] for row, n in zip(rows, out["mask_length"])]
    return out


def test_a_row_holds_the_labels_the_position_the_draws_and_the_files(good_manifest):
    samples, labels, source = _source(good_manifest, with_masks=True)
    rows = source(BatchInfo(0, 0))
    assert rows.dtype == np.uint8 and rows.shape == (4, source.layout.row_bytes)
    batch = fields(source, rows)
    idx = batch["index"]
    for k, row in enumerate(idx):  # the files of the sampled rows, byte for byte
        assert np.array_equal(batch["image"][k], np.fromfile(samples[row].image, np.uint8))
        assert np.array_equal(batch["mask"][k], np.fromfile(samples[row].mask, np.uint8))
    assert batch["pid"].tolist() == [samples[i].pid for i in idx]
    assert batch["camid"].tolist() == [samples[i].camid for i in idx]
    assert batch["viewpoint"].tolist() == [samples[i].viewpoint for i in idx]
    assert batch["label"].tolist() == labels[idx].tolist()
    assert batch["position"].tolist() == [0, 1, 2, 3]
    assert set(batch["flip"].tolist()) <= {0, 1} and batch["crop_anchor"].shape == (4, 2)
    assert ((batch["crop_anchor"] >= -10) & (batch["crop_anchor"] <= 10)).all()
    longest = max(len(np.fromfile(s.image, np.uint8)) for s in samples)
    assert source.layout.image_at + longest == source.layout.mask_at  # room for the longest file exactly


def test_positions_are_global_across_shards_and_masks_are_optional(good_manifest):
    _, _, shard1 = _source(good_manifest, with_masks=False, num_shards=2, shard_id=1, identities=1)
    assert shard1.layout.mask_bytes == 0
    batch = fields(shard1, shard1(BatchInfo(0, 0)))
    assert batch["position"].tolist() == [2, 3]  # step 0 of shard 1: after shard 0's 2 samples
    assert batch["mask_length"].tolist() == [0, 0]


def test_a_batch_is_a_function_of_the_epoch_and_its_step(good_manifest):
    """DALI's BatchInfo names the batch: `iteration` in DALI's epoch `epoch_idx`, counted from
    `first_epoch`. Any call order, any copy (worker processes get a pickled one) gives the same
    batch; past the epoch's last batch: StopIteration."""
    _, _, source = _source(good_manifest, with_masks=True, identities=1)
    source.first_epoch = 3
    steps = len(source.plan(4))
    assert steps > 1
    second_of_4 = source(BatchInfo(1, 1))
    source(BatchInfo(0, 0))  # epoch 3 in between
    copy = pickle.loads(pickle.dumps(source))
    assert np.array_equal(copy(BatchInfo(1, 1)), second_of_4) and np.array_equal(source(BatchInfo(1, 1)), second_of_4)
    assert fields(source, second_of_4)["index"].tolist() == source.plan(4)[1].tolist()
    assert not np.array_equal(source(BatchInfo(1, 0)), second_of_4)  # epoch 3's second batch
    with pytest.raises(StopIteration):
        source(BatchInfo(steps, 1))


def test_the_pipeline_cuts_the_rows_back_into_fields(good_manifest):
    _, _, source = _source(good_manifest, with_masks=True)
    pipe = Pipeline(batch_size=4, num_threads=1, device_id=None, seed=0)
    with pipe:
        nodes = source_inputs(source, source.layout, with_masks=True)
        pipe.set_outputs(*nodes.values())
    outputs = dict(zip(nodes, pipe.run()))
    expected = fields(source, source(BatchInfo(0, 0)))
    for name, got in outputs.items():
        values = [np.array(got[k]) for k in range(4)]
        if name in ("image", "mask"):
            assert all(np.array_equal(v, e) for v, e in zip(values, expected[name])), name
        else:
            assert np.array_equal(np.stack(values), expected[name]), name
    assert outputs["flip"].as_array().dtype == np.int32 and outputs["pid"].as_array().dtype == np.int64
