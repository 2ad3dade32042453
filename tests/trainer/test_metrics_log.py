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
    log.close()
    got = rows(tmp_path)
    assert [r["epoch"] for r in got] == ["1", "2", "3", "4"]
    assert got[0]["eval.mAP"] == "" and float(got[3]["eval.mAP"]) == 0.5
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))

    log = MetricsLog(tmp_path, ["epoch", "train.loss", "eval.mAP"], resume_epoch=2)
    log.log(3, {"train.loss": 0.3})
    log.close()
    assert [(r["epoch"], r["train.loss"]) for r in rows(tmp_path)] == [("1", "1.0"), ("2", "0.5"), ("3", "0.3")]


def test_bad_columns_and_metrics(tmp_path):
    with pytest.raises(ValueError, match="must start with 'epoch'"):
        MetricsLog(tmp_path, ["loss"])
    log = MetricsLog(tmp_path, ["epoch", "loss"])
    with pytest.raises(KeyError, match="unknown metric"):
        log.log(1, {"acc": 1.0})
    log.close()
