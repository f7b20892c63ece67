"""The :class:`Image` record every reader returns and every writer takes, its two errors, and what
all readers share: the pixel limit, checked before decoding, and :func:`_finish`, which applies the
EXIF orientation so that ``pixels`` are upright and the orientation tag says 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from glsgn_core.errors import GlsgnError
from glsgn_core.image_io.exif import _normalise_exif, _orient, exif_orientation

#: Largest width * height read without ``max_pixels=None``: 1.2 gigapixels, more than a 32K x 32K
#: panorama (1.07 gigapixels). It guards against decompression bombs: tiny files that claim to be huge.
DEFAULT_MAX_PIXELS = 1_200_000_000


class ImageReadError(GlsgnError):
    """A file could not be read as an image; the message names the file and the reason."""


class ImageWriteError(GlsgnError):
    """An image could not be written; the message names the file and the reason."""


@dataclass
class Image:
    """A decoded image, ready to be processed and written back as it came.

    ``pixels`` is (H, W, C) with C = 1 (grey) or 3 (RGB), dtype uint8, uint16 or float32 as stored.
    ``alpha`` is (H, W) with the same dtype, or None. ``exif`` has its orientation tag reset to 1
    because the orientation has been applied to ``pixels``.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc: bytes | None = None
    exif: bytes | None = None
    source_format: str = "PNG"
    mode: str = ""
    dpi: tuple[float, float] | None = None
    notes: tuple[str, ...] = ()  # what reading left out (e.g. a TIFF's other pages), for the user

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def dtype(self) -> np.dtype:
        return self.pixels.dtype

    def replace(self, **changes: Any) -> Image:
        """A copy with some fields changed, e.g. ``image.replace(pixels=restored)``."""
        return dataclasses.replace(self, **changes)


class _Refused(ImageReadError):
    """Raised inside the readers; read_image prefixes the file name."""


def _os_reason(exc: OSError) -> str:
    return _one_line(exc.strerror or str(exc)).lower()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _pixels(n: int) -> str:
    """A pixel count, exact (rounded megapixels would say "10, more than the limit of 10")."""
    return f"{n:,} pixels"


def _check_size(width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise _Refused(f"the image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise _Refused(
            f"{width}x{height} is {_pixels(width * height)}, more than the limit of "
            f"{_pixels(max_pixels)} (a guard against decompression bombs); if the file is trusted, "
            "raise the limit with --max-pixels N (0: no limit)"
        )


def _clean_dpi(dpi) -> tuple[float, float] | None:
    """A resolution as two positive numbers rounded to 0.01 (PNG and BMP store dots per metre), or None."""
    if dpi is None:
        return None
    try:
        dpi = (round(float(dpi[0]), 2), round(float(dpi[1]), 2))
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if dpi[0] > 0 and dpi[1] > 0 else None


def _finish(pixels, alpha, *, icc, exif, fmt, mode, dpi, orientation: int | None = None) -> Image:
    if orientation is None:
        orientation = exif_orientation(exif)
    dpi = _clean_dpi(dpi)
    if dpi is not None and orientation in (5, 6, 7, 8):
        dpi = (dpi[1], dpi[0])
    return Image(
        pixels=_orient(pixels, orientation),
        alpha=_orient(alpha, orientation),
        icc=bytes(icc) if icc else None,
        exif=_normalise_exif(exif, reset_orientation=True),
        source_format=fmt,
        mode=mode,
        dpi=dpi,
    )
