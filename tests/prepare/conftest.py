"""Fixtures of the importer tests: tiny images written under the official file names."""
import os
import zlib

import cv2
import numpy as np
import pytest


@pytest.fixture
def touch_image():
    """`touch_image(path, size=(16, 8))` writes a small JPEG/PNG (H x W) and returns the path: grey
    with a little noise drawn from the path, so that no two files are copies of each other
    (the check reports an image in two splits)."""
    def write(path, size=(16, 8)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        noise = np.random.default_rng(zlib.crc32(str(path).encode())).integers(-8, 9, (*size, 3))
        assert cv2.imwrite(str(path), (127 + noise).astype(np.uint8))
        return str(path)
    return write
