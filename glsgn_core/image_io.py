"""Read and write photos faithfully: bit depth, alpha, colour profile, EXIF and resolution survive.

``read_image`` returns an :class:`Image` whose ``pixels`` hold the samples exactly as stored in the
file (uint8, uint16 or float32; one grey or three RGB channels) with the alpha channel kept apart
and untouched. ``write_image`` writes one back atomically, keeping the bit depth where the target
format can hold it and rounding correctly where it cannot; :func:`format_warnings` says in words
what a format will lose, so the command line can tell the user.

Pillow reads and writes every format; tifffile reads and writes TIFF (16-bit and float32 colour
images that Pillow cannot represent). Pillow decodes 16-bit colour PNGs to 8 bits, so those are
decoded twice through Pillow's own PNG decoder with raw modes that keep the high and the low byte,
and written by a small PNG encoder here. Nothing in this module imports torch.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, UnidentifiedImageError

from glsgn_core.errors import GlsgnError
from glsgn_core.files import TEMP_MARKER, atomic_write

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "READ_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "Image",
    "FormatCaps",
    "ImageReadError",
    "ImageWriteError",
    "convert_dtype",
    "exif_orientation",
    "format_for_path",
    "format_warnings",
    "from_float",
    "is_temp_file",
    "output_extension",
    "read_image",
    "to_float",
    "write_image",
]

#: Largest width * height read without ``max_pixels=None``: 1.2 gigapixels, more than a 32K x 32K
#: panorama (1.07 gigapixels). It guards against decompression bombs: tiny files that claim to be huge.
DEFAULT_MAX_PIXELS = 1_200_000_000

# Pillow's own bomb guard stops at 179 megapixels, far below the photos this tool is for; the
# ``max_pixels`` check in read_image replaces it (checked from the header, before decoding).
PILImage.MAX_IMAGE_PIXELS = None

_EXIF_PREFIX = b"Exif\x00\x00"
_ORIENTATION = 0x0112
_SRGB_ICC: bytes | None = None


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


# --------------------------------------------------------------------------------------------
# What each format can hold. Everything format-specific in read and write is looked up here.


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


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# EXIF: orientation


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


# --------------------------------------------------------------------------------------------
# Reading


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image:
    """Decode an image file (JPEG, PNG, TIFF, WebP, BMP or a still GIF) into an :class:`Image`.

    Raises :class:`ImageReadError` with a one-line message for anything that is not a readable
    still image: a missing, empty, truncated or corrupt file, an animation, an unsupported mode,
    or more than ``max_pixels`` pixels (checked from the header, before decoding; None = no limit).
    """
    p = Path(path)
    try:
        os.stat(p)
    except OSError as exc:  # missing, a broken link or a symlink loop: say which
        why = "no such file" if exc.errno == errno.ENOENT and not p.is_symlink() else _os_reason(exc)
        if exc.errno == errno.ENOENT and p.is_symlink():
            why = "a symbolic link to a file that does not exist"
        raise ImageReadError(f"cannot read '{path}': {why}") from None
    if p.is_dir():
        raise ImageReadError(f"cannot read '{path}': it is a folder, not an image file")
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ImageReadError(f"cannot read '{path}': {_os_reason(exc)}") from None
    if not head:
        raise ImageReadError(f"cannot read '{path}': the file is empty (0 bytes)")
    try:
        if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _read_tiff(p, max_pixels)
        return _read_pillow(p, max_pixels)
    except ImageReadError as exc:
        raise ImageReadError(f"cannot read '{path}': {exc}") from None
    except MemoryError:
        raise ImageReadError(f"cannot read '{path}': not enough memory to decode it") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, KeyError, IndexError,
            TypeError, zlib.error) as exc:
        raise ImageReadError(f"cannot read '{path}': {_decode_reason(exc)}") from None


class _Refused(ImageReadError):
    """Raised inside the readers; read_image prefixes the file name."""


def _decode_reason(exc: BaseException) -> str:
    text = _one_line(str(exc))
    if isinstance(exc, UnidentifiedImageError):
        return "not an image, or a format glsgn does not read (JPEG, PNG, TIFF, WebP, BMP, GIF)"
    if "truncated" in text or isinstance(exc, EOFError) or "broken data stream" in text:
        return "the file is truncated or corrupt (an incomplete download or copy?)"
    if isinstance(exc, OSError) and exc.errno is not None:
        return _os_reason(exc)
    return f"the file is corrupt or not a valid image ({type(exc).__name__}: {text})"


def _os_reason(exc: OSError) -> str:
    return _one_line(exc.strerror or str(exc)).lower()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_size(width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise _Refused(f"the image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise _Refused(
            f"{width}x{height} is {width * height / 1e6:,.0f} megapixels, more than the limit of "
            f"{max_pixels / 1e6:,.0f} (a guard against decompression bombs); if the file is trusted, "
            "raise the limit with --max-pixels N (0: no limit)"
        )


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


# TIFF


def _read_tiff(path: Path, max_pixels: int | None) -> Image:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series or not tif.pages:
            raise _Refused("the TIFF holds no image")
        page = tif.pages.first
        series = tif.series[0]
        _check_size(int(page.imagewidth), int(page.imagelength), max_pixels)
        axes = series.axes.replace("Q", "")
        extra = [ax for ax in axes if ax not in "YXS"]
        if extra:
            raise _Refused(f"multi-page TIFF ({series.shape[0]} pages): glsgn restores still images only")
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


def _finish(pixels, alpha, *, icc, exif, fmt, mode, dpi, orientation: int | None = None) -> Image:
    if orientation is None:
        orientation = exif_orientation(exif)
    if dpi is not None:
        try:
            dpi = (round(float(dpi[0]), 2), round(float(dpi[1]), 2))  # PNG and BMP store dots per metre
            if not (dpi[0] > 0 and dpi[1] > 0):
                dpi = None
        except (TypeError, ValueError, IndexError):
            dpi = None
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


# --------------------------------------------------------------------------------------------
# Writing


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
    elif exif and caps.name == "JPEG" and len(image.exif) > 65533:
        exif = False
        notes.append("the EXIF block is larger than a JPEG can hold (64 KB): it is dropped")
    return _Plan(caps, np.dtype(dtype), channels, alpha, icc, exif, notes)


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
    dest = Path(path)
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
    try:
        _check_destination(dest)
        atomic_write(dest, lambda f: encoder(f, pixels, alpha, **meta))
    except ImageWriteError:
        raise
    except MemoryError:
        raise ImageWriteError(f"cannot write '{path}': not enough memory to encode it") from None
    except OSError as exc:
        raise ImageWriteError(f"cannot write '{path}': {_os_reason(exc)}") from None
    except (ValueError, TypeError, KeyError, struct.error, zlib.error) as exc:
        raise ImageWriteError(f"cannot write '{path}': {caps.name} encoder failed ({_one_line(str(exc))})") from None


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


def _encode_tiff(f, pixels, alpha, *, icc, exif, dpi, quality):
    import tifffile

    data = pixels if alpha is None else np.concatenate([pixels, alpha[..., None]], axis=-1)
    if data.shape[-1] == 1:
        data = data[..., 0]
    kw: dict[str, Any] = {
        "photometric": "rgb" if pixels.shape[-1] == 3 else "minisblack",
        "compression": "zlib",
        "compressionargs": {"level": 3},  # level 6 takes 5x the time for 2% smaller photos
        "metadata": None,
        "software": False,
    }
    if alpha is not None:
        kw["extrasamples"] = ["unassalpha"]
    if data.dtype.kind == "u" or _has_imagecodecs():
        kw["predictor"] = True  # horizontal differencing; floating-point prediction needs imagecodecs
    row_bytes = max(1, data.nbytes // max(1, data.shape[0]))
    kw["rowsperstrip"] = max(1, min(data.shape[0], (256 * 1024) // row_bytes))
    if dpi:
        kw["resolution"] = (float(dpi[0]), float(dpi[1]))
        kw["resolutionunit"] = "inch"
    if icc:
        kw["iccprofile"] = icc
    if data.nbytes > 2**32 - 2**25:
        kw["bigtiff"] = True
    extratags, description, exif_ifds = _tiff_exif_tags(exif)
    if description:
        kw["description"] = description
    kw["extratags"] = extratags
    with tifffile.TiffWriter(f, bigtiff=kw.pop("bigtiff", False)) as tw:
        tw.write(data, **kw)
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
                    description = value
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


_ENCODERS: dict[str, Callable[..., None]] = {
    "JPEG": _encode_jpeg,
    "PNG": _encode_png,
    "TIFF": _encode_tiff,
    "WEBP": _encode_webp,
    "BMP": _encode_bmp,
}


# 16-bit PNG: Pillow has no 16-bit colour modes, so this writes the chunks itself.


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
