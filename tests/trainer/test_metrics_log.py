"""trainer.metrics_log: CSV rows, unknown metrics, truncation on resume, TensorBoard events."""
import csv

import pytest

from attention_swap_reid.trainer.metrics_log import MetricsLog


def rows(path):
    with open(path / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_rows_resume_and_events(tmp_path):
    log = MetricsLog(tmp_path, ["epoch", "train.loss", "eval.mAP"])
    for epoch in (1, 2, 3):
        log.log(epoch, {"train.loss": 1.0 / epoch})
    log.log(4, {"train.loss": 0.2, "eval.mAP": 0.5})
    got = rows(tmp_path)
    assert [r["epoch"] for r in got] == ["1", "2", "3", "4"]
    assert got[0]["eval.mAP"] == "" and float(got[3]["eval.mAP"]) == 0.5
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))

    log = MetricsLog(tmp_path, ["epoch", "train.loss", "eval.mAP"], resume_epoch=2)
    log.log(3, {"train.loss": 0.3})
    assert [(r["epoch"], r["train.loss"]) for r in rows(tmp_path)] == [("1", "1.0"), ("2", "0.5"), ("3", "0.3")]


def test_bad_columns_and_metrics(tmp_path):
    with pytest.raises(ValueError, match="must start with 'epoch'"):
        MetricsLog(tmp_path, ["loss"])
    log = MetricsLog(tmp_path, ["epoch", "loss"])
    with pytest.raises(KeyError, match="unknown metric"):
        log.log(1, {"acc": 1.0})


def scalars(folder, tag):
    """(step, value) of `tag` as TensorBoard reads the folder (resumes purged)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    return [(e.step, round(e.value, 6)) for e in events.Scalars(tag)]


def test_tensorboard_reads_the_events_and_drops_those_after_a_resume(tmp_path):
    log = MetricsLog(tmp_path, ["epoch", "train.loss", "eval.mAP"])
    for epoch in (1, 2, 3):
        log.log(epoch, {"train.loss": 1.0 / epoch})
    log.log(4, {"train.loss": 0.2, "eval.mAP": 0.5})
    assert scalars(tmp_path, "train/loss") == [(1, 1.0), (2, 0.5), (3, 0.333333), (4, 0.2)]
    assert scalars(tmp_path, "eval/mAP") == [(4, 0.5)]
    log = MetricsLog(tmp_path, ["epoch", "train.loss", "eval.mAP"], resume_epoch=2)
    log.log(3, {"train.loss": 0.3})
    assert scalars(tmp_path, "train/loss") == [(1, 1.0), (2, 0.5), (3, 0.3)]


def test_a_full_disk_leaves_no_part_of_a_row_or_an_event(tmp_path, full_disk):
    from attention_swap_reid.trainer.disk import DiskError

    log = MetricsLog(tmp_path, ["epoch", "train.loss"])
    log.log(1, {"train.loss": 1.0})
    csv_before = (tmp_path / "metrics.csv").read_bytes()
    [events] = (tmp_path / "tensorboard").iterdir()
    events_before = events.read_bytes()
    full_disk(tmp_path, free=4)
    with pytest.raises(DiskError, match=r"metrics.csv: cannot write: No space left on device$"):
        log.log(2, {"train.loss": 0.5})
    assert (tmp_path / "metrics.csv").read_bytes() == csv_before
    full_disk(tmp_path / "tensorboard", free=4)
    with pytest.raises(DiskError, match=rf"{events.name}: cannot write: No space left on device$"):
        log.log(2, {"train.loss": 0.5})
    assert events.read_bytes() == events_before
    full_disk.free()
    assert scalars(tmp_path, "train/loss") == [(1, 1.0)]
