"""GPU mode of the loader (nvJPEG decode, CuPy kernels on DALI's stream) against CPU mode.

Run on a GPU machine with `pytest -m gpu`. Sampling, masks (decoded and resized on the CPU in
both modes, or gathered from the mask bank), swap decisions and donors must be identical, wherever
the augmentation runs; images differ only by the JPEG
decoder and resize arithmetic (nvJPEG vs libjpeg-turbo): mean absolute difference of the
normalized images below 0.05 (about 3 grey levels).
"""
import pytest
import torch

from attention_swap_reid.dali_pipes import EvalLoader, Placement, ReIDLoader
from attention_swap_reid.kernels import AugmentConfig

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

AUG = AugmentConfig(p=0.5, seed=0, min_iou=0.3, min_area_ratio=0.6)


def _epoch(device, manifest, **placement):
    loader = ReIDLoader(manifest, batch_size=16, num_instances=4, size=(64, 32), device=device,
                        augment=AUG, return_masks=True, placement=Placement(**placement))
    return [{k: v.cpu() for k, v in b.items()} for b in loader]


@pytest.mark.parametrize("options", [{}, dict(augment_in="iterator"), dict(mask_source="png"),
                                     dict(augment_in="iterator", mask_source="png")])
def test_gpu_batches_equal_cpu_batches_in_structure(tiny_world, options):
    cpu, gpu = _epoch("cpu", tiny_world), _epoch("gpu", tiny_world, **options)
    assert len(cpu) == len(gpu)
    for c, g in zip(cpu, gpu):
        assert c.keys() == g.keys()
        for key in ("labels", "pids", "camids", "viewpoints", "indices", "swapped", "donor_pids", "masks"):
            assert torch.equal(c[key], g[key]), key
        assert c["images"].shape == g["images"].shape and g["images"].dtype == torch.float32
        assert (c["images"] - g["images"]).abs().mean() < 0.05


def test_gpu_eval_loader_matches_cpu(tiny_world):
    cpu = list(EvalLoader(tiny_world, split="gallery", batch_size=8, size=(64, 32), device="cpu"))
    gpu = list(EvalLoader(tiny_world, split="gallery", batch_size=8, size=(64, 32), device="gpu"))
    for c, g in zip(cpu, gpu):
        assert g["images"].is_cuda
        assert torch.equal(c["indices"], g["indices"].cpu())
        assert (c["images"] - g["images"].cpu()).abs().mean() < 0.05
