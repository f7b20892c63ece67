"""EXIF, patched in place rather than re-encoded: the orientation is read from IFD0 and, once applied
to the pixels, reset to 1, with every other byte kept. A TIFF keeps its photo metadata among its own
tags; :func:`_tiff_exif` gathers them (through Pillow) into an EXIF blob, so they survive a TIFF
written out as any other format.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image as PILImage

_EXIF_PREFIX = b"Exif\x00\x00"
_ORIENTATION = 0x0112


def _exif_tiff(exif: bytes) -> tuple[bytes, bytes]:
    """Split an EXIF blob into its optional ``Exif\\0\\0`` prefix and the TIFF structure."""
    prefix = _EXIF_PREFIX if exif.startswith(_EXIF_PREFIX) else b""
    return prefix, exif[len(prefix):]


def _orientation_entry(tiff: bytes) -> tuple[str, int] | None:
    """(byte order, offset of the value) of the orientation tag in IFD0, or None."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        tag, kind, n = struct.unpack_from(order + "HHI", tiff, entry)
        if tag == _ORIENTATION and kind == 3 and n == 1:  # SHORT, one value
            return order, entry + 8
    return None


def exif_orientation(exif: bytes | None) -> int:
    """The EXIF orientation (1..8); 1 when absent or unreadable."""
    if not exif:
        return 1
    found = _orientation_entry(_exif_tiff(exif)[1])
    if found is None:
        return 1
    order, at = found
    (value,) = struct.unpack_from(order + "H", _exif_tiff(exif)[1], at)
    return value if 1 <= value <= 8 else 1


def _normalise_exif(exif: bytes | None, *, reset_orientation: bool) -> bytes | None:
    """EXIF with the ``Exif\\0\\0`` prefix, orientation set to 1 in place (every other byte kept)."""
    if not exif:
        return None
    _, tiff = _exif_tiff(exif)
    if tiff[:2] not in (b"II", b"MM"):
        return None  # not a TIFF structure: nothing we could write back safely
    if reset_orientation:
        found = _orientation_entry(tiff)
        if found is not None:
            order, at = found
            patched = bytearray(tiff)
            struct.pack_into(order + "H", patched, at, 1)
            tiff = bytes(patched)
    return _EXIF_PREFIX + tiff


def _orient(a: np.ndarray | None, orientation: int) -> np.ndarray | None:
    """Apply an EXIF orientation to an (H, W, ...) array (same result as ImageOps.exif_transpose)."""
    if a is None or orientation == 1:
        return a
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.swapaxes(0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: np.rot90(x, 2).swapaxes(0, 1),
        8: lambda x: np.rot90(x, 1),
    }
    return np.ascontiguousarray(ops[orientation](a))


# Tags of a TIFF's first IFD that are photo metadata rather than image structure.
_TIFF_EXIF_TAGS = (270, 271, 272, 274, 305, 306, 315, 33432)
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005


def _tiff_exif(path: Path) -> bytes | None:
    """The photo metadata of a TIFF (camera, date, orientation, EXIF and GPS folders) as an EXIF blob."""
    try:
        with open(path, "rb") as f:
            src = PILImage.Exif()
            src.load_from_fp(f)
            out = PILImage.Exif()
            for tag in _TIFF_EXIF_TAGS:
                if tag in src:
                    out[tag] = src[tag]
            for sub in (_EXIF_IFD, _GPS_IFD):
                if sub in src:
                    values = dict(src.get_ifd(sub))
                    if _INTEROP_IFD in values:
                        values[_INTEROP_IFD] = dict(src.get_ifd(_INTEROP_IFD))
                    if values:
                        out[sub] = values
            if not len(out):
                return None
            return out.tobytes()
    except Exception:  # metadata is a bonus: never fail a read over it
        return None
