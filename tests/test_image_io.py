"""glsgn_core.image_io: faithful reading and writing, every failure as one clear line."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps

from glsgn_core import image_io
from glsgn_core.errors import GlsgnError
from glsgn_core.image_io import (
    Image,
    ImageReadError,
    ImageWriteError,
    convert_dtype,
    format_warnings,
    from_float,
    read_image,
    to_float,
    write_image,
)

try:
    from tests._images import decode_png, pixels, png_bytes, psnr
except ImportError:  # tests/ is not a package
    from _images import decode_png, pixels, png_bytes, psnr

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int | None = None, make: str = "GlsgnCam") -> bytes:
    ex = PILImage.Exif()
    ex[0x010F] = make
    ex[0x0132] = "2024:01:02 03:04:05"
    if orientation is not None:
        ex[0x0112] = orientation
    ex[0x8769] = {0x829A: (1, 250), 0x8827: 200}  # ExposureTime, ISO in the EXIF folder
    return ex.tobytes()


def exif_tags(exif: bytes) -> dict:
    ex = PILImage.Exif()
    ex.load(exif)
    return {"make": ex.get(0x010F), "orientation": ex.get(0x0112, 1), "iso": ex.get_ifd(0x8769).get(0x8827)}


def assert_one_line(exc: BaseException, *needles: str) -> None:
    text = str(exc)
    assert "\n" not in text and text.strip() == text
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"


# ---------------------------------------------------------------------------------------------
# Round trips


LOSSLESS = {".png", ".tif", ".bmp"}
STORED = {  # what each extension stores for an input sample type
    ".png": {"uint8": "uint8", "uint16": "uint16", "float32": "uint16"},
    ".tif": {"uint8": "uint8", "uint16": "uint16", "float32": "float32"},
    ".jpg": {"uint8": "uint8", "uint16": "uint8", "float32": "uint8"},
    ".webp": {"uint8": "uint8", "uint16": "uint8", "float32": "uint8"},
    ".bmp": {"uint8": "uint8", "uint16": "uint8", "float32": "uint8"},
}
HAS_ALPHA = {".png", ".tif", ".webp"}


@pytest.mark.parametrize("ext", sorted(STORED))
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_round_trip_matrix(tmp_path, ext, dtype, channels, with_alpha):
    lossy = ext not in LOSSLESS
    px = pixels(24, 40, channels, dtype, seed=channels, smooth=lossy)
    alpha = pixels(24, 40, 1, dtype, seed=9, smooth=lossy)[..., 0] if with_alpha else None
    image = Image(px, alpha, dpi=(300.0, 300.0), source_format="PNG")
    path = tmp_path / f"out{ext}"
    write_image(path, image)
    back = read_image(path)

    stored = np.dtype(STORED[ext][dtype])
    expected = convert_dtype(px, stored)
    if ext == ".webp" and channels == 1:
        expected = np.repeat(expected, 3, axis=-1)  # WebP has no grey mode
    assert back.pixels.dtype == stored
    assert back.pixels.shape == expected.shape
    if lossy:
        peak = 255.0
        assert psnr(back.pixels, expected, peak) > (38 if ext == ".jpg" else 30)
    else:
        np.testing.assert_array_equal(back.pixels, expected)
    if with_alpha and ext in HAS_ALPHA:
        assert back.alpha is not None and back.alpha.dtype == stored
        want = convert_dtype(alpha, stored)
        if lossy:
            assert psnr(back.alpha, want, 255.0) > 30
        else:
            np.testing.assert_array_equal(back.alpha, want)
    else:
        assert back.alpha is None
    if ext != ".webp":
        assert back.dpi == (300.0, 300.0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rounding_not_truncation():
    x = np.array([0, 128, 383, 384, 65535, 32767, 32896], np.uint16)
    np.testing.assert_array_equal(convert_dtype(x, np.uint8), np.round(x / 257).astype(np.uint8))
    f = np.array([0.0, 0.49 / 255, 0.51 / 255, 1.0, 1.7, -0.2, np.nan], np.float32)
    assert from_float(f, np.uint8).tolist() == [0, 0, 1, 255, 255, 0, 0]
    assert from_float(np.float32([0.5]), np.uint16).tolist() == [32768]
    u = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(from_float(to_float(u), np.uint8), u)
    w = np.arange(0, 65536, 7, dtype=np.uint16)
    np.testing.assert_array_equal(from_float(to_float(w), np.uint16), w)
    assert to_float(np.float32([2.5])).tolist() == [2.5]  # HDR float samples are not clipped on the way in


# ---------------------------------------------------------------------------------------------
# 16-bit PNG: Pillow truncates these to 8 bits; we must not


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("interlace", [False, True])
def test_16bit_png_from_an_independent_encoder(tmp_path, channels, interlace):
    arr = pixels(13, 17, channels, "uint16", seed=channels)
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(arr, interlace=interlace))
    image = read_image(path)
    colour = 1 if channels <= 2 else 3
    np.testing.assert_array_equal(image.pixels, arr[..., :colour])
    if channels in (2, 4):
        np.testing.assert_array_equal(image.alpha, arr[..., colour])
    else:
        assert image.alpha is None
    assert image.pixels.dtype == np.uint16


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_16bit_png_encoder_checked_by_an_independent_decoder(tmp_path, channels, with_alpha):
    px = pixels(11, 19, channels, "uint16", seed=3)
    alpha = pixels(11, 19, 1, "uint16", seed=4)[..., 0] if with_alpha else None
    path = tmp_path / "y.png"
    icc = SRGB if channels == 3 else None
    write_image(path, Image(px, alpha, icc=icc, exif=exif_bytes(), dpi=(72.0, 72.0)))
    arr, chunks = decode_png(path.read_bytes())
    expected = px if alpha is None else np.concatenate([px, alpha[..., None]], axis=-1)
    np.testing.assert_array_equal(arr, expected)
    if icc:
        assert zlib.decompress(chunks[b"iCCP"].split(b"\x00", 1)[1][1:]) == SRGB
    assert chunks[b"eXIf"].startswith((b"II", b"MM"))
    im = PILImage.open(path)  # and Pillow agrees on the header and metadata
    assert im.size == (19, 11) and im.info.get("icc_profile") == icc and im.getexif()[0x010F] == "GlsgnCam"


def test_16bit_png_with_transparency_key(tmp_path):
    arr = pixels(5, 6, 3, "uint16", seed=1)
    arr[0, 0] = (1, 2, 3)
    path = tmp_path / "t.png"
    path.write_bytes(png_bytes(arr, chunks=[(b"tRNS", struct.pack(">HHH", 1, 2, 3))]))
    image = read_image(path)
    np.testing.assert_array_equal(image.pixels, arr)
    assert image.alpha[0, 0] == 0 and (image.alpha.ravel()[1:] == 65535).all()


def test_16bit_grey_png_written_by_pillow(tmp_path):
    arr = pixels(6, 7, 1, "uint16")[..., 0]
    PILImage.fromarray(arr).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.pixels.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels[..., 0], arr)


# ---------------------------------------------------------------------------------------------
# TIFF


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("planar", [False, True])
def test_tiff_written_by_tifffile(tmp_path, dtype, planar):
    arr = pixels(10, 12, 4, dtype, seed=5)
    path = tmp_path / "t.tif"
    data = np.moveaxis(arr, -1, 0) if planar else arr
    tifffile.imwrite(path, data, photometric="rgb", planarconfig="separate" if planar else "contig",
                     extrasamples=["unassalpha"], compression="zlib", iccprofile=SRGB,
                     resolution=(118.0, 118.0), resolutionunit="centimeter", metadata=None)
    image = read_image(path)
    np.testing.assert_array_equal(image.pixels, arr[..., :3])
    np.testing.assert_array_equal(image.alpha, arr[..., 3])
    assert image.icc == SRGB and image.source_format == "TIFF"
    assert image.dpi == pytest.approx((299.72, 299.72))


def test_tiff_grey_float_and_minisblack(tmp_path):
    arr = pixels(8, 9, 1, "float32")[..., 0] * 4 - 1  # HDR values survive untouched
    tifffile.imwrite(tmp_path / "f.tif", arr, photometric="minisblack")
    image = read_image(tmp_path / "f.tif")
    assert image.pixels.shape == (8, 9, 1) and image.pixels.dtype == np.float32
    np.testing.assert_array_equal(image.pixels[..., 0], arr)
    write_image(tmp_path / "g.tif", image)
    np.testing.assert_array_equal(read_image(tmp_path / "g.tif").pixels, image.pixels)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_16bit_tiff_through_pillow_when_tifffile_lacks_the_codec(tmp_path, monkeypatch, channels, compression):
    """Without imagecodecs tifffile cannot decode LZW/JPEG/PackBits; Pillow (libtiff) takes over."""
    arr = pixels(9, 11, channels, "uint16", seed=7)
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, arr, photometric="rgb", compression=compression,
                     extrasamples=["unassalpha"] if channels == 4 else None, metadata=None)

    def no_codec(*args, **kwargs):
        raise KeyError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", no_codec)
    image = read_image(path)
    np.testing.assert_array_equal(image.pixels, arr[..., :3])
    if channels == 4:
        np.testing.assert_array_equal(image.alpha, arr[..., 3])


@pytest.mark.parametrize("compression", ["tiff_lzw", "packbits", "jpeg", "group4"])
def test_tiffs_written_by_pillow(tmp_path, compression):
    if compression == "group4":
        src = PILImage.fromarray(pixels(16, 24, 1)[..., 0] > 128)
    else:
        src = PILImage.fromarray(pixels(16, 24, 3, smooth=compression == "jpeg"))
    src.save(tmp_path / "p.tif", compression=compression)
    image = read_image(tmp_path / "p.tif")
    expected = np.asarray(src.convert("L" if src.mode == "1" else "RGB"))
    expected = expected[..., None] if expected.ndim == 2 else expected
    if compression == "jpeg":
        assert psnr(image.pixels, expected, 255) > 30
    else:
        np.testing.assert_array_equal(image.pixels, expected)


def test_tiff_exif_and_orientation(tmp_path):
    arr = pixels(6, 10, 3, "uint16", seed=2)
    path = tmp_path / "o.tif"
    tifffile.imwrite(path, arr, photometric="rgb", metadata=None,
                     extratags=[(271, "s", 0, "TiffCam", True), (274, "H", 1, 6, True)])
    image = read_image(path)
    np.testing.assert_array_equal(image.pixels, np.rot90(arr, -1))
    tags = exif_tags(image.exif)
    assert tags["make"] == "TiffCam" and tags["orientation"] == 1


def test_tiff_output_keeps_exif_folders(tmp_path):
    image = Image(pixels(5, 6, 3, "uint16"), exif=exif_bytes(), icc=SRGB)
    write_image(tmp_path / "e.tif", image)
    back = read_image(tmp_path / "e.tif")
    assert exif_tags(back.exif) == {"make": "GlsgnCam", "orientation": 1, "iso": 200}
    assert back.icc == SRGB
    with tifffile.TiffFile(tmp_path / "e.tif") as tif:  # tifffile and libtiff still read a valid TIFF
        np.testing.assert_array_equal(tif.asarray(), image.pixels)
        assert tif.pages.first.tags["ExifTag"].value["ISOSpeedRatings"] == 200
    with PILImage.open(tmp_path / "e.tif") as im:
        im.load()
        assert im.getexif().get_ifd(0x8769)[0x8827] == 200


def test_tiff_description_of_another_shape_is_not_carried(tmp_path):
    # tifffile's default description records the array's shape; an output of another size
    # (an upscale) must not claim the input's, while a photographer's own caption is kept.
    tifffile.imwrite(tmp_path / "s.tif", pixels(6, 10, 3, "uint16"), photometric="rgb")
    tifffile.imwrite(tmp_path / "c.tif", pixels(6, 10, 3, "uint16"), photometric="rgb", metadata=None,
                     description="harbour at dusk")
    for name, kept in (("s.tif", None), ("c.tif", "harbour at dusk")):
        src = read_image(tmp_path / name)
        write_image(tmp_path / f"big-{name}", Image(pixels(12, 20, 3, "uint16"), exif=src.exif))
        with tifffile.TiffFile(tmp_path / f"big-{name}") as tif:
            assert tif.series[0].shape == (12, 20, 3)
            described = [t.value for t in tif.pages.first.tags.values() if t.code == 270]
            assert not any('"shape": [6, 10' in d for d in described)
            assert kept is None or kept in described


def test_multipage_tiff_refused(tmp_path):
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tw:
        for seed in range(3):
            tw.write(pixels(8, 8, 1, seed=seed)[..., 0], photometric="minisblack", metadata=None)
    with pytest.raises(ImageReadError) as e:
        read_image(tmp_path / "stack.tif")
    assert_one_line(e.value, "stack.tif", "multi-page", "3 pages")


# ---------------------------------------------------------------------------------------------
# Pillow modes


def _save(tmp_path, im: PILImage.Image, name: str, **kw) -> Path:
    path = tmp_path / name
    im.save(path, **kw)
    return path


def test_palette_with_and_without_transparency(tmp_path):
    rgb = PILImage.fromarray(pixels(8, 8, 3))
    p = rgb.convert("P", palette=PILImage.Palette.ADAPTIVE, colors=16)
    image = read_image(_save(tmp_path, p, "p.png"))
    assert image.pixels.shape == (8, 8, 3) and image.alpha is None and image.mode == "P"
    np.testing.assert_array_equal(image.pixels, np.asarray(p.convert("RGB")))
    path = _save(tmp_path, p, "pt.png", transparency=0)
    image = read_image(path)
    assert image.alpha is not None and (image.alpha == 0).any()
    np.testing.assert_array_equal(image.alpha, np.asarray(PILImage.open(path).convert("RGBA"))[..., 3])
    image = read_image(_save(tmp_path, p, "p.gif"))
    assert image.source_format == "GIF" and image.pixels.shape == (8, 8, 3)


def test_bilevel_grey_and_grey_alpha(tmp_path):
    one = PILImage.fromarray(pixels(8, 9, 1)[..., 0] > 100)
    image = read_image(_save(tmp_path, one, "one.png"))
    assert image.pixels.dtype == np.uint8 and set(np.unique(image.pixels)) <= {0, 255}
    la = pixels(8, 9, 2)
    image = read_image(_save(tmp_path, PILImage.fromarray(la), "la.png"))
    np.testing.assert_array_equal(image.pixels[..., 0], la[..., 0])
    np.testing.assert_array_equal(image.alpha, la[..., 1])


def test_rgb_with_transparency_key_gets_alpha(tmp_path):
    arr = pixels(4, 4, 3)
    arr[1, 1] = (10, 20, 30)
    image = read_image(_save(tmp_path, PILImage.fromarray(arr), "k.png", transparency=(10, 20, 30)))
    assert image.alpha[1, 1] == 0 and image.alpha[0, 0] == 255


def test_cmyk_is_converted_and_its_profile_not_kept(tmp_path):
    cmyk = PILImage.new("CMYK", (6, 5), (0, 255, 255, 0))  # pure red
    for name in ("c.jpg", "c.tif"):
        image = read_image(_save(tmp_path, cmyk, name))
        assert image.pixels.shape == (5, 6, 3) and image.mode == "CMYK" and image.icc is None
        r, g, b = image.pixels[2, 2].astype(int)
        assert r > 200 and g < 40 and b < 40


def test_mpo_reads_the_main_picture(tmp_path):
    frames = [PILImage.fromarray(pixels(8, 8, 3, smooth=True)), PILImage.new("RGB", (8, 8), "blue")]
    frames[0].save(tmp_path / "m.jpg", "MPO", save_all=True, append_images=frames[1:])
    image = read_image(tmp_path / "m.jpg")
    assert image.source_format == "JPEG" and image.pixels.shape == (8, 8, 3)


# ---------------------------------------------------------------------------------------------
# Metadata


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_exif_and_icc_preserved(tmp_path, ext):
    src = PILImage.fromarray(pixels(8, 10, 3, smooth=True))
    path = _save(tmp_path, src, "src" + ext, exif=exif_bytes(), icc_profile=SRGB)
    image = read_image(path)
    assert image.icc == SRGB and exif_tags(image.exif)["make"] == "GlsgnCam"
    for out_ext in (".jpg", ".png", ".webp", ".tif"):
        out = tmp_path / f"out{ext}{out_ext}"
        write_image(out, image)
        back = read_image(out)
        assert back.icc == SRGB, out_ext
        assert exif_tags(back.exif) == {"make": "GlsgnCam", "orientation": 1, "iso": 200}, out_ext


def test_bmp_drops_metadata_and_says_so(tmp_path):
    image = Image(pixels(4, 4, 3), pixels(4, 4, 1)[..., 0], icc=SRGB, exif=exif_bytes())
    notes = format_warnings(image, tmp_path / "x.bmp")
    assert any("alpha" in n for n in notes) and any("ICC" in n for n in notes) and any("EXIF" in n for n in notes)
    write_image(tmp_path / "x.bmp", image)
    back = read_image(tmp_path / "x.bmp")
    assert back.alpha is None and back.icc is None and back.exif is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_and_reset(tmp_path, orientation):
    arr = pixels(6, 10, 3, seed=orientation)
    path = _save(tmp_path, PILImage.fromarray(arr), "o.png", exif=exif_bytes(orientation))
    image = read_image(path)
    expected = np.asarray(ImageOps.exif_transpose(PILImage.open(path)))
    np.testing.assert_array_equal(image.pixels, expected)
    assert exif_tags(image.exif) == {"make": "GlsgnCam", "orientation": 1, "iso": 200}
    # only the orientation value changed: every other EXIF byte is kept as it was
    original = PILImage.open(path).info["exif"]
    diff = [i for i, (a, b) in enumerate(zip(original, image.exif, strict=True)) if a != b]
    assert len(original) == len(image.exif) and len(diff) <= 1


def test_orientation_applies_to_alpha_and_16bit(tmp_path):
    arr = pixels(5, 9, 4, "uint16", seed=1)
    ex = exif_bytes(8)[6:]  # eXIf holds the TIFF structure without the "Exif" prefix
    path = tmp_path / "o16.png"
    path.write_bytes(png_bytes(arr, chunks=[(b"eXIf", ex)]))
    image = read_image(path)
    np.testing.assert_array_equal(image.pixels, np.rot90(arr[..., :3], 1))
    np.testing.assert_array_equal(image.alpha, np.rot90(arr[..., 3], 1))


# ---------------------------------------------------------------------------------------------
# Warnings


def test_format_warnings():
    f16 = Image(pixels(4, 4, 3, "uint16"), pixels(4, 4, 1, "uint16")[..., 0])
    notes = format_warnings(f16, "a.jpg")
    assert any("16-bit" in n and "8-bit" in n for n in notes) and any("alpha" in n for n in notes)
    assert format_warnings(f16, "a.png") == [] and format_warnings(f16, "a.tif") == []
    hdr = Image(np.full((2, 2, 1), 1.5, np.float32))
    notes = format_warnings(hdr, "a.png")
    assert any("float" in n and "16-bit" in n for n in notes) and any("clipped" in n for n in notes)
    assert any("greyscale" in n for n in format_warnings(hdr, "a.webp"))
    grey_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()[:16] + b"GRAY" + bytes(108)
    notes = format_warnings(Image(np.zeros((2, 2, 1), np.uint8), icc=grey_icc), "a.webp")
    assert any("GRAY colour profile does not fit an RGB" in n for n in notes)
    assert format_warnings(Image(np.zeros((2, 2, 1), np.uint8), icc=grey_icc), "a.png") == []
    with pytest.raises(ImageWriteError) as e:
        format_warnings(hdr, "a.xyz")
    assert_one_line(e.value, "a.xyz", ".xyz")


# ---------------------------------------------------------------------------------------------
# Bad input: one line each, naming the file and the reason


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 1000)
    return head + struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))


def _truncated(tmp_path, ext):
    PILImage.fromarray(pixels(64, 64, 3)).save(tmp_path / f"full{ext}")
    data = (tmp_path / f"full{ext}").read_bytes()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])
    return path


def _animated(tmp_path, ext):
    frames = [PILImage.new("RGB", (8, 8), c) for c in ("red", "green", "blue")]
    path = tmp_path / f"anim{ext}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


BAD = {
    "missing": (lambda t: t / "nope.png", ["nope.png", "no such file"]),
    "empty": (lambda t: (t / "empty.jpg").write_bytes(b"") and None or t / "empty.jpg", ["empty.jpg", "empty (0 bytes)"]),
    "text": (lambda t: (t / "notes.jpg").write_text("hello\n") and t / "notes.jpg", ["notes.jpg", "not an image"]),
    "truncated png": (lambda t: _truncated(t, ".png"), ["cut.png", "truncated"]),
    "truncated jpeg": (lambda t: _truncated(t, ".jpg"), ["cut.jpg", "truncated"]),
    "truncated tiff": (lambda t: _truncated(t, ".tif"), ["cut.tif", "cannot read"]),
    "bomb": (lambda t: (t / "bomb.png").write_bytes(_png_header_only(100_000, 100_000)) and t / "bomb.png",
             ["bomb.png", "100000x100000", "10,000,000,000 pixels", "--max-pixels N (0: no limit)"]),
    "animated gif": (lambda t: _animated(t, ".gif"), ["anim.gif", "animated GIF", "3 frames"]),
    "animated webp": (lambda t: _animated(t, ".webp"), ["anim.webp", "animated WEBP", "3 frames"]),
    "apng": (lambda t: _animated(t, ".png"), ["anim.png", "animated PNG", "3 frames"]),
    "folder": (lambda t: (t / "holiday.jpg").mkdir() or t / "holiday.jpg", ["holiday.jpg", "folder"]),
    "other format": (lambda t: PILImage.new("RGB", (4, 4)).save(t / "x.ppm") or t / "x.ppm", ["x.ppm", "not an image"]),
    "int32 tiff": (lambda t: tifffile.imwrite(t / "i.tif", np.zeros((4, 4), np.int32)) or t / "i.tif",
                   ["i.tif", "unsupported", "int32"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_clear_line(tmp_path, case):
    make, needles = BAD[case]
    path = make(tmp_path)
    with pytest.raises(ImageReadError) as e:
        read_image(path)
    assert isinstance(e.value, GlsgnError)
    assert_one_line(e.value, "cannot read", *needles)


def test_pixel_limit_is_checked_before_decoding_and_can_be_lifted(tmp_path):
    path = tmp_path / "small.png"
    PILImage.fromarray(pixels(10, 10, 3)).save(path)
    with pytest.raises(ImageReadError, match="more than the limit"):
        read_image(path, max_pixels=99)
    assert read_image(path, max_pixels=None).pixels.shape == (10, 10, 3)
    assert image_io.DEFAULT_MAX_PIXELS > 32768 * 32768


def test_one_pixel_and_non_ascii_names(tmp_path):
    for name in ("1x1.png", "Ünïcødé 写真 📷.jpg", "espace dans le nom.tif"):
        path = tmp_path / name
        write_image(path, Image(np.full((1, 1, 3), 200, np.uint8)))
        image = read_image(path)
        assert image.pixels.shape == (1, 1, 3)
    with pytest.raises(ImageReadError) as e:
        read_image(tmp_path / "Ünïcødé 缺.png")
    assert_one_line(e.value, "Ünïcødé 缺.png")


# ---------------------------------------------------------------------------------------------
# Writing: errors and atomicity


def _image():
    return Image(pixels(8, 8, 3))


def test_unwritable_destinations(tmp_path):
    (tmp_path / "file").write_text("x")
    cases = {
        tmp_path / "file" / "out.png": "is not a folder",
        tmp_path / "missing" / "out.png": "does not exist",
        tmp_path / "out.xyz": "not an image extension",
        tmp_path / "noext": "no extension",
    }
    (tmp_path / "adir.png").mkdir()
    cases[tmp_path / "adir.png"] = "a folder of that name exists"
    for path, needle in cases.items():
        with pytest.raises(ImageWriteError) as e:
            write_image(path, _image())
        assert_one_line(e.value, "cannot write", path.name, needle)


def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ImageWriteError) as e:
            write_image(folder / "x.png", _image())
        assert_one_line(e.value, "x.png", "permission denied")
    finally:
        folder.chmod(0o700)


def test_too_large_for_the_format():
    big = Image(np.zeros((1, 16384, 3), np.uint8))
    with pytest.raises(ImageWriteError) as e:
        write_image("/nonexistent/x.webp", big)
    assert_one_line(e.value, "x.webp", "too large for WebP", "16383")


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt, OSError])
def test_failed_write_leaves_no_temp_and_keeps_the_old_file(tmp_path, monkeypatch, error):
    path = tmp_path / "keep.png"
    path.write_bytes(b"old contents")

    def broken(f, *args, **kwargs):
        f.write(b"partial data")
        raise error("disk on fire")

    monkeypatch.setitem(image_io._ENCODERS, "PNG", broken)
    with pytest.raises(ImageWriteError if error is OSError else error):
        write_image(path, _image())
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_write_replaces_atomically_and_keeps_umask_permissions(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"old")
    write_image(path, _image())
    assert read_image(path).pixels.shape == (8, 8, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
    umask = os.umask(0)
    os.umask(umask)
    write_image(tmp_path / "b.png", _image())
    assert (tmp_path / "b.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_temp_names_are_recognisable(tmp_path, monkeypatch):
    seen = []

    def spy(f, *args, **kwargs):
        seen.append(Path(f.name).name)
        raise RuntimeError("stop")

    monkeypatch.setitem(image_io._ENCODERS, "PNG", spy)
    with pytest.raises(RuntimeError):
        write_image(tmp_path / "photo.png", _image())
    assert seen[0].startswith(".photo.png.glsgn-tmp-") and image_io.is_temp_file(seen[0])


def test_pixels_validated():
    with pytest.raises(ImageWriteError, match="must be"):
        write_image("x.png", Image(np.zeros((4, 4, 2), np.uint8)))
    with pytest.raises(ImageWriteError, match="does not match"):
        write_image("x.png", Image(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8)))


def test_explicit_format_overrides_extension(tmp_path):
    write_image(tmp_path / "noext", _image(), format="tif")
    assert read_image(tmp_path / "noext").source_format == "TIFF"
    write_image(tmp_path / "x.dat", _image(), format="JPG")
    assert read_image(tmp_path / "x.dat").source_format == "JPEG"


def test_jpeg_quality_is_used(tmp_path):
    image = Image(pixels(64, 64, 3, seed=1))
    write_image(tmp_path / "lo.jpg", image, quality=30)
    write_image(tmp_path / "hi.jpg", image, quality=95)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size
    assert io.BytesIO((tmp_path / "hi.jpg").read_bytes()).read(2) == b"\xff\xd8"
