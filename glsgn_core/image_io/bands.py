"""Images read and written a band of rows at a time, so that a gigapixel photo is never held whole.

:func:`open_bands` opens a TIFF whose strips or tiles can be decoded one at a time: its ``pixels``
and ``alpha`` slice like arrays (``pixels[top:bottom, left:right]``) and decode only the strips or
tiles those rows need, keeping the last rows read (a window's height, full width) for the next
slice. :func:`write_image_rows` writes TIFF (strips, BigTIFF above 4 GB) and PNG from row chunks
as they are made. Everything else (JPEG, WebP, BMP, GIF, PNG input, TIFFs that are planar,
rotated by their orientation tag, or compressed with a codec tifffile leaves to imagecodecs) is
decoded whole by :func:`glsgn_core.image_io.read_image`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from glsgn_core.image_io.exif import _normalise_exif, _tiff_exif
from glsgn_core.image_io.formats import format_for_path
from glsgn_core.image_io.image import Image, ImageReadError, ImageWriteError, _clean_dpi, _one_line
from glsgn_core.image_io.png16 import _encode_png_rows
from glsgn_core.image_io.tiff import _other_images, _stacked, _tiff_dpi, _tiff_kwargs, _write_tiff_rows
from glsgn_core.image_io.write import _encode_atomically, _plan

#: Formats :func:`write_image_rows` writes a band at a time.
ROW_FORMATS = ("TIFF", "PNG")


#: Largest strip or tile (decoded bytes) read a band at a time. A file stored as one huge strip (what
#: most writers do for uncompressed TIFFs) would be decoded whole anyway: it goes to read_image.
MAX_SEGMENT_BYTES = 64 << 20


class BandView:
    """Array-like access to some samples of a :class:`Bands` file: ``shape``, ``dtype``, ``ndim`` and
    2-D slicing with unit steps (``view[rows]`` or ``view[rows, columns]``), which returns a new,
    writable NumPy array."""

    def __init__(self, source: Bands, samples: slice, shape: tuple[int, ...]) -> None:
        self._source, self._samples = source, samples
        self.shape, self.dtype, self.ndim = shape, source.dtype, len(shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if len(key) > 2 or not all(isinstance(k, slice) and k.step in (None, 1) for k in key):
            raise TypeError("band views take unit-step slices of rows and columns only")
        rows, cols = (key + (slice(None),))[:2]
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = cols.indices(self.shape[1])
        block = self._source._read(y0, max(y0, y1), x0, max(x0, x1))[..., self._samples]
        return block if self.ndim == 3 else block[..., 0]

    def __array__(self, dtype=None, copy=None):  # np.asarray(view): the whole image, decoded
        whole = self[:, :]
        return whole if dtype is None else whole.astype(dtype)


class Bands:
    """A TIFF opened for reading in bands; ``image`` is its :class:`Image` record whose ``pixels``
    (and ``alpha``) are :class:`BandView` objects. Close it (or use ``with``) when done.

    Decoded strips or tiles (a full-width row of them at a time) are kept from the lowest row the
    last read started at onwards, so that readers moving down the image (the windows, and the
    writer fetching alpha for the rows they finished, a window's height behind) decode each once.
    A read that starts above everything kept (a second pass from the top) starts afresh.
    """

    def __init__(self, path: Path, tif, page, samples: int) -> None:
        self.path, self._tif, self._page, self._samples = path, tif, page, samples
        self._decode = page.decode
        self.height, self.width = int(page.imagelength), int(page.imagewidth)
        self._tiled = bool(page.is_tiled)
        self._seg_h = min(int(page.tilelength) if self._tiled else int(page.rowsperstrip or self.height), self.height)
        self._seg_w = int(page.tilewidth) if self._tiled else self.width
        self._per_row = -(-self.width // self._seg_w)
        self._invert = int(page.photometric) == 0 and page.dtype.kind == "u"  # min-is-white
        self.dtype = np.dtype(np.float32) if page.dtype.kind == "f" else np.dtype(page.dtype)
        self.segment_bytes = self._seg_h * self._seg_w * samples * page.dtype.itemsize
        self._cache: dict[int, np.ndarray] = {}
        self.peak_rows = 0  # the most image rows held decoded at once (for tests and benchmarks)
        self.decoded = 0  # strips or tiles decoded so far

    def close(self) -> None:
        self._cache.clear()
        self._tif.close()

    def __enter__(self) -> Bands:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def probe(self) -> bool:
        """Whether the smallest strip or tile decodes (the codec is one tifffile has without imagecodecs)."""
        try:
            self._segment(int(np.argmin(self._page.databytecounts)))
        except ImageReadError:
            return False
        return True

    def _segment(self, index: int) -> np.ndarray:
        what = "tile" if self._tiled else "strip"
        offset, size = int(self._page.dataoffsets[index]), int(self._page.databytecounts[index])
        try:
            fh = self._tif.filehandle
            fh.seek(offset)
            raw = fh.read(size)
            if len(raw) < size:
                raise _Truncated()
            data, _, _ = self._decode(raw, index)
        except _Truncated:
            raise ImageReadError(f"cannot read '{self.path}': the file ends inside {what} {index} "
                                 "(an incomplete download or copy?)") from None
        except Exception as exc:
            raise ImageReadError(f"cannot read '{self.path}': {what} {index} is corrupt "
                                 f"({type(exc).__name__}: {_one_line(str(exc))})") from None
        if data is None:  # tifffile's answer for a strip or tile with no data offset
            raise ImageReadError(f"cannot read '{self.path}': {what} {index} has no data")
        self.decoded += 1
        data = data[0]
        if self._tiled and data.shape[:2] != (self._seg_h, self._seg_w):  # an edge tile stored unpadded
            data = np.pad(data, ((0, self._seg_h - data.shape[0]), (0, self._seg_w - data.shape[1]), (0, 0)))
        return data

    def _segment_row(self, r: int) -> np.ndarray:
        """Rows [r * seg_h, ...) across the whole width, decoded and converted."""
        top, bottom = r * self._seg_h, min(self.height, (r + 1) * self._seg_h)
        parts = [self._segment(r * self._per_row + c) for c in range(self._per_row)]
        rows = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        rows = rows[: bottom - top, : self.width]
        if rows.dtype != self.dtype:
            rows = rows.astype(self.dtype)
        if self._invert:
            rows = np.iinfo(rows.dtype).max - rows
        return rows

    def _read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        if y1 <= y0:
            return np.empty((0, x1 - x0, self._samples), self.dtype)
        needed = range(y0 // self._seg_h, (y1 - 1) // self._seg_h + 1)
        if self._cache and needed.start < min(self._cache):
            self._cache.clear()  # a new pass from the top
        for r in [r for r in self._cache if r < needed.start]:
            del self._cache[r]
        for r in needed:
            if r not in self._cache:
                self._cache[r] = self._segment_row(r)
        self.peak_rows = max(self.peak_rows, sum(len(v) for v in self._cache.values()))
        start = y0 - needed.start * self._seg_h
        parts = [self._cache[r][:, x0:x1] for r in needed]
        # always a new array: the decoded strips are tifffile's read-only buffers, and the caller may
        # write into what it gets (torch.from_numpy warns about read-only arrays)
        return np.concatenate(parts)[start : start + y1 - y0] if len(parts) > 1 else parts[0][start : start + y1 - y0].copy()


class _Truncated(Exception):
    pass


def open_bands(path: str | os.PathLike[str], *, probe: bool = True) -> Bands | None:
    """Open ``path`` for reading in bands, or None where it must be decoded whole (not a TIFF, or a
    TIFF this module does not stream: see the module's docstring). Never raises for a bad file:
    :func:`~glsgn_core.image_io.read_image` then gives the reason.

    Only the header is read, unless ``probe``: then the smallest strip or tile is decoded too, so that
    a codec tifffile cannot decode without imagecodecs is found now rather than halfway through.
    Call :meth:`Bands.probe` later to do that after deciding from the header.
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            if f.read(4) not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                return None
        import tifffile

        tif = tifffile.TiffFile(p)
    except Exception:
        return None
    try:
        bands = _open_tiff(p, tif)
        if bands is not None and probe and not bands.probe():
            bands = None
    except Exception:
        bands = None
    if bands is None:
        tif.close()
    return bands


def _open_tiff(path: Path, tif) -> Bands | None:
    if not tif.series or not tif.pages or _stacked(tif.series[0]):
        return None
    page = tif.pages.first
    tags = page.tags
    photometric, samples = int(page.photometric), int(page.samplesperpixel)
    colour = 3 if photometric == 2 else 1
    extrasamples = tuple(page.extrasamples or ())
    if (
        photometric not in (0, 1, 2)
        or page.dtype is None
        or page.dtype.kind not in "uf"
        or int(page.bitspersample) not in (8, 16, 32, 64)  # as read_image: 12-bit and the like are refused
        or (page.dtype.kind == "u" and page.dtype.itemsize > 2)
        or int(page.planarconfig) != 1
        or (274 in tags and int(tags[274].value) != 1)  # rotated or mirrored: decoded whole, then turned
        or samples not in (colour, colour + 1)
        or (samples == colour + 1 and not extrasamples)
        or not len(page.dataoffsets)
    ):
        return None
    bands = Bands(path, tif, page, samples)
    if bands.segment_bytes > MAX_SEGMENT_BYTES:
        return None
    bits = {"uint8": "", "uint16": ";16", "float32": ";32F"}[bands.dtype.name]
    mode = ("RGB" if colour == 3 else "L") + ("A" if samples > colour else "") + bits
    pixels = BandView(bands, slice(0, colour), (bands.height, bands.width, colour))
    alpha = BandView(bands, slice(colour, colour + 1), (bands.height, bands.width)) if samples > colour else None
    bands.image = Image(
        pixels=pixels,  # type: ignore[arg-type]  # array-like: shape, dtype, slicing
        alpha=alpha,  # type: ignore[arg-type]
        icc=bytes(tags[34675].value) if 34675 in tags else None,
        exif=_normalise_exif(_tiff_exif(path), reset_orientation=True),
        source_format="TIFF",
        mode=mode,
        dpi=_clean_dpi(_tiff_dpi(page)),
        notes=_other_images(tif),
    )
    return bands


class _RowsFailed(Exception):
    """Carries (as its cause) an exception raised while the rows were being made."""


class _Shape:
    """Stands for pixels not made yet: the shape and dtype a writer plans with."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype, self.ndim, self.size = shape, np.dtype(dtype), len(shape), int(np.prod(shape))


def can_write_rows(path: str | os.PathLike[str], image: Image) -> bool:
    """Whether :func:`write_image_rows` can write ``image`` to ``path`` without converting samples."""
    try:
        caps = format_for_path(path)
    except ImageWriteError:
        return False
    return caps.name in ROW_FORMATS and image.dtype.name in caps.dtypes


def write_image_rows(
    path: str | os.PathLike[str],
    image: Image,
    rows: Iterable[tuple[int, np.ndarray]],
    *,
    shape: tuple[int, int, int] | None = None,
) -> None:
    """Write an image whose pixels arrive as ``(first_row, rows)`` chunks, top to bottom, atomically.

    ``image`` carries the metadata (profile, EXIF, dpi) and the alpha channel, an array or a band view
    of the same height and width as the output; ``shape`` is the output's (H, W, C) when it differs
    from ``image.pixels``'s. The format (TIFF or PNG, see :func:`can_write_rows`) comes from the
    extension. As :func:`~glsgn_core.image_io.write_image`, the file appears whole or not at all.
    """
    shape = tuple(shape or image.pixels.shape)  # type: ignore[assignment]
    caps = format_for_path(path)
    if not can_write_rows(path, image):
        raise ImageWriteError(f"cannot write '{path}' a band at a time: {caps.name} with {image.dtype} samples")
    plan = _plan(image.replace(pixels=_Shape(shape, image.dtype)), caps, path)
    alpha = image.alpha if plan.alpha else None
    if alpha is not None and tuple(alpha.shape) != tuple(shape[:2]):
        raise ImageWriteError(f"cannot write '{path}': alpha {tuple(alpha.shape)} does not match pixels {shape[:2]}")
    samples = shape[2] + (alpha is not None)
    meta = {"icc": image.icc if plan.icc else None, "exif": image.exif if plan.exif else None,
            "dpi": image.dpi if caps.dpi else None}

    def chunks() -> Iterator[np.ndarray]:
        expected, source = 0, iter(rows)
        while True:
            try:
                top, block = next(source)
            except StopIteration:
                break
            except BaseException as exc:  # the restorer or the reader failed, not the encoder
                raise _RowsFailed() from exc
            if top != expected or block.shape[1:] != shape[1:] or block.dtype != image.dtype:
                raise ValueError(f"rows {top}.. of shape {block.shape} {block.dtype} do not continue "
                                 f"{shape} {image.dtype} at row {expected}")
            expected = top + len(block)
            if alpha is not None:
                block = np.concatenate([block, np.asarray(alpha[top:expected])[..., None]], axis=-1)
            yield np.ascontiguousarray(block)
        if expected != shape[0]:
            raise ValueError(f"the rows ended at {expected} of {shape[0]}")

    full = (shape[0], shape[1], samples)
    if caps.name == "TIFF":
        kw = _tiff_kwargs(full, image.dtype, colour=shape[2], alpha=alpha is not None, **meta)
        encode = lambda f: _write_tiff_rows(f, chunks(), full, image.dtype, kw, meta["exif"])  # noqa: E731
    else:
        encode = lambda f: _encode_png_rows(f, chunks(), full, image.dtype, **meta)  # noqa: E731
    try:
        _encode_atomically(path, caps.name, encode)
    except _RowsFailed as failed:  # the rows' producer failed: its own error, not an encoder's
        raise failed.__cause__ from None  # type: ignore[misc]
