"""What each format can hold, which names mean which format, and sample conversions between the
three sample types glsgn keeps (uint8, uint16, float32). Everything format-specific in reading and
writing is looked up here, so adding a format starts with one :class:`FormatCaps` row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glsgn_core.files import TEMP_MARKER
from glsgn_core.image_io.image import ImageWriteError


@dataclass(frozen=True)
class FormatCaps:
    name: str
    extensions: tuple[str, ...]
    dtypes: tuple[str, ...]  # sample types it stores, narrowest first; () = read only
    alpha: bool
    grey: bool
    icc: bool
    exif: bool
    dpi: bool
    lossy: bool
    max_side: int | None = None


FORMATS: dict[str, FormatCaps] = {
    c.name: c
    for c in (
        FormatCaps("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), ("uint8",), alpha=False, grey=True,
                   icc=True, exif=True, dpi=True, lossy=True, max_side=65500),
        FormatCaps("PNG", (".png",), ("uint8", "uint16"), alpha=True, grey=True,
                   icc=True, exif=True, dpi=True, lossy=False),
        FormatCaps("TIFF", (".tif", ".tiff"), ("uint8", "uint16", "float32"), alpha=True, grey=True,
                   icc=True, exif=True, dpi=True, lossy=False),
        FormatCaps("WEBP", (".webp",), ("uint8",), alpha=True, grey=False,
                   icc=True, exif=True, dpi=False, lossy=True, max_side=16383),
        FormatCaps("BMP", (".bmp",), ("uint8",), alpha=False, grey=True,
                   icc=False, exif=False, dpi=True, lossy=False),
        FormatCaps("GIF", (".gif",), (), alpha=True, grey=True,
                   icc=False, exif=False, dpi=False, lossy=False),
    )
}
_BY_EXTENSION = {ext: caps for caps in FORMATS.values() for ext in caps.extensions}
#: Extensions read_image accepts (lower case, with the dot).
READ_EXTENSIONS = frozenset(_BY_EXTENSION)
#: Extensions write_image can produce.
WRITE_EXTENSIONS = frozenset(ext for ext, caps in _BY_EXTENSION.items() if caps.dtypes)
_PIL_FORMATS = ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"]
_DTYPE_BITS = {"uint8": "8-bit", "uint16": "16-bit", "float32": "32-bit float"}


def format_for_path(path: str | os.PathLike[str], format: str | None = None) -> FormatCaps:
    """The capabilities of ``format``, or of the format the extension of ``path`` names."""
    if format is not None:
        name = format.upper().lstrip(".")
        caps = FORMATS.get({"JPG": "JPEG", "TIF": "TIFF"}.get(name, name))
        if caps is None or not caps.dtypes:
            raise ImageWriteError(f"cannot write '{path}': unknown output format {format!r} ({_writable_list()})")
        return caps
    ext = Path(path).suffix.lower()
    caps = _BY_EXTENSION.get(ext)
    if caps is None or not caps.dtypes:
        what = f"'{ext}' is not an image extension glsgn writes" if ext else "the name has no extension"
        raise ImageWriteError(f"cannot write '{path}': {what} ({_writable_list()})")
    return caps


def output_extension(input_path: str | os.PathLike[str]) -> str:
    """The extension an output keeps: the input's own where it can be written, else ``.png``."""
    ext = Path(input_path).suffix.lower()
    return Path(input_path).suffix if ext in WRITE_EXTENSIONS else ".png"


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is one of glsgn's temporary files (write_image's and every other atomic
    write's, see :mod:`glsgn_core.files`), left behind only by a crash."""
    name = Path(path).name
    return name.startswith(".") and TEMP_MARKER in name


def _writable_list() -> str:
    return "use " + ", ".join(sorted({c.extensions[0] for c in FORMATS.values() if c.dtypes}))


# Sample conversions


def to_float(a: np.ndarray) -> np.ndarray:
    """uint8 / uint16 -> float32 in [0, 1]; float input is returned as float32 (not clipped)."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / np.float32(65535)
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32, copy=False)
    raise TypeError(f"to_float: unsupported dtype {a.dtype}")


def from_float(a: np.ndarray, dtype: Any) -> np.ndarray:
    """float -> uint8 / uint16 (clipped to [0, 1], rounded to nearest; NaN -> 0) or float32."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.asarray(a, dtype=np.float32)
    if dtype not in (np.uint8, np.uint16):
        raise TypeError(f"from_float: unsupported dtype {dtype}")
    scale = np.float32(255 if dtype == np.uint8 else 65535)
    out = np.nan_to_num(np.asarray(a, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    out = np.clip(out, 0.0, 1.0) * scale
    return np.rint(out, out=out).astype(dtype)


def convert_dtype(a: np.ndarray, dtype: Any) -> np.ndarray:
    """Convert samples between uint8, uint16 and float32, rounding to nearest (never truncating)."""
    dtype = np.dtype(dtype)
    if a.dtype == dtype:
        return a
    if a.dtype == np.uint16 and dtype == np.uint8:  # exact: round(x * 255 / 65535)
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if a.dtype == np.uint8 and dtype == np.uint16:
        return a.astype(np.uint16) * np.uint16(257)
    return from_float(to_float(a), dtype)
