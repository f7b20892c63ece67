"""Reading and writing a band of rows at a time (glsgn_core.image_io.bands), and restoring through it:
slices against tifffile's whole decode, files against write_image's, streamed restores against
whole-image ones, and what happens when a file or the rows fail halfway."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image as PILImage

from glsgn_core.batch import RowProcess, model_process, plan_outputs, expand_inputs, run_batch
from glsgn_core.image_io import (
    ImageReadError,
    can_write_rows,
    is_temp_file,
    open_bands,
    read_image,
    write_image,
    write_image_rows,
)
from glsgn_core.image_io.tiff import _tiff_kwargs
from glsgn_core.models import create_model
from glsgn_core.restorer import Restorer
from tests._images import pixels

LAYOUTS = {"tiled": dict(tile=(32, 48)), "striped": dict(rowsperstrip=7), "one strip": dict(rowsperstrip=10_000)}


def _tiff(path: Path, data: np.ndarray, *, alpha: np.ndarray | None = None, **kw) -> Path:
    photometric = "rgb" if data.ndim == 3 and data.shape[2] == 3 else "minisblack"
    if alpha is not None:
        data = np.concatenate([data if data.ndim == 3 else data[..., None], alpha[..., None]], axis=-1)
        kw["extrasamples"] = ["unassalpha"]
    tifffile.imwrite(path, data, photometric=photometric, compression="zlib", **kw)
    return path


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype,channels", [("uint8", 3), ("uint16", 3), ("float32", 3), ("uint8", 1), ("uint16", 1)])
def test_band_view_slices_match_the_whole_decode(tmp_path, layout, dtype, channels):
    data = pixels(150, 170, channels, dtype, seed=1)
    path = _tiff(tmp_path / "a.tif", data if channels == 3 else data[..., 0], **LAYOUTS[layout])
    whole = read_image(path).pixels
    rng = np.random.default_rng(0)
    with open_bands(path) as bands:
        view = bands.image.pixels
        assert view.shape == whole.shape and view.dtype == whole.dtype
        for _ in range(25):
            y0, x0 = rng.integers(0, 150), rng.integers(0, 170)
            y1, x1 = rng.integers(y0 + 1, 151), rng.integers(x0 + 1, 171)
            np.testing.assert_array_equal(view[y0:y1, x0:x1], whole[y0:y1, x0:x1])
        np.testing.assert_array_equal(view[140:], whole[140:])  # one slice: rows
        np.testing.assert_array_equal(np.asarray(view), whole)


def test_band_view_alpha_min_is_white_and_metadata_match_read_image(tmp_path):
    rgb, alpha = pixels(90, 80, 3, "uint16", seed=2), pixels(90, 80, 1, "uint16", seed=3)[..., 0]
    icc = PILImage.new("RGB", (1, 1)).info.get("icc_profile") or bytes(range(200))
    path = _tiff(tmp_path / "a.tif", rgb, alpha=alpha, tile=(16, 16), resolution=(300, 300), resolutionunit="INCH",
                 iccprofile=icc)
    grey = _tiff(tmp_path / "g.tif", pixels(40, 50, 1, "uint8")[..., 0], rowsperstrip=3)
    tifffile.imwrite(tmp_path / "w.tif", pixels(40, 50, 1, "uint8")[..., 0], photometric="miniswhite", rowsperstrip=5)
    for p in (path, grey, tmp_path / "w.tif"):
        whole = read_image(p)
        with open_bands(p) as bands:
            image = bands.image
            np.testing.assert_array_equal(image.pixels[:, :], whole.pixels)
            assert (image.alpha is None) == (whole.alpha is None)
            if whole.alpha is not None:
                np.testing.assert_array_equal(image.alpha[:, :], whole.alpha)
            assert (image.icc, image.dpi, image.mode, image.exif) == (whole.icc, whole.dpi, whole.mode, whole.exif)


def test_open_bands_declines_what_it_cannot_stream(tmp_path):
    data = pixels(64, 64, 3, "uint8")
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(data, -1, 0), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "rotated.tif", data, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([data, data]), photometric="rgb")
    PILImage.fromarray(data).save(tmp_path / "a.png")
    (tmp_path / "text.tif").write_text("not a tiff at all")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + b"\xff" * 40)
    # one strip of more than MAX_SEGMENT_BYTES (what most writers make of an uncompressed TIFF) would be
    # decoded whole anyway; so would 12-bit samples (read_image refuses those)
    tifffile.imwrite(tmp_path / "one-strip.tif", np.zeros((5000, 5000, 3), np.uint8), photometric="rgb",
                     rowsperstrip=5000, compression="zlib")  # a 75 MB strip
    for name in ("planar.tif", "rotated.tif", "stack.tif", "a.png", "text.tif", "bad.tif", "missing.tif", "one-strip.tif"):
        assert open_bands(tmp_path / name) is None, name
    assert read_image(tmp_path / "rotated.tif").pixels.shape == (64, 64, 3)  # these are still read, whole
    with pytest.raises(ImageReadError, match="multi-page TIFF .2 pages."):  # a shaped stack is no still image
        read_image(tmp_path / "stack.tif")


def test_corrupt_strip_is_a_one_line_read_error_naming_the_file(tmp_path):
    path = _tiff(tmp_path / "a.tif", pixels(120, 100, 3, "uint8", seed=4), rowsperstrip=10)
    with tifffile.TiffFile(path) as tif:
        offset = int(tif.pages.first.dataoffsets[6])
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 50] = b"\x00" * 50
    path.write_bytes(bytes(raw))
    with open_bands(path) as bands:
        bands.image.pixels[:40]  # strips before the damage read fine
        with pytest.raises(ImageReadError, match=r"cannot read '.*a\.tif': strip 6 is corrupt") as info:
            bands.image.pixels[50:70]
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("ext", [".tif", ".png"])
@pytest.mark.parametrize("dtype,channels,with_alpha", [("uint8", 3, False), ("uint16", 3, True), ("uint8", 1, True),
                                                       ("uint16", 1, False)])
def test_rows_written_match_write_image(tmp_path, ext, dtype, channels, with_alpha):
    data = pixels(77, 95, channels, dtype, seed=5)
    alpha = pixels(77, 95, 1, dtype, seed=6)[..., 0] if with_alpha else None
    source = read_image(_tiff(tmp_path / "src.tif", data if channels == 3 else data[..., 0], alpha=alpha, rowsperstrip=4,
                              resolution=(72, 72), resolutionunit="INCH"))
    write_image(tmp_path / f"whole{ext}", source)
    assert can_write_rows(tmp_path / f"rows{ext}", source)
    chunks = ((y, source.pixels[y : y + 13]) for y in range(0, 77, 13))
    write_image_rows(tmp_path / f"rows{ext}", source, chunks)
    whole, rows = read_image(tmp_path / f"whole{ext}"), read_image(tmp_path / f"rows{ext}")
    np.testing.assert_array_equal(rows.pixels, data)
    np.testing.assert_array_equal(rows.pixels, whole.pixels)
    if with_alpha:
        np.testing.assert_array_equal(rows.alpha, alpha)
    assert (rows.mode, rows.dpi, rows.icc) == (whole.mode, whole.dpi, whole.icc)
    if ext == ".png":  # an independent decoder agrees (Pillow's reads 8-bit and grey 16-bit whole)
        if dtype == "uint8":
            ref = np.asarray(PILImage.open(tmp_path / f"rows{ext}"))
            want = data if alpha is None else np.concatenate([data, alpha[..., None]], axis=-1)
            np.testing.assert_array_equal(ref.reshape(want.shape), want)


def test_exif_survives_rows_written_to_tiff(tmp_path):
    exif = PILImage.Exif()
    exif[0x010F], exif[0x0110] = "Maker", "Model 7"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"
    PILImage.fromarray(pixels(64, 64, 3, "uint8")).save(tmp_path / "a.jpg", exif=exif.tobytes())
    source = read_image(tmp_path / "a.jpg")
    write_image_rows(tmp_path / "rows.tif", source, [(0, source.pixels)])
    back = PILImage.open(tmp_path / "rows.tif").getexif()
    assert back[0x010F] == "Maker" and back[0x0110] == "Model 7"
    assert back.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"


def test_failed_rows_leave_no_file_and_keep_the_old_one(tmp_path):
    source = read_image(_tiff(tmp_path / "src.tif", pixels(60, 40, 3, "uint8"), rowsperstrip=5))
    target = tmp_path / "out.tif"
    target.write_bytes(b"the user's file")

    def rows():
        yield 0, source.pixels[:20]
        raise RuntimeError("the model ran out of memory")

    with pytest.raises(RuntimeError, match="ran out of memory"):  # the producer's error, unchanged
        write_image_rows(target, source, rows())
    assert target.read_bytes() == b"the user's file"
    assert [p.name for p in tmp_path.iterdir() if is_temp_file(p)] == []
    with pytest.raises(Exception, match="rows ended at 20 of 60"):
        write_image_rows(tmp_path / "short.png", source, [(0, source.pixels[:20])])
    assert not (tmp_path / "short.png").exists()


def test_bigtiff_is_chosen_above_4_gb():
    small = _tiff_kwargs((1000, 1000, 3), np.uint8, colour=3, alpha=False, icc=None, exif=None, dpi=None)
    big = _tiff_kwargs((40000, 40000, 3), np.uint8, colour=3, alpha=False, icc=None, exif=None, dpi=None)
    assert not small["bigtiff"] and big["bigtiff"]


# --------------------------------------------------------------------------------------------
# Restoring through bands


@pytest.fixture
def tiny_model(tiny_overrides):
    torch.manual_seed(0)
    return create_model("glsgn-full", **tiny_overrides)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("layout", ["tiled", "striped"])
def test_streamed_restore_is_identical_to_whole_image_restore(tmp_path, tiny_model, dtype, layout):
    data = pixels(300, 420, 3, dtype, seed=7, smooth=True)
    path = _tiff(tmp_path / "a.tif", data, **LAYOUTS[layout])
    restorer = Restorer(tiny_model, device="cpu", precision="fp32", window=(128, 128), overlap=32)
    assert not restorer.runs_whole(300, 420)
    whole = restorer.restore(data)
    out = np.empty_like(whole)
    with open_bands(path) as bands:
        for top, rows in restorer.restore_rows(bands.image.pixels):
            out[top : top + len(rows)] = rows
        # only about a window's height (plus the strips or tiles it straddles) was ever decoded at once
        assert bands.peak_rows <= 128 + 2 * 32
    np.testing.assert_array_equal(out, whole)


def _rows(restorer: Restorer) -> RowProcess:
    return RowProcess(rows=restorer.restore_rows, wants=lambda h, w: not restorer.runs_whole(h, w), scale=restorer.scale)


def test_batch_streams_large_tiffs_past_a_corrupt_one_and_ignores_the_pixel_limit(tmp_path, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    data = pixels(260, 300, 3, "uint8", seed=8, smooth=True)
    _tiff(src / "a.tif", data, tile=(64, 64))
    _tiff(src / "b.tif", data, rowsperstrip=10)
    with tifffile.TiffFile(src / "b.tif") as tif:
        offset = int(tif.pages.first.dataoffsets[20])
    raw = bytearray((src / "b.tif").read_bytes())
    raw[offset : offset + 64] = b"\x00" * 64
    (src / "b.tif").write_bytes(bytes(raw))
    PILImage.fromarray(data).save(src / "c.png")
    _tiff(src / "d.tif", data[:100, :100], rowsperstrip=10)  # small enough to run whole: read whole
    restorer = Restorer(tiny_model, device="cpu", precision="fp32", window=(128, 128), overlap=32)
    jobs = plan_outputs(expand_inputs([src]), out=tmp_path / "out", suffix="", ext=None, overwrite=False)
    results = run_batch(jobs, model_process(restorer.restore), rows=_rows(restorer), max_pixels=50_000)
    by_name = {Path(r.input).name: r for r in results}
    assert by_name["a.tif"].status == "done" and by_name["a.tif"].streamed
    assert by_name["b.tif"].status == "failed" and "strip 20 is corrupt" in by_name["b.tif"].error
    assert by_name["c.png"].status == "failed" and "78,000 pixels, more than the limit of 50,000 pixels" in by_name["c.png"].error  # decoded whole: guarded
    assert by_name["d.tif"].status == "done" and not by_name["d.tif"].streamed
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "a.tif").pixels, restorer.restore(data))
    assert sorted(os.listdir(tmp_path / "out")) == ["a.tif", "d.tif"]  # nothing half-written for b.tif


def test_each_strip_is_decoded_once_with_alpha_and_reads_are_writable(tmp_path, tiny_model):
    """The writer fetches alpha a window's height behind the windows: the strips both need are kept."""
    data = pixels(300, 420, 3, "uint8", seed=9, smooth=True)
    alpha = pixels(300, 420, 1, "uint8", seed=10)[..., 0]
    path = _tiff(tmp_path / "a.tif", data, alpha=alpha, rowsperstrip=8)
    restorer = Restorer(tiny_model, device="cpu", precision="fp32", window=(128, 128), overlap=32)
    with open_bands(path) as bands:
        strips = len(bands._page.dataoffsets)
        image = bands.image
        assert image.pixels[0:5, 0:5].flags.writeable  # torch.from_numpy warns on read-only arrays
        write_image_rows(tmp_path / "out.tif", image, restorer.restore_rows(image.pixels))
        # one pass for the global view, one for the windows (alpha rides on the second)
        assert bands.decoded <= 2 * strips + 2 + 8
    out = read_image(tmp_path / "out.tif")
    np.testing.assert_array_equal(out.alpha, alpha)
    np.testing.assert_array_equal(out.pixels, restorer.restore(data))


