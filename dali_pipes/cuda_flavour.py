"""One CUDA major in the process: torch, DALI and CuPy each bring a CUDA runtime, and the
project's extras (`cuda12`, `cuda13`) pick the DALI and CuPy builds of one major. A DALI or CuPy
built for another major than torch's loads a second runtime beside torch's, which fails or
misbehaves on a GPU. The loaders' import checks this once, from version metadata only (no GPU,
no CUDA call), and a mismatch is one warning naming the extra to install.
"""
from __future__ import annotations

import importlib.metadata
import re
import warnings

_BUILDS = {"DALI": re.compile(r"nvidia-dali-(?:nightly-|weekly-)?cuda(\d+)0"), "CuPy": re.compile(r"cupy-cuda(\d+)x")}
EXTRAS = (12, 13)  # the CUDA majors of the project's extras, [cuda12] and [cuda13]


class CudaFlavourWarning(UserWarning):
    """DALI or CuPy built for another CUDA major than torch."""


def installed_builds() -> dict[str, tuple[str, int]]:
    """{"DALI" | "CuPy": (distribution name, CUDA major)} of the CUDA builds installed (a CuPy
    built from source names no major and is left out)."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        for library, pattern in _BUILDS.items():
            match = pattern.fullmatch(name)
            if match:
                found[library] = (name, int(match[1]))
    return found


def mismatch(torch_version: str, torch_cuda: str | None, builds: dict[str, tuple[str, int]]) -> str | None:
    """The warning for torch `torch_version` built for CUDA `torch_cuda` ("12.8"; None for a CPU
    build, which any flavour suits) beside `builds` (as `installed_builds` gives), or None."""
    if not torch_cuda:
        return None
    major = int(torch_cuda.split(".")[0])
    wrong = [(name, cuda) for name, cuda in sorted(builds.values()) if cuda != major]
    if not wrong:
        return None
    names = " ".join(name for name, _ in wrong)
    fix = (f"install the [cuda{major}] extra instead: pip uninstall {names}, then pip install -e '.[cuda{major}]' "
           f"from the project's checkout (or make setup CUDA={major})" if major in EXTRAS else
           f"the project's extras are for CUDA {' and '.join(map(str, EXTRAS))}: install a torch built for one of them")
    return (f"torch {torch_version} is built for CUDA {torch_cuda}, but "
            f"{', '.join(f'{name} for CUDA {cuda}' for name, cuda in wrong)}: the process would load two CUDA "
            f"runtimes; {fix}")


def warn_on_mismatch() -> None:
    """Warn (`CudaFlavourWarning`, once) when DALI's or CuPy's CUDA major is not torch's."""
    import torch

    message = mismatch(torch.__version__, torch.version.cuda, installed_builds())
    if message:
        warnings.warn(message, CudaFlavourWarning, stacklevel=3)
