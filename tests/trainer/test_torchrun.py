"""A 2-process `torchrun` DDP run on CPU (gloo): it completes and the ranks' samples are disjoint."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dali_pipes import read_manifest

ROOT = Path(__file__).resolve().parents[2]


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
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(ROOT / "trainer" / "run.py"),
                           str(cfg)], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
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
