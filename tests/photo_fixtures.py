"""Real photographs for data tests: scikit-image's bundled samples, resized small and cached."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

_SAMPLES = ("astronaut", "coffee", "chelsea", "rocket")


@functools.lru_cache(maxsize=None)
def photo(k: int = 0, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """Sample photo ``k`` as uint8 RGB, resized to ``size`` = (width, height)."""
    from skimage import data

    rgb = getattr(data, _SAMPLES[k % len(_SAMPLES)])()
    pixels = np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))
    pixels.setflags(write=False)
    return pixels


def photo_float(k: int = 0, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    return photo(k, size).astype(np.float32) / 255.0
