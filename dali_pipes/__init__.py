"""Data side: manifest reading and validation, PK sampling, the DALI pipelines with the
attention augmentation inside, and the torch-facing loaders.

May import `kernels`; never imports `trainer`. Importing it does not touch CUDA.
"""
from dali_pipes.check import check_manifest
from dali_pipes.loader import EvalLoader, ReIDLoader
from dali_pipes.manifest import ManifestError, Problem, Sample, read_manifest, write_manifest

__all__ = ["ReIDLoader", "EvalLoader", "check_manifest", "read_manifest", "write_manifest",
           "Sample", "Problem", "ManifestError"]
