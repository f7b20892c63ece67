"""Read and write photos faithfully: bit depth, alpha, colour profile, EXIF and resolution survive.

``read_image`` returns an :class:`Image` whose ``pixels`` hold the samples exactly as stored in the
file (uint8, uint16 or float32; one grey or three RGB channels) with the alpha channel kept apart
and untouched. ``write_image`` writes one back atomically, keeping the bit depth where the target
format can hold it and rounding correctly where it cannot; :func:`format_warnings` says in words
what a format will lose, so the command line can tell the user.

Pillow reads and writes every format; tifffile reads and writes TIFF (16-bit and float32 colour
images that Pillow cannot represent). Pillow decodes 16-bit colour PNGs to 8 bits, so those are
decoded twice through Pillow's own PNG decoder with raw modes that keep the high and the low byte,
and written by a small PNG encoder here. Nothing in this package imports torch.

The modules, each one concern: :mod:`.image` (the record, its errors, what every reader shares),
:mod:`.formats` (what each format holds, sample conversions), :mod:`.exif`, :mod:`.pillow` (reading,
16-bit colour included), :mod:`.tiff` (tifffile, both ways), :mod:`.png16`, :mod:`.read`, :mod:`.write`, :mod:`.bands` (reading and writing a band of rows at a time, for
images too large to hold).
Import from here: the names below are the package's interface.
"""

from __future__ import annotations

from glsgn_core.image_io.bands import ROW_FORMATS, BandView, Bands, can_write_rows, open_bands, write_image_rows
from glsgn_core.image_io.exif import exif_orientation
from glsgn_core.image_io.formats import (
    FORMATS,
    READ_EXTENSIONS,
    WRITE_EXTENSIONS,
    FormatCaps,
    convert_dtype,
    format_for_path,
    from_float,
    is_temp_file,
    output_extension,
    to_float,
)
from glsgn_core.image_io.image import DEFAULT_MAX_PIXELS, Image, ImageReadError, ImageWriteError
from glsgn_core.image_io.read import read_image
from glsgn_core.image_io.write import _ENCODERS, format_warnings, write_image  # noqa: F401  (tests swap encoders)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ROW_FORMATS",
    "BandView",
    "Bands",
    "can_write_rows",
    "open_bands",
    "write_image_rows",
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
