"""Test images and an independent PNG codec (pure Python, small images only) to check ours against."""

from __future__ import annotations

import struct
import zlib

import numpy as np

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]  # x0 y0 dx dy


def pixels(h: int, w: int, c: int, dtype: str = "uint8", *, seed: int = 0, smooth: bool = False) -> np.ndarray:
    """Random samples over the full range of ``dtype``; ``smooth`` gives gradients (for lossy codecs)."""
    rng = np.random.default_rng(seed)
    if smooth:
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([(x / max(w - 1, 1) * (0.5 + 0.2 * k) + y / max(h - 1, 1) * (0.4 - 0.1 * k)) % 1.0
                         for k in range(c)], axis=-1)
        f = np.clip(base * 0.8 + 0.1 + rng.normal(0, 0.005, base.shape), 0, 1).astype(np.float32)
    else:
        f = rng.random((h, w, c), dtype=np.float32)
    if dtype == "float32":
        return f
    top = np.iinfo(dtype).max
    return np.rint(f * top).astype(dtype)


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


# ---------------------------------------------------------------------------- PNG, the slow way


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter_rows(raw: np.ndarray, bpp: int, filters: list[int]) -> bytes:
    out = bytearray()
    prev = [0] * raw.shape[1]
    for y, row in enumerate(raw.tolist()):
        ft = filters[y % len(filters)]
        line = []
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][ft]
            line.append((x - pred) & 0xFF)
        out.append(ft)
        out.extend(line)
        prev = row
    return bytes(out)


def png_bytes(arr: np.ndarray, *, filters=(0, 1, 2, 3, 4), interlace: bool = False,
              chunks: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A PNG of (H, W, C) uint8/uint16 ``arr`` (C = 1..4), every filter type in turn, optionally Adam7."""
    h, w, c = arr.shape
    bits = 16 if arr.dtype == np.uint16 else 8
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    bpp = c * bits // 8

    def raw_rows(a: np.ndarray) -> np.ndarray:
        be = a.astype(">u2" if bits == 16 else "u1")
        return be.view(np.uint8).reshape(a.shape[0], -1)

    if interlace:
        data = b""
        for x0, y0, dx, dy in ADAM7:
            sub = arr[y0::dy, x0::dx]
            if sub.size:
                data += _filter_rows(raw_rows(sub), bpp, list(filters))
    else:
        data = _filter_rows(raw_rows(arr), bpp, list(filters))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, colour_type, 0, 0, int(interlace)))
    for kind, payload in chunks:
        out += _chunk(kind, payload)
    return out + _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")


def decode_png(data: bytes) -> tuple[np.ndarray, dict[bytes, bytes]]:
    """(pixels (H, W, C), other chunks) of a non-interlaced 8/16-bit PNG, unfiltered by hand."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, other = 8, b"", {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + payload) & 0xFFFFFFFF
        pos += 12 + n
        if kind == b"IHDR":
            w, h, bits, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", payload)
            assert interlace == 0
        elif kind == b"IDAT":
            idat += payload
        else:
            other[kind] = payload
    c = {0: 1, 4: 2, 2: 3, 6: 4}[colour_type]
    bpp = c * bits // 8
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = [0] * stride
    rows = []
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = list(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            cc = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + [0, a, b, (a + b) // 2, _paeth(a, b, cc)][ft]) & 0xFF
        rows.append(line)
        prev = line
    buf = np.array(rows, dtype=np.uint8).tobytes()
    arr = np.frombuffer(buf, dtype=">u2" if bits == 16 else np.uint8).reshape(h, w, c)
    return arr.astype(np.uint16 if bits == 16 else np.uint8), other
