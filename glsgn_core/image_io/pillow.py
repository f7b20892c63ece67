"""Reading through Pillow (JPEG, PNG, WebP, BMP, GIF, and TIFFs tifffile cannot decode), with 16-bit
colour kept: Pillow decodes 16-bit colour PNGs and TIFFs to 8 bits, so those are decoded twice with
raw modes that keep the high and the low byte of each sample.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms

from glsgn_core.image_io.exif import _tiff_exif
from glsgn_core.image_io.formats import _PIL_FORMATS
from glsgn_core.image_io.image import Image, _check_size, _finish, _Refused

# Pillow's own bomb guard stops at 179 megapixels, far below the photos this tool is for; the
# ``max_pixels`` check in read_image replaces it (checked from the header, before decoding).
PILImage.MAX_IMAGE_PIXELS = None
_SRGB_ICC: bytes | None = None


def _read_pillow(path: Path, max_pixels: int | None) -> Image:
    with PILImage.open(path, formats=_PIL_FORMATS) as im:
        _check_size(im.width, im.height, max_pixels)
        fmt = "JPEG" if im.format == "MPO" else im.format
        frames = getattr(im, "n_frames", 1)
        # An MPO's extra frames are previews, not animation; a TIFF's pages were judged by _read_tiff.
        if frames > 1 and im.format in ("GIF", "PNG", "WEBP"):
            raise _Refused(f"animated {fmt} with {frames} frames: glsgn restores still images only")
        pixels16 = _pillow_16bit(path, im)
        im.load()
        info = dict(im.info)
        mode = im.mode
        if pixels16 is not None:
            pixels, alpha, mode = pixels16
            icc = info.get("icc_profile") or None
        else:
            pixels, alpha, icc = _pillow_arrays(im, info)
    exif = info.get("exif")
    if fmt == "TIFF":
        exif = _tiff_exif(path)
    return _finish(pixels, alpha, icc=icc, exif=exif, fmt=fmt, mode=mode, dpi=info.get("dpi"))


def _pillow_arrays(im: PILImage.Image, info: dict) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    """Pillow image -> (pixels, alpha, icc) for the 8-bit, 16-bit grey and float modes."""
    icc = info.get("icc_profile") or None
    mode = im.mode
    if mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc)
        mode = "RGB"
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in info or (im.palette is not None and im.palette.mode == "RGBA")
        im = im.convert("RGBA" if has_alpha else "RGB")
        mode = im.mode
    elif mode in ("L", "RGB") and "transparency" in info:
        im = im.convert("LA" if mode == "L" else "RGBA")
        mode = im.mode
    conversions = {"1": "L", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB", "YCbCr": "RGB"}
    if mode in conversions:
        im = im.convert(conversions[mode])
        mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.uint16)[..., None], None, icc
    if mode == "F":
        return np.array(im, dtype=np.float32)[..., None], None, icc
    if mode not in ("L", "LA", "RGB", "RGBA"):
        raise _Refused(f"unsupported image mode {im.mode} (glsgn reads grey, RGB, RGBA, palette and CMYK images)")
    a = np.array(im, dtype=np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if mode in ("LA", "RGBA"):
        return np.ascontiguousarray(a[..., :-1]), np.ascontiguousarray(a[..., -1]), icc
    return a, None, icc


def _cmyk_to_rgb(im: PILImage.Image, icc: bytes | None) -> tuple[PILImage.Image, bytes | None]:
    """CMYK -> RGB through the embedded profile into sRGB when there is one, else a plain conversion.

    The CMYK profile never travels with the RGB result: it would describe the wrong colour space.
    """
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if out is not None:
                return out, _srgb_icc()
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return im.convert("RGB"), None


def _srgb_icc() -> bytes:
    global _SRGB_ICC
    if _SRGB_ICC is None:
        _SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _SRGB_ICC


# 16-bit colour through Pillow: its PNG and TIFF decoders unfilter / decompress the samples but
# then keep only the high byte of each. Decoding a second time with the raw mode of the opposite
# byte order keeps the low bytes instead; the two together are the exact 16-bit samples.
_HI_LO = {
    "RGB;16B": ("RGB;16B", "RGB;16L"), "RGB;16L": ("RGB;16L", "RGB;16B"),
    "RGBA;16B": ("RGBA;16B", "RGBA;16L"), "RGBA;16L": ("RGBA;16L", "RGBA;16B"),
}
_NATIVE16 = "L" if sys.byteorder == "little" else "B"


def _pillow_16bit(path: Path, im: PILImage.Image) -> tuple[np.ndarray, np.ndarray | None, str] | None:
    """(pixels, alpha, mode) for a 16-bit colour PNG or TIFF Pillow would truncate, else None."""
    if not im.tile:
        return None
    args = im.tile[0].args
    rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else None
    if not isinstance(rawmode, str):
        return None
    rawmode = rawmode.replace(";16N", ";16" + _NATIVE16)
    if im.format == "PNG" and rawmode == "LA;16B":  # grey + alpha: the 4 bytes pass through as RGBA
        b = _decode_with_rawmode(path, "RGBA").astype(np.uint16)
        pixels = (b[..., 0] << 8 | b[..., 1])[..., None]
        alpha = b[..., 2] << 8 | b[..., 3]
        return _with_png_transparency(im, pixels, alpha, "LA;16")
    if rawmode not in _HI_LO:
        return None
    hi, lo = (_decode_with_rawmode(path, r).astype(np.uint16) for r in _HI_LO[rawmode])
    both = hi << 8 | lo
    mode = rawmode.split(";")[0] + ";16"
    if both.shape[-1] == 4:
        return np.ascontiguousarray(both[..., :3]), np.ascontiguousarray(both[..., 3]), mode
    return _with_png_transparency(im, both, None, mode)


def _with_png_transparency(im, pixels, alpha, mode):
    key = im.info.get("transparency") if im.format == "PNG" else None
    if alpha is None and isinstance(key, tuple) and len(key) == pixels.shape[-1]:
        alpha = np.where(np.all(pixels == np.array(key, dtype=np.uint16), axis=-1), 0, 65535).astype(np.uint16)
    return pixels, alpha, mode


def _decode_with_rawmode(path: Path, rawmode: str) -> np.ndarray:
    with PILImage.open(path, formats=_PIL_FORMATS) as im:
        new_tiles = []
        for tile in im.tile:
            args = tile.args
            args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
            new_tiles.append(tile._replace(args=args))
        im.tile = new_tiles
        if rawmode == "RGBA" and im.mode != "RGBA":
            raise _Refused(f"unexpected PNG layout (mode {im.mode})")
        im.load()
        return np.asarray(im)
