"""2-process `torchrun` runs on CPU (gloo): a DDP training run completes with disjoint shards;
evaluation spread over the ranks gives the single-process features and metrics; the process
group is created with an explicit timeout."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from attention_swap_reid.dali_pipes import read_manifest

ROOT = Path(__file__).resolve().parents[2]


def _torchrun(script_args: list, cwd: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(extra_env or {})
    return subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", *map(str, script_args)],
                          cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_two_process_cpu_run_has_disjoint_shards(tiny_world, tmp_path):
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "ddp",
        "data": {"manifest": str(tiny_world), "size": [64, 32]},
        "loader": {"device": "cpu", "batch_p": 2, "batch_k": 4, "num_threads": 1, "eval_batch_size": 32},
        "augment": {"p": 0.0},
        "model": {"name": "resnet18"},
        "train": {"epochs": 1, "eval_every": 0, "record_indices": True},
        "output": {"dir": str(tmp_path / "runs")},
    }))
    proc = _torchrun([ROOT / "trainer" / "run.py", cfg], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    run_dir = next((tmp_path / "runs").glob("ddp-*"))
    final = json.loads((run_dir / "final.json").read_text())
    assert final["provenance"]["world_size"] == 2
    assert 0 <= final["results"]["baseline"]["mAP"] <= 1
    seen = [np.load(run_dir / "baseline" / "indices" / f"rank{r}-epoch001.npy") for r in (0, 1)]
    assert len(seen[0]) == len(seen[1])  # equal step counts per rank
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    train_count = len(read_manifest(tiny_world, ["train"]))
    assert set(seen[0].tolist()) | set(seen[1].tolist()) == set(range(train_count))


# Run by each of the 2 ranks: sharded extraction and scoring against the single-process functions.
SHARDED_EVAL = textwrap.dedent("""
    import json, sys
    import numpy as np
    import torch
    from torch import nn
    from attention_swap_reid.trainer.distributed import init_distributed, shutdown
    from attention_swap_reid.trainer.features import (
        evaluate_features, extract_features, extract_features_sharded
    )

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.bn = nn.Linear(12, 6), nn.BatchNorm1d(6)
        def forward(self, x):
            return self.bn(self.fc(x.flatten(1)))

    def net(offset):  # the same weights; BN statistics as after DDP training (rank-specific)
        torch.manual_seed(0)
        m = Net()
        m.bn.running_mean.copy_(torch.linspace(-1, 1, 6) + offset)
        return m

    def split(n, seed, cam_shift):
        g = torch.Generator().manual_seed(seed)
        return torch.rand(n, 3, 2, 2, generator=g), torch.arange(n) % 5, (torch.arange(n) + cam_shift) % 3

    def batches(data, size, rows=None, pad=False):
        images, pids, camids = data
        rows = torch.arange(len(pids)) if rows is None else rows
        if pad:
            rows = torch.cat([rows, rows[-1:]])  # a shard padded with a repeated row
        for s in range(0, len(rows), size):
            r = rows[s:s + size]
            yield {"images": images[r], "pids": pids[r], "camids": camids[r], "indices": r}

    info = init_distributed("cpu")
    rank, world = info.rank, info.world_size
    query, gallery = split(7, 1, 1), split(23, 2, 0)
    ref_model = net(0.0)
    model = net(0.0 if rank == 0 else 0.5)
    out = {"world": world}
    for name, data, size in (("query", query, 3), ("gallery", gallery, 4), ("one_batch", query, 16)):
        ref = extract_features(ref_model, batches(data, size), "cpu")
        strided = extract_features_sharded(model, batches(data, size), "cpu")
        model = net(0.0 if rank == 0 else 0.5)
        rows = torch.arange(rank, len(data[1]), world)
        pre = extract_features_sharded(model, batches(data, size, rows, pad=rank == 1), "cpu",
                                       loader_sharded=True)
        out[name] = [bool(torch.equal(ref[0], got[0]) and np.array_equal(ref[1], got[1])
                          and np.array_equal(ref[2], got[2])) for got in (strided, pre)]
    qf, qp, qc = extract_features(ref_model, batches(query, 3), "cpu")
    gf, gp, gc = extract_features(ref_model, batches(gallery, 4), "cpu")
    for key, rr in (("plain", None), ("rerank", (3, 2, 0.3))):
        single = evaluate_features(qf, qp, qc, gf, gp, gc, rerank_k=rr, max_rank=10)
        shard = evaluate_features(qf, qp, qc, gf, gp, gc, rerank_k=rr, max_rank=10, sharded=True)
        out[key] = {"single": [single["mAP"], single["mINP"], *single["cmc"].tolist(), single["num_valid"]],
                    "sharded": [shard["mAP"], shard["mINP"], *shard["cmc"].tolist(), shard["num_valid"]]}
    bad = qf.clone()
    bad[1] = float("nan")  # query 1 is scored by rank 1 only
    try:
        evaluate_features(bad, qp, qc, gf, gp, gc, max_rank=10, sharded=True)
        out["failure"] = None
    except Exception as e:
        out["failure"] = type(e).__name__
    with open(f"rank{rank}.json", "w") as f:
        json.dump(out, f)
    shutdown()
""")


@pytest.mark.slow
def test_two_process_sharded_evaluation_matches_single_process(tmp_path):
    script = tmp_path / "sharded_eval.py"
    script.write_text(SHARDED_EVAL)
    proc = _torchrun([script], cwd=tmp_path, extra_env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for rank in (0, 1):
        out = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert out["world"] == 2
        # all features, in loader order, on every rank; rank 0's BN statistics; padding dropped
        assert out["query"] == out["gallery"] == out["one_batch"] == [True, True]
        for key in ("plain", "rerank"):
            assert out[key]["sharded"] == pytest.approx(out[key]["single"], abs=1e-12)
        # the rank with the NaN raises its error, the other one does not wait for it forever
        assert out["failure"] == ("ValueError" if rank == 1 else "RuntimeError")


def test_process_group_gets_an_explicit_timeout(monkeypatch):
    from attention_swap_reid.trainer import distributed

    calls = []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kw: calls.append(kw))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv(distributed.TIMEOUT_ENV, raising=False)
    info = distributed.init_distributed("cpu")
    assert (info.rank, info.world_size) == (1, 2)
    assert calls[-1] == {"backend": "gloo", "timeout": distributed.DEFAULT_TIMEOUT}
    assert distributed.DEFAULT_TIMEOUT == timedelta(minutes=60)  # not NCCL's 10 minutes
    distributed.init_distributed("cpu", timeout=5)
    assert calls[-1]["timeout"] == timedelta(minutes=5)
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "90")
    distributed.init_distributed("cpu")
    assert calls[-1]["timeout"] == timedelta(minutes=90)
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=distributed.TIMEOUT_ENV):
        distributed.init_distributed("cpu")
