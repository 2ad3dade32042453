"""Fixtures of the importer tests: tiny images written under the official file names."""
import os

import cv2
import numpy as np
import pytest


@pytest.fixture
def touch_image():
    """`touch_image(path, size=(16, 8))` writes a small grey JPEG/PNG (H x W) and returns the path."""
    def write(path, size=(16, 8)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        assert cv2.imwrite(str(path), np.full((*size, 3), 127, np.uint8))
        return str(path)
    return write