def test_bigtiff_leaves_no_placeholder_for_exif_folders_and_says_so(tmp_path):
    exif = PILImage.Exif()
    exif[0x010F] = "Maker"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"
    kw = dict(colour=3, alpha=False, icc=None, exif=exif.tobytes(), dpi=None)
    small, big = _tiff_kwargs((100, 100, 3), np.uint8, **kw), _tiff_kwargs((40000, 40000, 3), np.uint8, **kw)
    assert small["exif_ifds"] and any(t[0] == 0x8769 + 1 for t in small["extratags"])
    assert not big["exif_ifds"] and not any(t[0] == 0x8769 + 1 for t in big["extratags"])
    from glsgn_core.image_io import Image, format_warnings
    from glsgn_core.image_io.bands import _Shape

    huge = Image(pixels=_Shape((40000, 40000, 3), np.uint8), exif=exif.tobytes())  # type: ignore[arg-type]
    assert any("EXIF and GPS folders are dropped" in w for w in format_warnings(huge, tmp_path / "x.tif"))
    assert not format_warnings(huge.replace(pixels=_Shape((100, 100, 3), np.uint8)), tmp_path / "x.tif")


def test_a_small_tiff_claiming_a_huge_image_is_refused_not_streamed(tmp_path, tiny_model):
    """Streaming keeps memory flat, but a tiny file that claims gigapixels is a bomb, not a panorama."""
    bomb = tmp_path / "in" / "bomb.tif"
    bomb.parent.mkdir()
    tifffile.imwrite(bomb, np.zeros((3000, 2000, 3), np.uint8), photometric="rgb", compression="zlib", rowsperstrip=64)
    assert bomb.stat().st_size * 100 < 3000 * 2000 * 3
    restorer = Restorer(tiny_model, device="cpu", precision="fp32", window=(128, 128), overlap=32)
    jobs = plan_outputs(expand_inputs([bomb]), out=tmp_path / "out", suffix="", ext=None, overwrite=False)
    (result,) = run_batch(jobs, model_process(restorer.restore), rows=_rows(restorer), max_pixels=1_000_000)
    assert result.status == "failed" and "decompression bombs" in result.error and not result.streamed
