"""The decode + resize steps of the DALI graphs (CPU) against OpenCV."""
import cv2
import numpy as np
import pytest
from nvidia.dali import fn
from nvidia.dali.pipeline import Pipeline

from attention_swap_reid.dali_pipes.pipeline import decode_images, decode_masks


def _run(step, encoded: list[np.ndarray], size, letterbox: bool, iterations: int = 1) -> list[list[np.ndarray]]:
    pipe = Pipeline(batch_size=len(encoded), num_threads=2, device_id=None, seed=0)
    with pipe:
        data = fn.external_source(source=lambda: encoded, batch=True)
        pipe.set_outputs(step(data, size, gpu=False, letterbox=letterbox))
    return [[np.array(x) for x in pipe.run()[0].as_array()] for _ in range(iterations)]


def _png(array) -> np.ndarray:
    return np.frombuffer(cv2.imencode(".png", array)[1], np.uint8)


def _blocky(shape, block, rng):
    """0/255 mask of `block` x `block` squares: a nearest downscale by `block` is unambiguous."""
    small = (rng.random((shape[0] // block, shape[1] // block)) < 0.4).astype(np.uint8) * 255
    small[:, 0] = small[:, -1] = 255  # person pixels on the edges that the letterbox replicates
    return np.kron(small, np.ones((block, block), np.uint8))


@pytest.mark.parametrize("source, target", [((40, 16), (20, 20)),   # too tall: 12 px replicated each side
                                            ((16, 40), (20, 20)),   # too wide: rows replicated
                                            ((64, 16), (32, 16))])  # 4:1 into 2:1
def test_letterboxed_masks_are_the_replicated_padding_resized_nearest(source, target):
    rng = np.random.default_rng(sum(source))
    masks = [_blocky(source, 2, rng) for _ in range(6)] + [np.zeros(source, np.uint8)]
    h, w = source
    th, tw = target
    scale = max(h / th, w / tw)
    ph, pw = round(th * scale), round(tw * scale)
    top, left = (ph - h) // 2, (pw - w) // 2
    expected = [(cv2.copyMakeBorder(m, top, ph - h - top, left, pw - w - left, cv2.BORDER_REPLICATE)
                 [::ph // th, ::pw // tw] > 0).astype(np.uint8) for m in masks]
    for batch in _run(decode_masks, [_png(m) for m in masks], target, letterbox=True, iterations=5):
        for got, want in zip(batch, expected, strict=True):
            assert np.array_equal(got[..., 0], want)


def test_letterboxed_images_match_opencv_replicate_and_resize():
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 255, (9, 5, 3), dtype=np.uint8), (16, 32), interpolation=cv2.INTER_CUBIC)
    [[got]] = _run(decode_images, [_png(image)], (64, 64), letterbox=True)  # 32x16 -> padded 32x32 -> x2
    padded = cv2.copyMakeBorder(image, 0, 0, 8, 8, cv2.BORDER_REPLICATE)
    want = cv2.cvtColor(cv2.resize(padded, (64, 64), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    assert got.shape == (64, 64, 3)
    assert np.abs(got.astype(int) - want).max() <= 1


def test_without_letterbox_the_image_is_stretched():
    image = np.zeros((30, 10, 3), np.uint8)
    image[:, 5:] = 200
    [[got]] = _run(decode_images, [_png(image)], (30, 20), letterbox=False)
    assert np.array_equal(got, cv2.resize(image, (20, 30), interpolation=cv2.INTER_LINEAR))
