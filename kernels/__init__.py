"""The attention-swap augmentation math: one API, two backends.

`numpy` (NumPy + OpenCV, CPU; also the test oracle) and `cupy` (CUDA kernels in `cuda/*.cu`,
compiled by CuPy's NVRTC on first use, cached per device). A step takes numpy or cupy arrays
and returns the same kind; `AttentionAugment` also takes torch tensors (DLPack). On the cupy
backend `AttentionAugment` runs as a few fused kernels per batch (the steps' device functions,
shared), does not synchronize and copies nothing between host and device when its inputs are
on the device; with a `Tail` it also applies the BoT tail (flip, pad + crop, normalization,
random erasing) in its last kernel. Importing this package touches no GPU. It imports nothing
else of the project.

    from attention_swap_reid.kernels import AugmentConfig, AttentionAugment, Tail
    aug = AttentionAugment(AugmentConfig(p=0.5, roi="full", seed=0), backend="auto")
    out = aug(images, masks, pids, viewpoints, epoch=0, index=None)  # out.images (B, H, W, 3) uint8
    tail = Tail(flip=flip, crop_anchor=crop, erase_anchor=erase_at, erase_shape=erase_hw)
    out = aug(images, masks, pids, viewpoints, epoch=0, index=index, tail=tail)  # float32 (B, 3, H, W)

The choices of `AugmentConfig` are tables of `kernels.tables` (a leaf module that imports nothing
of the package): `ROI_MODES` (name -> the band of rows kept, and its code in the CUDA code) and
`INPAINTERS` (name -> the backends it runs on, its radius, its fused GPU form;
`inpainter_problem(name, backend)` says why one cannot run on a backend). Config schemas, tools,
the tests that cover every choice and the CUDA code (its `#define`s are generated) derive from
them, so a new ROI mode or inpainter is one entry plus its code.
Two more tables hold experiment-only controls of the mechanism (`kernels.controls`): `DONORS`
(another identity's image, the paper, or the same identity's) and `BACKGROUNDS` (the donor's,
the paper, or a picture from a folder, or noise); the controls run on the numpy backend only
and `backend_problems(config, backend)` names every choice of a config that cannot run there.
"""
from .augment import AttentionAugment, AugmentOutput
from .bank import DonorBank
from .compat import compatibility
from .composite import composite
from .config import AugmentConfig, backend_problems
from .controls import BACKGROUNDS, DONORS
from .dilate import dilate
from .donors import draw_donors
from .inpaint import inpaint, inpainter_problem
from .masks import normalize_masks, roi_masks
from .records import DonorDraw, DonorKeys, Rois
from .tables import CANVAS, INPAINTERS, ROI_MODES
from .tail import IMAGENET_MEAN, IMAGENET_STD, Tail, bot_tail

__all__ = [
    "AttentionAugment", "AugmentConfig", "AugmentOutput", "BACKGROUNDS", "CANVAS", "DONORS", "DonorBank",
    "DonorDraw", "DonorKeys", "backend_problems",
    "IMAGENET_MEAN", "IMAGENET_STD", "INPAINTERS", "ROI_MODES", "Rois", "Tail", "bot_tail", "compatibility",
    "composite", "dilate", "draw_donors", "inpaint", "inpainter_problem", "normalize_masks", "roi_masks",
]
