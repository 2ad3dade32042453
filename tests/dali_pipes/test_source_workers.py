"""dali_pipes.source_workers: the training source in worker processes hands DALI the same rows,
in order, epoch after epoch; a failure in a worker names the batch; the processes end with it."""
import os
import subprocess
import sys

import numpy as np
import pytest
from nvidia.dali.types import BatchInfo

from attention_swap_reid.dali_pipes.manifest import read_manifest
from attention_swap_reid.dali_pipes.sampler import PKSampler
from attention_swap_reid.dali_pipes.source_workers import SourceWorkers
from attention_swap_reid.dali_pipes.sources import BotOptions, TrainSource


def _source(manifest):
    samples = read_manifest(manifest, ["train"])
    pids = np.array([s.pid for s in samples])
    sampler = PKSampler(pids, 1, 2, seed=0)
    return TrainSource(samples, np.searchsorted(np.unique(pids), pids), sampler, (32, 16), BotOptions())


def _epoch(call, epoch_idx: int) -> list[np.ndarray]:
    batches, step = [], 0
    while True:
        try:
            batches.append(call(BatchInfo(step, epoch_idx)).copy())  # a view of a slot: valid until the next call
        except StopIteration:
            return batches
        step += 1


@pytest.mark.parametrize("workers, slots", [(1, None), (2, None), (3, 3)])
def test_the_workers_hand_over_the_sources_batches_in_order(good_manifest, workers, slots):
    source = _source(good_manifest)
    source.first_epoch = 2
    pool = SourceWorkers(source, workers, slots=slots)
    try:
        assert pool.slots >= workers + 2
        for epoch_idx in range(3):
            expected = _epoch(source, epoch_idx)
            assert len(expected) == len(source.plan(2 + epoch_idx)) > 1
            got = _epoch(pool, epoch_idx)
            assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))
    finally:
        pool.close()
    assert not any(p.is_alive() for p in pool._processes)


def test_a_file_a_worker_cannot_read_is_raised_naming_the_batch(good_manifest):
    source = _source(good_manifest)
    first = source.plan(0)[0]
    os.remove(source.samples[first[0]].image)
    pool = SourceWorkers(source, 2)
    try:
        with pytest.raises(RuntimeError, match=r"reading the training data failed in a worker process, batch 0 of "
                                               r"epoch 0: .*(No such file|FileNotFoundError)"):
            pool(BatchInfo(0, 0))
    finally:
        pool.close()


def test_workers_must_be_at_least_one(good_manifest):
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        SourceWorkers(_source(good_manifest), 0)


@pytest.mark.parametrize("how", ["script", "module"])
def test_a_users_script_without_a_main_guard_is_not_run_again_in_the_workers(tiny_world, tmp_path, how):
    """multiprocessing prepares a new process by running the parent's __main__ again (as
    __mp_main__); a training script written without `if __name__ == "__main__":` would then
    make a loader inside each worker, which fails. The workers leave it out."""
    (tmp_path / "user_train.py").write_text(
        "from attention_swap_reid.dali_pipes import ReIDLoader\n"
        "print('top level ran in', __name__, flush=True)\n"
        f"loader = ReIDLoader({str(tiny_world)!r}, size='32x16', batch_size=8, num_instances=2, device='cpu')\n"
        "print('batch of', len(next(iter(loader))['images']), flush=True)\n")
    command = [sys.executable, "user_train.py"] if how == "script" else [sys.executable, "-m", "user_train"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["top level ran in __main__", "batch of 8"]
