"""`Layer`: a person-sized drawing surface with an exact coverage mask.

Shapes are given in *body units*: x across the body (0 at the body axis, in units of the
person's height, multiplied by `mirror` to flip the figure), y down from the top of the head
(0) to the soles (1). They are drawn with sub-pixel precision (OpenCV fixed-point
coordinates), without anti-aliasing, so that the mask is exactly the set of pixels that carry
person colour.
"""
from __future__ import annotations

import cv2
import numpy as np

_SHIFT = 4                  # fractional bits of OpenCV's fixed-point coordinates
_ONE = 1 << _SHIFT


class Layer:
    """RGB person layer `rgb` (H, W, 3) uint8 and its mask `mask` (H, W) uint8 in {0, 255}."""

    def __init__(self, height: int, width: int, centre_x: float, top_y: float, size: float):
        self.rgb = np.zeros((height, width, 3), np.uint8)
        self.mask = np.zeros((height, width), np.uint8)
        self.centre_x, self.top_y, self.size = centre_x, top_y, size
        self.mirror = 1.0

    def _px(self, x: float, y: float) -> tuple[float, float]:
        return self.centre_x + self.mirror * x * self.size, self.top_y + y * self.size

    def _fixed(self, points) -> np.ndarray:
        pts = np.array([self._px(x, y) for x, y in points]) * _ONE
        return np.round(pts).astype(np.int32).reshape(-1, 1, 2)

    @staticmethod
    def _colour(colour, shade: float) -> tuple[int, int, int]:
        return tuple(int(min(255, c * shade)) for c in colour)

    def polygon(self, points, colour, shade: float = 1.0) -> None:
        """Fill a polygon given by body-unit `points`."""
        pts = [self._fixed(points)]
        cv2.fillPoly(self.rgb, pts, self._colour(colour, shade), cv2.LINE_8, _SHIFT)
        cv2.fillPoly(self.mask, pts, 255, cv2.LINE_8, _SHIFT)

    def quad(self, p0, p1, w0: float, w1: float, colour, shade: float = 1.0) -> None:
        """A tapered bar from `p0` to `p1` with full widths `w0`, `w1`."""
        d = np.subtract(p1, p0, dtype=float)
        n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-9)
        a, b = np.asarray(p0, float), np.asarray(p1, float)
        self.polygon([a + n * w0 / 2, b + n * w1 / 2, b - n * w1 / 2, a - n * w0 / 2], colour, shade)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour, shade: float = 1.0) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour, shade)

    def ellipse(self, centre, axes, colour, shade: float = 1.0) -> None:
        """A filled axis-aligned ellipse; `axes` are the semi-axes."""
        cx, cy = self._px(*centre)
        c = (int(round(cx * _ONE)), int(round(cy * _ONE)))
        ax = (int(round(axes[0] * self.size * _ONE)), int(round(axes[1] * self.size * _ONE)))
        colour = self._colour(colour, shade)
        cv2.ellipse(self.rgb, c, ax, 0, 0, 360, colour, -1, cv2.LINE_8, _SHIFT)
        cv2.ellipse(self.mask, c, ax, 0, 0, 360, 255, -1, cv2.LINE_8, _SHIFT)

    def trapezoid(self, y0: float, y1: float, half0: float, half1: float, colour) -> np.ndarray:
        """A body-centred trapezoid (e.g. a torso); returns its region, (H, W) bool."""
        region = np.zeros_like(self.mask)
        pts = [self._fixed([(-half0, y0), (half0, y0), (half1, y1), (-half1, y1)])]
        cv2.fillPoly(region, pts, 1, cv2.LINE_8, _SHIFT)
        region = region.astype(bool)
        self.rgb[region] = colour
        self.mask[region] = 255
        return region

    def paint_stripes(self, region: np.ndarray, top: float, period: float, colour) -> None:
        """Horizontal stripes of `colour` inside `region`, `period` body units apart, from `top`."""
        rows = np.arange(region.shape[0]) - self._px(0, top)[1]
        band = (np.floor(rows / (period * self.size)) % 2 == 1)[:, None]
        self.rgb[region & band] = colour

    def paint_band(self, region: np.ndarray, y0: float, y1: float, colour) -> None:
        """Paint `region` between body heights `y0` and `y1`."""
        rows = np.arange(region.shape[0])
        band = ((rows >= self._px(0, y0)[1]) & (rows < self._px(0, y1)[1]))[:, None]
        self.rgb[region & band] = colour

    def paint_column(self, region: np.ndarray, x0: float, x1: float, colour) -> None:
        """Paint `region` between body x positions `x0` and `x1`."""
        cols = np.arange(region.shape[1])
        a, b = sorted((self._px(x0, 0)[0], self._px(x1, 0)[0]))
        self.rgb[region & ((cols >= a) & (cols < b))[None, :]] = colour

    def shaded(self, light: float) -> np.ndarray:
        """The layer lit from one side (`light` = brightness slope across the body), black outside the mask."""
        cols = (np.arange(self.rgb.shape[1], dtype=np.float32) - self.centre_x) / (0.25 * self.size)
        rows = (np.arange(self.rgb.shape[0], dtype=np.float32) - self.top_y) / self.size
        gain = np.clip(1.0 + light * cols[None, :] - 0.12 * rows[:, None], 0.6, 1.3).astype(np.float32)
        out = cv2.multiply(self.rgb, cv2.merge([gain, gain, gain]), dtype=cv2.CV_8U)
        out[self.mask == 0] = 0
        return out
