"""TIFF through tifffile, both ways: 16-bit and float32 colour images that Pillow cannot represent.
Reading falls back to Pillow for layouts tifffile leaves to it (palette, CMYK, codecs it lacks);
writing carries the photo metadata over, with the EXIF and GPS folders as sub-IFDs that tifffile
itself will not write.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

from glsgn_core.image_io.exif import _EXIF_IFD, _GPS_IFD, _INTEROP_IFD, _TIFF_EXIF_TAGS, _tiff_exif
from glsgn_core.image_io.image import Image, _check_size, _finish, _Refused
from glsgn_core.image_io.pillow import _read_pillow


def _read_tiff(path: Path, max_pixels: int | None) -> Image:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series or not tif.pages:
            raise _Refused("the TIFF holds no image")
        page = tif.pages.first
        series = tif.series[0]
        _check_size(int(page.imagewidth), int(page.imagelength), max_pixels)
        if _stacked(series):
            raise _Refused(f"multi-page TIFF ({series.shape[0]} pages): glsgn restores still images only")
        axes = series.axes.replace("Q", "")
        photometric = int(page.photometric)
        if page.dtype is not None and page.dtype.kind == "i":
            raise _Refused(f"unsupported TIFF sample type {page.dtype} (glsgn reads 8/16-bit unsigned and float samples)")
        if photometric not in (0, 1, 2) or int(page.bitspersample) not in (8, 16, 32, 64) \
                or page.dtype is None or page.dtype.kind not in "uf":
            data = None  # palette, CMYK, YCbCr, bi-level, odd bit depths: Pillow converts those
        else:
            try:
                data = series.asarray()
            except (KeyError, ValueError, NotImplementedError) as exc:
                if "imagecodecs" not in str(exc):
                    raise
                data = None  # a codec tifffile has no built-in decoder for (LZW, JPEG, ...)
        if data is None:
            return _read_pillow(path, max_pixels)
        notes = _other_images(tif)
        if "S" in axes and axes.index("S") == 0:  # planar RGB: S Y X -> Y X S
            data = np.moveaxis(data, 0, -1)
        if data.ndim == 2:
            data = data[..., None]
        tags = page.tags
        orientation = int(tags[274].value) if 274 in tags else 1
        icc = bytes(tags[34675].value) if 34675 in tags else None
        dpi = _tiff_dpi(page)
        extrasamples = tuple(int(e) for e in (page.extrasamples or ()))
    data = _tiff_dtype(data)
    colour = 3 if photometric == 2 else 1
    if data.shape[-1] < colour:
        raise _Refused(f"unsupported TIFF layout ({data.shape[-1]} samples for photometric {photometric})")
    if photometric == 0 and data.dtype.kind == "u":  # min-is-white
        data = np.iinfo(data.dtype).max - data
    pixels = np.ascontiguousarray(data[..., :colour])
    alpha = np.ascontiguousarray(data[..., colour]) if data.shape[-1] > colour and extrasamples else None
    if data.shape[-1] > colour + 1:
        raise _Refused(f"unsupported TIFF with {data.shape[-1]} samples per pixel (grey, RGB and an alpha channel only)")
    bits = {"uint8": "", "uint16": ";16", "float32": ";32F"}[data.dtype.name]
    mode = ("RGB" if colour == 3 else "L") + ("A" if alpha is not None else "") + bits
    exif = _tiff_exif(path)
    image = _finish(pixels, alpha, icc=icc, exif=exif, fmt="TIFF", mode=mode, dpi=dpi, orientation=orientation)
    return image.replace(notes=notes)


def _stacked(series) -> bool:
    """Whether a series holds more than one image (pages, samples in depth, time...): any axis beyond
    rows, columns and samples that is longer than 1 (tifffile calls unnamed ones Q)."""
    return any(n > 1 for ax, n in zip(series.axes, series.shape) if ax not in "YXS")


def _other_images(tif) -> tuple[str, ...]:
    """A note when a TIFF holds more images than the one read (pages of different sizes; pages of one
    size are refused as a stack). Reduced-resolution pages (previews, pyramids) do not count."""
    others = [s for s in tif.series[1:] if s.pages and not getattr(s.pages[0], "is_reduced", False)]
    if not others:
        return ()
    first = tif.pages.first
    return (f"the TIFF holds {len(others) + 1} images of different sizes: only the first "
            f"({first.imagewidth}x{first.imagelength}) is read",)


def _tiff_dtype(data: np.ndarray) -> np.ndarray:
    if data.dtype in (np.uint8, np.uint16, np.float32):
        return data
    if data.dtype in (np.float16, np.float64):
        return data.astype(np.float32)
    raise _Refused(f"unsupported TIFF sample type {data.dtype} (glsgn reads 8/16-bit unsigned and float samples)")


def _tiff_dpi(page) -> tuple[float, float] | None:
    try:
        unit = int(page.resolutionunit)
        x, y = page.resolution
    except (TypeError, ValueError, AttributeError):
        return None
    if not x or not y or unit == 1:
        return None
    factor = 2.54 if unit == 3 else 1.0  # centimetre -> inch
    return (float(x) * factor, float(y) * factor)


def _encode_tiff(f, pixels, alpha, *, icc, exif, dpi, quality):
    import tifffile

    data = pixels if alpha is None else np.concatenate([pixels, alpha[..., None]], axis=-1)
    kw = _tiff_kwargs(data.shape, data.dtype, colour=pixels.shape[-1], alpha=alpha is not None, icc=icc, exif=exif, dpi=dpi)
    if data.dtype.kind == "u" or _has_imagecodecs():
        kw["predictor"] = True  # horizontal differencing; floating-point prediction needs imagecodecs
    exif_ifds = kw.pop("exif_ifds")
    with tifffile.TiffWriter(f, bigtiff=kw.pop("bigtiff")) as tw:
        tw.write(data[..., 0] if data.shape[-1] == 1 else data, **kw)
    if exif_ifds:
        _append_tiff_sub_ifds(f, exif_ifds)


def _tiff_kwargs(shape, dtype, *, colour: int, alpha: bool, icc, exif, dpi) -> dict[str, Any]:
    """tifffile's ``write`` arguments for an (H, W, samples) image, shared by the whole-image and the
    row-by-row writers; ``bigtiff`` and ``exif_ifds`` (the EXIF/GPS folders to append) are for the caller."""
    dtype = np.dtype(dtype)
    kw: dict[str, Any] = {
        "photometric": "rgb" if colour == 3 else "minisblack",
        "compression": "zlib",
        "compressionargs": {"level": 3},  # level 6 takes 5x the time for 2% smaller photos
        "metadata": None,
        "software": False,
    }
    if alpha:
        kw["extrasamples"] = ["unassalpha"]
    row_bytes = max(1, shape[1] * shape[2] * dtype.itemsize)
    kw["rowsperstrip"] = max(1, min(shape[0], (256 * 1024) // row_bytes))
    if dpi:
        kw["resolution"] = (float(dpi[0]), float(dpi[1]))
        kw["resolutionunit"] = "inch"
    if icc:
        kw["iccprofile"] = icc
    kw["bigtiff"] = shape[0] * row_bytes > 2**32 - 2**25
    extratags, description, kw["exif_ifds"] = _tiff_exif_tags(exif)
    if kw["bigtiff"]:  # the EXIF/GPS folders are appended as classic-TIFF IFDs only (write.py says so)
        extratags = [t for t in extratags if t[0] - 1 not in kw["exif_ifds"]]
        kw["exif_ifds"] = {}
    if description:
        kw["description"] = description
    kw["extratags"] = extratags
    return kw


def _write_tiff_rows(f, chunks, shape, dtype, kw: dict[str, Any], exif) -> None:
    """A striped TIFF from (n, W, samples) row chunks arriving top to bottom: each strip is filtered
    (horizontal differencing for integer samples) and compressed here, and tifffile writes the strips
    as they come, so no more than a strip and a chunk are held."""
    import tifffile

    kw = dict(kw)
    exif_ifds, bigtiff = kw.pop("exif_ifds"), kw.pop("bigtiff")
    rps, level = kw["rowsperstrip"], kw["compressionargs"]["level"]
    dtype = np.dtype(dtype)
    kw["predictor"] = dtype.kind == "u"
    little = dtype.newbyteorder("<")

    def strips():
        pending: list[np.ndarray] = []
        held = 0
        for chunk in chunks:
            pending.append(chunk)
            held += len(chunk)
            while held >= rps:
                rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
                yield _strip(rows[:rps])
                pending, held = [rows[rps:]], held - rps
        if held:
            yield _strip(np.concatenate(pending))

    def _strip(rows: np.ndarray) -> bytes:
        rows = rows.astype(little, copy=False)
        if kw["predictor"]:
            diff = rows.copy()
            np.subtract(rows[:, 1:], rows[:, :-1], out=diff[:, 1:])  # unsigned: wraps modulo 2^bits
            rows = diff
        return zlib.compress(rows.tobytes(), level)

    with tifffile.TiffWriter(f, bigtiff=bigtiff, byteorder="<") as tw:
        tw.write(strips(), shape=shape if shape[2] > 1 else shape[:2], dtype=little, **kw)
    if exif_ifds:
        _append_tiff_sub_ifds(f, exif_ifds)


def _has_imagecodecs() -> bool:
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        return False
    return True


def _tiff_exif_tags(exif: bytes | None) -> tuple[list, str | None, dict[int, dict]]:
    """EXIF -> (tifffile extratags for the descriptive IFD0 tags, description, EXIF/GPS folders)."""
    if not exif:
        return [], None, {}
    try:
        ex = PILImage.Exif()
        ex.load(exif)
        tags, description, sub = [], None, {}
        for tag in _TIFF_EXIF_TAGS:
            value = ex.get(tag)
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str) and value and value.isascii():
                if tag == 270:
                    # tifffile's own '{"shape": [...]}' states the input's size; the output may differ.
                    description = None if value.startswith('{"shape":') else value
                else:
                    tags.append((tag, "s", 0, value, True))
        for tag in (_EXIF_IFD, _GPS_IFD):
            if tag in ex:
                values = dict(ex.get_ifd(tag))
                values.pop(_INTEROP_IFD, None)
                if values:
                    sub[tag] = values
                    # tifffile will not write these pointer tags: write a placeholder under the
                    # next (unused) code, renamed and pointed at the folder once the file is written
                    tags.append((tag + 1, "I", 1, 0, True))
        return tags, description, sub
    except Exception:
        return [], None, {}


def _append_tiff_sub_ifds(f, folders: dict[int, dict]) -> None:
    """Append the EXIF / GPS folders to a TIFF just written and point IFD0's placeholder tags at them."""
    import tifffile
    from PIL import TiffImagePlugin

    f.flush()
    f.seek(0)
    with tifffile.TiffFile(f) as tif:
        if tif.is_bigtiff:
            return
        order = tif.byteorder
        tags = tif.pages.first.tags
        where = {code: (tags[code + 1].offset, tags[code + 1].valueoffset) for code in folders if code + 1 in tags}
    head = b"II*\x00\x08\x00\x00\x00" if order == "<" else b"MM\x00*\x00\x00\x00\x08"
    for code, values in folders.items():
        if code not in where:
            continue
        f.seek(0, os.SEEK_END)
        offset = f.tell()
        if offset % 2:
            f.write(b"\x00")
            offset += 1
        ifd = TiffImagePlugin.ImageFileDirectory_v2(head, group=code)
        for tag, value in values.items():
            ifd[tag] = value
        f.write(ifd.tobytes(offset))
        entry, value = where[code]
        f.seek(entry)
        f.write(struct.pack(order + "H", code))
        f.seek(value)
        f.write(struct.pack(order + "I", offset))
    f.seek(0, os.SEEK_END)
