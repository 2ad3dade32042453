"""attention-swap-reid: the implicit-attention background-swap augmentation for person
re-identification as a batch operation in an NVIDIA DALI pipeline, with a BoT-style trainer.

This is the project's one import package. Its subpackages are the repository's top-level folders
(the install maps them here, so an editable install and a wheel import alike):

    attention_swap_reid.kernels      the augmentation and the BoT tail (numpy and cupy backends)
    attention_swap_reid.dali_pipes   manifests, PK sampling, DALI pipelines, ReIDLoader / EvalLoader
    attention_swap_reid.prepare      synthetic world, dataset importers, person masks
    attention_swap_reid.trainer      the BoT trainer (python trainer/run.py CONFIG)
    attention_swap_reid.sweeps       the experiment driver (python trainer/sweep.py SWEEP.yaml)
    attention_swap_reid.benchmarks   the throughput benchmark (python benchmarks/throughput.py)

Importing this package imports none of them. In a source checkout that is not installed (the
checkout's root on PYTHONPATH, as on a GPU machine without the project's environment) this folder
holds only this file, and the subpackages are found beside it, in the checkout's root.
"""
import os as _os

_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "kernels")) and _os.path.isfile(
        _os.path.join(_checkout, "pyproject.toml")):
    __path__.append(_checkout)
