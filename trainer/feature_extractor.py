"""`FeatureExtractor`: a trained model's retrieval features in Python, called as torchreid's
`torchreid.utils.FeatureExtractor` is, on image paths, arrays or tensors.

    from attention_swap_reid.trainer.feature_extractor import FeatureExtractor

    extractor = FeatureExtractor("runs/demo-.../attention/checkpoints/latest.pt", device="cpu")
    features = extractor(["a.jpg", "b.jpg"])          # (2, D) float32, L2-normalized
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from attention_swap_reid.trainer.config import load_config
from attention_swap_reid.trainer.extract import features_of, find_config, image_samples, model_from_checkpoint
from attention_swap_reid.trainer.features import extract_features


def _device(device: str | torch.device) -> tuple[torch.device, str]:
    """(model device, loader device) of "auto", "cpu", "cuda", "cuda:N" or "gpu"."""
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = torch.device("cuda" if str(device) == "gpu" else device)
    if model.type == "cpu":
        return model, "cpu"
    return model, f"cuda:{model.index or 0}"


class FeatureExtractor:
    """The model of a `trainer/run.py` checkpoint, built from the run's `config.yaml` (found
    above `checkpoint`, or `config`), as a function from images to features.

    `extractor(inputs)` returns (N, D) float32 features on the CPU, L2-normalized (with `flip`
    the mirrored image's feature is added first): what the evaluation and `extract` compute.
    `inputs` is one of

    - an image path or a list of paths: read, resized to the run's `data.size` (and
      letterboxed as the run was) by the same DALI pipeline as the evaluation;
    - an image (H, W, 3) uint8 RGB array, a batch (N, H, W, 3) of them or a list: the same
      pipeline, on a lossless PNG copy written to a temporary folder;
    - a torch tensor (3, H, W) or (N, 3, H, W) float: taken as model input, as torchreid does
      (already at the run's size and normalized as the loaders normalize; an `EvalLoader`
      batch's `images`).
    """

    def __init__(self, checkpoint: str | os.PathLike, device: str | torch.device = "auto", *,
                 config: str | os.PathLike | None = None, batch_size: int = 64, flip: bool = False):
        self.cfg = load_config(config if config is not None else find_config(checkpoint))
        self.device, self._loader_device = _device(device)
        self.model = model_from_checkpoint(self.cfg, checkpoint).to(self.device)
        self.batch_size, self.flip = batch_size, flip

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) the model takes: the run's `data.size`."""
        return tuple(self.cfg.data.size)

    def __call__(self, inputs) -> torch.Tensor:
        if isinstance(inputs, torch.Tensor):
            return self._from_tensor(inputs)
        if isinstance(inputs, (str, os.PathLike)):
            return self._from_paths([inputs])
        if isinstance(inputs, np.ndarray):
            return self._from_arrays(list(inputs) if inputs.ndim == 4 else [inputs])
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(x, (str, os.PathLike)) for x in inputs):
            return self._from_paths(list(inputs))
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(x, np.ndarray) for x in inputs):
            return self._from_arrays(list(inputs))
        raise TypeError(f"FeatureExtractor takes an image path or a list of them, (H, W, 3) uint8 RGB arrays "
                        f"(one, a list or an (N, H, W, 3) batch) or a (N, 3, H, W) float tensor, "
                        f"got {type(inputs).__name__}")

    def _from_paths(self, paths: list) -> torch.Tensor:
        feats = features_of(self.model, self.cfg, image_samples(paths), "query", flip=self.flip,
                            batch_size=self.batch_size, progress=False,
                            devices=(self.device, self._loader_device))
        return torch.from_numpy(feats.features)

    def _from_arrays(self, images: list[np.ndarray]) -> torch.Tensor:
        for i, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"image {i}: expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        with tempfile.TemporaryDirectory(prefix="features-") as folder:
            paths = [Path(folder) / f"{i:06d}.png" for i in range(len(images))]
            for path, image in zip(paths, images):
                cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            return self._from_paths(paths)

    def _from_tensor(self, images: torch.Tensor) -> torch.Tensor:
        images = images[None] if images.dim() == 3 else images
        if images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(f"expected a (N, 3, H, W) or (3, H, W) float tensor, got {tuple(images.shape)} "
                             f"{images.dtype}")
        batches = ({"images": chunk, "pids": torch.full((len(chunk),), -1), "camids": torch.full((len(chunk),), -1)}
                   for chunk in images.split(self.batch_size))
        feats, _, _ = extract_features(self.model, batches, self.device, flip=self.flip)
        return feats
