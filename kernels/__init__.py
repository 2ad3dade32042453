"""The attention-swap augmentation math: one API, two backends (DESIGN §4, §5).

`numpy` (NumPy + OpenCV, CPU; also the test oracle) and `cupy` (CUDA kernels in `cuda/*.cu`,
compiled by CuPy's NVRTC on first use, cached per device). A step takes numpy or cupy arrays
and returns the same kind; `AttentionAugment` also takes torch tensors (DLPack).
Importing this package touches no GPU. It imports nothing else of the project.

    from kernels import AugmentConfig, AttentionAugment, dilate, inpaint
    aug = AttentionAugment(AugmentConfig(p=0.5, roi="full", seed=0), backend="auto")
    out = aug(images, masks, pids, viewpoints, epoch=0, index=None)
"""
from .augment import AttentionAugment, AugmentOutput
from .bank import DonorBank
from .compat import DonorKeys, compatibility
from .composite import composite
from .config import AugmentConfig
from .dilate import dilate
from .donors import DonorDraw, draw_donors
from .inpaint import inpaint
from .masks import CANVAS, Rois, normalize_masks, roi_masks

__all__ = [
    "AttentionAugment", "AugmentConfig", "AugmentOutput", "CANVAS", "DonorBank", "DonorDraw", "DonorKeys",
    "Rois", "compatibility", "composite", "dilate", "draw_donors", "inpaint", "normalize_masks", "roi_masks",
]
