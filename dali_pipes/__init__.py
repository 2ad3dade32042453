"""Data side: manifest reading and validation, PK sampling, the DALI pipelines with the
attention augmentation inside, and the torch-facing loaders.

May import `kernels`; never imports `trainer`. Importing it does not touch CUDA, and the
heavy parts (torch, DALI) load only when a loader is first asked for, so
`python -m dali_pipes.check` and the dataset tools stay light.
"""
from importlib import import_module

_EXPORTS = {
    "ReIDLoader": "dali_pipes.loader", "EvalLoader": "dali_pipes.loader",
    "check_manifest": "dali_pipes.check",
    "CheckedManifest": "dali_pipes.checked", "checked_manifest": "dali_pipes.checked",
    "read_manifest": "dali_pipes.manifest", "write_manifest": "dali_pipes.manifest",
    "Sample": "dali_pipes.manifest", "Problem": "dali_pipes.manifest", "ManifestError": "dali_pipes.manifest",
}
__all__ = list(_EXPORTS)


MISSING_DALI = ("NVIDIA DALI is not installed: install the project with the extra of your CUDA major, "
                "pip install 'attention-swap-reid[cuda12]' (or [cuda13]), or pip install nvidia-dali-cuda120")


def __getattr__(name):
    if name in _EXPORTS:
        try:
            module = import_module(_EXPORTS[name])
        except ModuleNotFoundError as e:
            if (e.name or "").startswith("nvidia"):
                raise ImportError(f"dali_pipes.{name}: {MISSING_DALI}") from e
            raise
        return getattr(module, name)
    raise AttributeError(f"module 'dali_pipes' has no attribute {name!r}")
