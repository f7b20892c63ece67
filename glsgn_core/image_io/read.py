"""``read_image``: one entry for every format, every failure one line that names the file."""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path

from PIL import UnidentifiedImageError

from glsgn_core.image_io.image import DEFAULT_MAX_PIXELS, Image, ImageReadError, _one_line, _os_reason
from glsgn_core.image_io.pillow import _read_pillow
from glsgn_core.image_io.tiff import _read_tiff


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


def _decode_reason(exc: BaseException) -> str:
    text = _one_line(str(exc))
    if isinstance(exc, UnidentifiedImageError):
        return "not an image, or a format glsgn does not read (JPEG, PNG, TIFF, WebP, BMP, GIF)"
    if "truncated" in text or isinstance(exc, EOFError) or "broken data stream" in text:
        return "the file is truncated or corrupt (an incomplete download or copy?)"
    if isinstance(exc, OSError) and exc.errno is not None:
        return _os_reason(exc)
    return f"the file is corrupt or not a valid image ({type(exc).__name__}: {text})"
