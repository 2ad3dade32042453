"""Checks of a validated config against this machine and the data, run before any training.

Part of the CLI (it reads the `Config`). Each problem is one line starting with the key path,
like `trainer.config`'s. `check_machine` runs first; `check_data` needs the manifest to exist
(the synthetic world is generated in between) and also returns notes, logged by the run.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import torch

from attention_swap_reid.dali_pipes.check import check_query_matches
from attention_swap_reid.dali_pipes.check import check_repeated_images, check_shared_ids
from attention_swap_reid.dali_pipes.checked import unmasked_problem
from attention_swap_reid.kernels import AugmentConfig, backend_problems
from attention_swap_reid.dali_pipes.manifest import ManifestError, read_manifest
from attention_swap_reid.dali_pipes.sampler import pk_problem
from attention_swap_reid.prepare import synth_extras
from attention_swap_reid.trainer.config import Config


def resolve_devices(cfg: Config) -> tuple[torch.device, str]:
    """(model device, loader device "cpu" | "gpu") with "auto" resolved; local GPU under torchrun."""
    cuda = torch.cuda.is_available()
    model = cfg.train.device if cfg.train.device != "auto" else ("cuda" if cuda else "cpu")
    loader = {"auto": "gpu" if model == "cuda" else "cpu", "cuda": "gpu"}.get(cfg.loader.device, cfg.loader.device)
    if model == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))), loader
    return torch.device("cpu"), loader


def robustness_manifest(cfg: Config) -> Path | None:
    """The background-swapped test manifest to score, if any ("auto": robustness.csv beside)."""
    value = cfg.data.robustness_manifest
    if value == "auto":
        auto = Path(cfg.data.manifest).parent / "robustness.csv"
        return auto if auto.is_file() else None
    return Path(value) if value else None


def probe_manifests(cfg: Config) -> dict[str, Path]:
    """{name: manifest} of the synthetic world's probe sets beside the manifest (none elsewhere;
    `prepare.synth_extras.PROBES`), scored like the test set as `<name>_mAP` etc."""
    return synth_extras.probe_manifests(cfg.data.manifest)


def check_machine(cfg: Config) -> list[str]:
    """Problems of devices, weights files and paths that need no manifest content."""
    problems = []
    cuda = torch.cuda.is_available()
    if cfg.train.device == "cuda" and not cuda:
        problems.append("train.device: cuda requested but no CUDA device is available; allowed here: auto, cpu")
    if cfg.loader.device in ("gpu", "cuda") and not cuda:
        problems.append(f"loader.device: {cfg.loader.device} requested but no CUDA device is available; "
                        f"allowed here: auto, cpu")
    model_device, loader_device = resolve_devices(cfg)
    if loader_device == "gpu" and model_device.type != "cuda":
        problems.append("loader.device: gpu needs the model on CUDA (train.device: auto or cuda)")
    if cfg.augment.p > 0:
        backend = "cupy" if loader_device == "gpu" else "numpy"
        problems += [f"augment.{problem}; or use loader.device: cpu"
                     for problem in backend_problems(AugmentConfig(**asdict(cfg.augment)), backend)]
    if cfg.model.pretrained == "imagenet" and cfg.model.weights and not os.path.isfile(cfg.model.weights):
        problems.append(f"model.weights: {cfg.model.weights!r} not found; pretrained: imagenet loads a local "
                        f"torchvision ResNet state dict (nothing is downloaded), or use pretrained: none")
    if not os.path.isfile(cfg.data.manifest) and cfg.data.synthetic is None:
        problems.append(f"data.manifest: {cfg.data.manifest!r} not found; set data.synthetic to generate "
                        f"the synthetic world there, or write it with a prepare importer")
    value = cfg.data.robustness_manifest
    if value not in (None, "", "auto") and not os.path.isfile(value):
        problems.append(f"data.robustness_manifest: {value!r} not found; allowed: a manifest path, auto, null")
    robust = robustness_manifest(cfg)
    for key, path in (("model.weights", cfg.model.weights if cfg.model.pretrained == "imagenet" else None),
                      ("data.manifest", cfg.data.manifest), ("data.robustness_manifest", robust)):
        problems += _unreadable(key, path)
    return problems


def _unreadable(key: str, path: str | os.PathLike | None) -> list[str]:
    """A problem when the existing file `path` cannot be opened for reading."""
    if path is None or not os.path.isfile(path):
        return []
    try:
        with open(path, "rb"):
            return []
    except OSError as e:
        return [f"{key}: cannot read {os.fspath(path)!r}: {e.strerror or e}"]


def check_data(cfg: Config, world_size: int = 1) -> tuple[list[str], list[str]]:
    """(problems, notes) of the manifest's content for this config (P x K, splits, masks,
    evaluable queries). Problems stop the run; notes are logged (what the data makes the run
    do that the config does not say)."""
    try:
        samples = read_manifest(cfg.data.manifest)
    except ManifestError as e:
        return [f"data.manifest: {e}"], []
    by_split: dict[str, list] = {"train": [], "query": [], "gallery": []}
    for s in samples:
        by_split[s.split].append(s)
    problems = [f"data.manifest: {cfg.data.manifest!r} has no {split!r} rows"
                for split, rows in by_split.items() if not rows]
    ids = len({s.pid for s in by_split["train"]})
    problem = pk_problem(ids, cfg.loader.batch_p, world_size) if by_split["train"] else None
    if problem:
        problems.append(f"loader.batch_p: {problem} (in {cfg.data.manifest!r}; one shard per rank)")
    unmatched = check_query_matches(cfg.data.manifest, samples) if by_split["query"] else []
    if by_split["query"] and len(unmatched) == len(by_split["query"]):
        problems.append(f"data.manifest: no query row of {cfg.data.manifest!r} has a gallery image of its pid "
                        f"from another camera, so nothing can be evaluated "
                        f"(python -m attention_swap_reid.dali_pipes.check lists them)")
    problems += _unmasked_problems(cfg, by_split["train"]) + _leaks(cfg, samples)
    notes = _small_identities(cfg, by_split["train"])
    if unmatched and len(unmatched) < len(by_split["query"]) and cfg.eval.unmatched_queries == "error":
        problems.append(f"data.manifest: {len(unmatched)} of {len(by_split['query'])} query row(s) of "
                        f"{cfg.data.manifest!r} have no gallery image of their pid from another camera (first: row "
                        f"{unmatched[0].row}; python -m attention_swap_reid.dali_pipes.check lists them); allowed: "
                        f"eval.unmatched_queries: drop (leave them out of the evaluation, counted in the log)")
    return problems, notes


def _leaks(cfg: Config, samples: list) -> list[str]:
    """Test images or identities that also train (by path and pid; `python -m attention_swap_reid.dali_pipes.check`
    also finds byte copies): they would inflate every metric."""
    found = check_repeated_images(cfg.data.manifest, samples, digests={})
    if not cfg.data.separate_test_ids:
        found += check_shared_ids(cfg.data.manifest, samples)
    if not found:
        return []
    hint = "" if cfg.data.separate_test_ids else \
        " (if the test pids are numbered on their own, as MSMT17's: data.separate_test_ids: true)"
    return [f"data.manifest: {len(found)} repeated image(s) or test identities seen in training, which would "
            f"inflate every metric; first: {found[0]}{hint}"]


def _unmasked_problems(cfg: Config, train: list) -> list[str]:
    """Training rows without a mask path that the `data.unmasked` policy cannot train (the rule
    of `dali_pipes.checked.unmasked_problem`; empty mask files are found by the check)."""
    unmasked = [s.row for s in train if not s.mask]
    problem = unmasked_problem(cfg.data.unmasked, len(unmasked), len(train)) if cfg.augment.p > 0 else None
    if not problem:
        return []
    return [f"data.unmasked: {cfg.data.unmasked}: {problem} (first: row {unmasked[0]} of {cfg.data.manifest!r}; "
            f"augment.p = {cfg.augment.p} needs masks)"]


def _small_identities(cfg: Config, train: list) -> list[str]:
    """A note when some training identities have fewer images than K (`loader.batch_k`): the
    sampler repeats their images to fill a batch's K slots."""
    counts = Counter(s.pid for s in train)
    k = cfg.loader.batch_k
    short = sorted((n, pid) for pid, n in counts.items() if n < k)
    if not short:
        return []
    n, pid = short[0]
    return [f"loader.batch_k: K={k} images per identity, but {len(short)} of {len(counts)} training identities "
            f"of {cfg.data.manifest!r} have fewer (fewest: pid {pid} with {n}); the sampler repeats their images "
            f"to fill the K places of a batch"]
