"""``write_image``: plan what the target format keeps (and say in words what it loses), check, then
encode atomically: Pillow for JPEG, 8-bit PNG, WebP and BMP, :mod:`.png16` and :mod:`.tiff` for the rest.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image as PILImage

from glsgn_core.files import atomic_write
from glsgn_core.image_io.formats import _DTYPE_BITS, FormatCaps, convert_dtype, format_for_path
from glsgn_core.image_io.image import Image, ImageWriteError, _one_line, _os_reason
from glsgn_core.image_io.png16 import _encode_png16
from glsgn_core.image_io.tiff import _encode_tiff


@dataclass
class _Plan:
    caps: FormatCaps
    dtype: np.dtype
    channels: int  # colour channels written: 1 or 3
    alpha: bool
    icc: bool
    exif: bool
    warnings: list[str]


def _plan(image: Image, caps: FormatCaps, path: Any) -> _Plan:
    """What of ``image`` the format keeps, and a sentence for everything it loses."""
    notes: list[str] = []
    name = caps.name if caps.name != "WEBP" else "WebP"
    src = image.dtype.name
    if src in caps.dtypes:
        dtype = image.dtype
    else:
        wider = [d for d in caps.dtypes if np.dtype(d).itemsize >= image.dtype.itemsize]
        dtype = np.dtype(caps.dtypes[-1] if not wider else wider[0])
        keep = "use .tif" if src == "float32" else "use .png or .tif"
        notes.append(f"{name} cannot store {_DTYPE_BITS.get(src, src)} samples: written as "
                     f"{_DTYPE_BITS[dtype.name]}, rounded ({keep} to keep them)")
        if src == "float32" and image.pixels.size:
            lo, hi = float(np.nanmin(image.pixels)), float(np.nanmax(image.pixels))
            if lo < 0 or hi > 1:
                notes.append(f"float samples outside [0, 1] (from {lo:.3g} to {hi:.3g}) are clipped")
    channels = image.channels
    if channels == 1 and not caps.grey:
        channels = 3
        notes.append(f"{name} has no greyscale mode: written as RGB")
    alpha = image.alpha is not None and caps.alpha
    if image.alpha is not None and not caps.alpha:
        notes.append(f"{name} has no alpha channel: transparency is dropped (use .png, .tif or .webp to keep it)")
    icc = bool(image.icc) and caps.icc
    if image.icc and not caps.icc:
        notes.append(f"{name} cannot embed a colour profile: the ICC profile is dropped")
    elif icc and _icc_space(image.icc) not in (None, {1: b"GRAY", 3: b"RGB "}[channels]):
        icc = False  # e.g. a grey profile on a grey image that WebP stores as RGB
        notes.append(f"the {_icc_space(image.icc).decode().strip()} colour profile does not fit "
                     f"{'an RGB' if channels == 3 else 'a grey'} {name} image: it is dropped")
    exif = bool(image.exif) and caps.exif
    if image.exif and not caps.exif:
        notes.append(f"{name} cannot hold EXIF metadata: it is dropped")
    elif exif and caps.name == "TIFF" and _raw_bytes(image, dtype, channels, alpha) > 2**32 - 2**25:
        notes.append("TIFF over 4 GB (BigTIFF): the EXIF and GPS folders are dropped (camera, date and "
                     "description are kept)")
    elif exif and caps.name == "JPEG" and len(image.exif) > 65533:
        exif = False
        notes.append("the EXIF block is larger than a JPEG can hold (64 KB): it is dropped")
    return _Plan(caps, np.dtype(dtype), channels, alpha, icc, exif, notes)


def _raw_bytes(image: Image, dtype: np.dtype, channels: int, alpha: bool) -> int:
    h, w = image.pixels.shape[:2]
    return h * w * (channels + alpha) * np.dtype(dtype).itemsize


def _icc_space(icc: bytes) -> bytes | None:
    """The colour space an ICC profile describes (b"RGB ", b"GRAY", b"CMYK", ...), from its header."""
    return icc[16:20] if len(icc) >= 20 else None


def format_warnings(image: Image, path: str | os.PathLike[str], *, format: str | None = None) -> list[str]:
    """Sentences saying what writing ``image`` to ``path`` loses (bit depth, alpha, profile, ...),
    after what reading it left out (``image.notes``)."""
    return [*image.notes, *_plan(image, format_for_path(path, format), path).warnings]


def write_image(path: str | os.PathLike[str], image: Image, *, quality: int = 95, format: str | None = None) -> None:
    """Write ``image`` to ``path`` atomically; the format comes from the extension unless given.

    The file appears complete or not at all: the data goes to a hidden temporary file beside it,
    is flushed to disk and renamed over ``path``. On any failure (Ctrl-C included) the temporary
    file is removed and an existing ``path`` is left as it was. Raises :class:`ImageWriteError`.
    """
    caps = format_for_path(path, format)
    plan = _plan(image, caps, path)
    _validate(image, plan, path)
    # Any memory layout in (a restorer's output is often a transposed view): the encoders below
    # reinterpret rows as bytes, which needs C order.
    pixels = np.ascontiguousarray(convert_dtype(image.pixels, plan.dtype))
    if plan.channels == 3 and pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    alpha = np.ascontiguousarray(convert_dtype(image.alpha, plan.dtype)) if plan.alpha else None
    meta = {
        "icc": image.icc if plan.icc else None,
        "exif": image.exif if plan.exif else None,
        "dpi": image.dpi if caps.dpi else None,
        "quality": int(quality),
    }
    encoder = _ENCODERS[caps.name]
    _encode_atomically(path, caps.name, lambda f: encoder(f, pixels, alpha, **meta))


def _encode_atomically(path: Any, format_name: str, encode: Callable[[Any], None]) -> None:
    """Check the destination, run ``encode(f)`` through atomic_write, and turn what can go wrong into
    one-line :class:`ImageWriteError` messages (write_image's and write_image_rows' shared tail)."""
    try:
        _check_destination(Path(path))
        atomic_write(Path(path), encode)
    except ImageWriteError:
        raise
    except MemoryError:
        raise ImageWriteError(f"cannot write '{path}': not enough memory to encode it") from None
    except OSError as exc:
        raise ImageWriteError(f"cannot write '{path}': {_os_reason(exc)}") from None
    except (ValueError, TypeError, KeyError, struct.error, zlib.error) as exc:
        raise ImageWriteError(f"cannot write '{path}': {format_name} encoder failed ({_one_line(str(exc))})") from None


def _validate(image: Image, plan: _Plan, path: Any) -> None:
    px = image.pixels
    if not isinstance(px, np.ndarray) or px.ndim != 3 or px.shape[2] not in (1, 3):
        raise ImageWriteError(f"cannot write '{path}': pixels must be (H, W, 1) or (H, W, 3), got "
                              f"{getattr(px, 'shape', type(px).__name__)}")
    if px.dtype.name not in _DTYPE_BITS:
        raise ImageWriteError(f"cannot write '{path}': pixels must be uint8, uint16 or float32, got {px.dtype}")
    if px.shape[0] == 0 or px.shape[1] == 0:
        raise ImageWriteError(f"cannot write '{path}': the image has no pixels")
    if image.alpha is not None and (image.alpha.shape != px.shape[:2] or image.alpha.dtype != px.dtype):
        raise ImageWriteError(f"cannot write '{path}': alpha {image.alpha.shape} {image.alpha.dtype} does not "
                              f"match pixels {px.shape[:2]} {px.dtype}")
    side = plan.caps.max_side
    if side is not None and max(px.shape[:2]) > side:
        name = plan.caps.name if plan.caps.name != "WEBP" else "WebP"
        raise ImageWriteError(f"cannot write '{path}': {px.shape[1]}x{px.shape[0]} is too large for {name} "
                              f"(at most {side} pixels a side); use .png or .tif")


def _check_destination(dest: Path) -> None:
    """Refuse, with a clear message, a destination whose folder is missing or that is a folder."""
    folder = dest.parent
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        raise ImageWriteError(f"cannot write '{dest}': the folder '{folder}' {why}")
    if dest.is_dir():
        raise ImageWriteError(f"cannot write '{dest}': a folder of that name exists")


def _pil(pixels: np.ndarray, alpha: np.ndarray | None) -> PILImage.Image:
    a = pixels if alpha is None else np.concatenate([pixels, alpha[..., None]], axis=-1)
    return PILImage.fromarray(a[..., 0] if a.shape[-1] == 1 else a)


def _encode_jpeg(f, pixels, alpha, *, icc, exif, dpi, quality):
    # 4:4:4 chroma at the qualities a restoration is saved with: 4:2:0 would blur the colour detail back
    kw = _pil_meta(icc, exif, dpi)
    _pil(pixels, None).save(f, "JPEG", quality=quality, subsampling=0 if quality >= 90 else 2, **kw)


def _encode_png(f, pixels, alpha, *, icc, exif, dpi, quality):
    if pixels.dtype == np.uint16:
        _encode_png16(f, pixels, alpha, icc=icc, exif=exif, dpi=dpi)
    else:
        _pil(pixels, alpha).save(f, "PNG", compress_level=6, **_pil_meta(icc, exif, dpi))


def _encode_webp(f, pixels, alpha, *, icc, exif, dpi, quality):
    _pil(pixels, alpha).save(f, "WEBP", quality=quality, method=4, **_pil_meta(icc, exif, None))


def _encode_bmp(f, pixels, alpha, *, icc, exif, dpi, quality):
    _pil(pixels, None).save(f, "BMP", **_pil_meta(None, None, dpi))


def _pil_meta(icc, exif, dpi) -> dict:
    kw: dict[str, Any] = {}
    if icc:
        kw["icc_profile"] = icc
    if exif:
        kw["exif"] = exif
    if dpi:
        kw["dpi"] = dpi
    return kw


_ENCODERS: dict[str, Callable[..., None]] = {
    "JPEG": _encode_jpeg,
    "PNG": _encode_png,
    "TIFF": _encode_tiff,
    "WEBP": _encode_webp,
    "BMP": _encode_bmp,
}
