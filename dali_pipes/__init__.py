"""Data side: manifest reading and validation, PK sampling, the DALI pipelines with the
attention augmentation inside, and the torch-facing loaders.

May import `kernels`; never imports `trainer`. Importing it does not touch CUDA, and the
heavy parts (torch, DALI) load only when a loader is first asked for, so
`python -m attention_swap_reid.dali_pipes.check` and the dataset tools stay light.
"""
from importlib import import_module

_EXPORTS = {
    "ReIDLoader": ".loader", "EvalLoader": ".loader",
    "BotOptions": ".sources", "OutputFormat": ".output_format", "Placement": ".placement",
    "check_manifest": ".check", "ImageLimits": ".check",
    "CheckedManifest": ".checked", "checked_manifest": ".checked",
    "read_manifest": ".manifest", "write_manifest": ".manifest",
    "Sample": ".manifest", "Problem": ".manifest", "ManifestError": ".manifest",
}
__all__ = list(_EXPORTS)


MISSING_DALI = ("NVIDIA DALI is not installed: install the DALI of your torch's CUDA major, pip install "
                "nvidia-dali-cuda120 (or nvidia-dali-cuda130), or from the project's checkout "
                "pip install -e '.[cuda12]' (or [cuda13]; make setup does it)")


def __getattr__(name):
    if name in _EXPORTS:
        try:
            module = import_module(_EXPORTS[name], __name__)
        except ModuleNotFoundError as e:
            if (e.name or "").startswith("nvidia"):
                raise ImportError(f"{__name__}.{name}: {MISSING_DALI}") from e
            raise
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
