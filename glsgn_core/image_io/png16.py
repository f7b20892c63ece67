"""16-bit PNG: Pillow has no 16-bit colour modes, so this writes the chunks itself."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from glsgn_core.image_io.exif import _exif_tiff


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encode_png16(f, pixels: np.ndarray, alpha: np.ndarray | None, *, icc, exif, dpi, level: int = 3) -> None:
    """A 16-bit PNG, every row with the Sub filter and zlib level 3: the low bytes of 16-bit photos are
    noise that higher levels and smarter filters barely shrink, at several times the time."""
    data = pixels if alpha is None else np.concatenate([pixels, alpha[..., None]], axis=-1)
    h, w, c = data.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)))
    if icc:
        f.write(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if dpi:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]
        f.write(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if exif:
        f.write(_png_chunk(b"eXIf", _exif_tiff(exif)[1]))
    z = zlib.compressobj(level)
    bpp, row_bytes = c * 2, w * c * 2
    step = max(1, (8 << 20) // (row_bytes + 1))
    pending: list[bytes] = []
    size = 0
    for y in range(0, h, step):
        rows = data[y:y + step].astype(">u2").view(np.uint8).reshape(-1, row_bytes)
        filtered = np.empty((rows.shape[0], row_bytes + 1), np.uint8)
        filtered[:, 0] = 1  # Sub: each byte minus the same byte of the pixel to its left, modulo 256
        filtered[:, 1:bpp + 1] = rows[:, :bpp]
        np.subtract(rows[:, bpp:], rows[:, :-bpp], out=filtered[:, bpp + 1:])
        out = z.compress(filtered.tobytes())
        if out:
            pending.append(out)
            size += len(out)
        if size >= 1 << 20:
            f.write(_png_chunk(b"IDAT", b"".join(pending)))
            pending, size = [], 0
    pending.append(z.flush())
    f.write(_png_chunk(b"IDAT", b"".join(pending)))
    f.write(_png_chunk(b"IEND", b""))
