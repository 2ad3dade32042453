"""What a result came from: code version, data hash, machine and library versions."""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit(folder: str | os.PathLike = ".") -> str:
    """The commit checked out in `folder` (+ "-dirty" with local changes), or "unknown"."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a run depends on ("missing" when not importable)."""
    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for name, module in (("torchvision", "torchvision"), ("dali", "nvidia.dali"), ("cupy", "cupy"),
                         ("opencv", "cv2")):
        try:
            out[name] = __import__(module, fromlist=["__version__"]).__version__
        except Exception:  # noqa: BLE001 -- any import failure just means "not available"
            out[name] = "missing"
    return out


def cpu_model() -> str:
    """The CPU's model as the kernel names it, with its family/model numbers (which tell CPU
    generations apart that share a marketing name), e.g. "AMD EPYC (family 23, model 49)";
    `platform.processor()` where /proc/cpuinfo is missing."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            info = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
    except OSError:
        return platform.processor() or platform.machine()
    info = {k.strip(): v.strip() for k, v in info.items()}
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info:
        return f"{name} (family {info['cpu family']}, model {info.get('model', '?')})"
    return name


def device_name(device: torch.device) -> str:
    """A human-readable name of the compute device."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def provenance(*, seed: int, manifest: str | os.PathLike, device: torch.device, world_size: int = 1,
               robustness_manifest: str | os.PathLike | None = None) -> dict:
    """The provenance record written into a run's final.json."""
    repo = Path(__file__).resolve().parent.parent
    record = {"seed": seed, "manifest": str(manifest), "manifest_sha256": file_sha256(manifest)}
    if robustness_manifest is not None:
        record |= {"robustness_manifest": str(robustness_manifest),
                   "robustness_manifest_sha256": file_sha256(robustness_manifest)}
    return record | {"git_commit": git_commit(repo), "device": device_name(device), "world_size": world_size,
                     "host": platform.node(), "cpu": cpu_model(), "threads": torch.get_num_threads(),
                     "versions": versions()}
