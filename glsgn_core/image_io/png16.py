"""PNG written here rather than by Pillow: 16-bit colour (Pillow has no such modes), and any PNG whose
rows arrive a band at a time."""

from __future__ import annotations

import struct
import zlib
from typing import Iterable

import numpy as np

from glsgn_core.image_io.exif import _exif_tiff


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encode_png16(f, pixels: np.ndarray, alpha: np.ndarray | None, *, icc, exif, dpi) -> None:
    """A 16-bit PNG of a whole image."""
    data = pixels if alpha is None else np.concatenate([pixels, alpha[..., None]], axis=-1)
    step = max(1, (8 << 20) // (data.shape[1] * data.shape[2] * 2 + 1))
    chunks = (data[y : y + step] for y in range(0, data.shape[0], step))
    _encode_png_rows(f, chunks, data.shape, data.dtype, icc=icc, exif=exif, dpi=dpi)


def _encode_png_rows(f, chunks: Iterable[np.ndarray], shape: tuple[int, int, int], dtype, *, icc, exif, dpi) -> None:
    """An 8- or 16-bit PNG from (n, W, samples) row chunks arriving top to bottom.

    16-bit rows get the Sub filter and zlib level 3: the low bytes of 16-bit photos are noise that
    higher levels and smarter filters barely shrink, at several times the time. 8-bit rows get the
    Paeth filter (computed for a whole chunk at once; only decoding it is sequential) and level 6,
    as Pillow writes them.
    """
    h, w, c = shape
    bits = 16 if np.dtype(dtype) == np.uint16 else 8
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, colour_type, 0, 0, 0)))
    if icc:
        f.write(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if dpi:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]
        f.write(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if exif:
        f.write(_png_chunk(b"eXIf", _exif_tiff(exif)[1]))
    z = zlib.compressobj(3 if bits == 16 else 6)
    bpp = c * bits // 8
    row_bytes = w * bpp
    previous = np.zeros(row_bytes, np.uint8)  # the row above the first: zeros, as the standard says
    pending: list[bytes] = []
    size = rows_seen = 0
    for chunk in chunks:
        rows = np.ascontiguousarray(chunk.astype(">u2") if bits == 16 else chunk).view(np.uint8).reshape(-1, row_bytes)
        rows_seen += len(rows)
        filtered = np.empty((rows.shape[0], row_bytes + 1), np.uint8)
        if bits == 16:
            filtered[:, 0] = 1  # Sub: each byte minus the same byte of the pixel to its left, modulo 256
            filtered[:, 1 : bpp + 1] = rows[:, :bpp]
            np.subtract(rows[:, bpp:], rows[:, :-bpp], out=filtered[:, bpp + 1 :])
        else:
            filtered[:, 0] = 4
            step = max(1, (4 << 20) // row_bytes)  # the predictor's int16 temporaries: ~19x the rows
            for y in range(0, len(rows), step):
                above = previous if y == 0 else rows[y - 1]
                filtered[y : y + step, 1:] = rows[y : y + step] - _paeth(rows[y : y + step], above, bpp)
        previous = rows[-1].copy()  # the caller may reuse its buffer for the next chunk
        out = z.compress(filtered.tobytes())
        if out:
            pending.append(out)
            size += len(out)
        if size >= 1 << 20:
            f.write(_png_chunk(b"IDAT", b"".join(pending)))
            pending, size = [], 0
    if rows_seen != h:
        raise ValueError(f"{rows_seen} rows for a PNG of {h}")
    pending.append(z.flush())
    f.write(_png_chunk(b"IDAT", b"".join(pending)))
    f.write(_png_chunk(b"IEND", b""))


def _paeth(rows: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """The Paeth predictor of every byte of ``rows`` (n, row_bytes), ``previous`` being the row above."""
    above = np.concatenate([previous[None], rows[:-1]]).astype(np.int16)
    left = np.zeros_like(above)
    left[:, bpp:] = rows[:, :-bpp]
    upper_left = np.zeros_like(above)
    upper_left[:, bpp:] = above[:, :-bpp]
    p = left + above - upper_left
    pa, pb, pc = np.abs(p - left), np.abs(p - above), np.abs(p - upper_left)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, upper_left))
    return pred.astype(np.uint8)
