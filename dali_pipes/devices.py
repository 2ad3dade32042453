"""Device names as users write them ("cpu", "gpu", "cuda", "cuda:N", "auto"), resolved by one
rule for the loaders and the benchmark. Needs torch only (no DALI), so a CuPy-only machine can
resolve a device too."""
from __future__ import annotations

import torch

DEVICES = ("cpu", "gpu", "cuda", "cuda:N", "auto")


def resolve_device(device: str) -> int | None:
    """DALI `device_id` for "cpu" | "gpu" | "cuda" | "cuda:N" | "auto" (None = CPU; "gpu" and
    "cuda" = torch's current device). Never touches CUDA for "cpu"."""
    name = str(device)
    index = name.removeprefix("cuda:")
    if name not in DEVICES and not (name.startswith("cuda:") and index.isdigit()):
        raise ValueError(f"device must be one of {list(DEVICES)}, got {device!r}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return None
    if not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} but torch sees no CUDA GPU; use device='cpu' (or 'auto')")
    if name.startswith("cuda:"):
        if int(index) >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return int(index)
    return torch.cuda.current_device()
