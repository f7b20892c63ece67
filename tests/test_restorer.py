"""Restorer: windows and blending, the shared global view, devices, precision, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from glsgn_core.errors import GlsgnError
from glsgn_core.models import create_model
from glsgn_core.restorer import Restorer, area_downscale
from glsgn_core.windows import Window, feathers, run_windowed, spans, windowed_rows


class Identity(torch.nn.Module):
    """Stands in for a restoration model: returns its input, through the RestorationModel interface."""

    min_size, pad_multiple, scale = 64, 64, 1

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, ...]] = []

    def restore(self, x, context=None):
        self.calls.append(tuple(x.shape))
        return x.clone()


@settings(max_examples=80, deadline=None)
@given(length=st.integers(1, 600), window=st.integers(64, 256), overlap=st.integers(0, 63), multiple=st.sampled_from([1, 8, 64]))
def test_spans_cover_and_feathers_partition_unity(length, window, overlap, multiple):
    assume(length <= window or overlap < window // multiple * multiple)
    s = spans(length, window, overlap, multiple)
    assert s[0][0] == 0 and s[-1][1] == length
    size = s[0][1] - s[0][0]
    assert all(e - b == size for b, e in s) and size <= min(window, length)
    assert len(s) == 1 or size % multiple == 0
    assert all(b2 <= e1 for (_, e1), (b2, _) in zip(s, s[1:]))  # no gaps
    assert all(e1 - b2 >= overlap for (_, e1), (b2, _) in zip(s, s[1:]))
    total = np.zeros(length)
    for (b, e), w in zip(s, feathers(s, length, overlap // 2)):
        assert (w > 0).all()
        total[b:e] += w
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(300, 457, 3), (300, 457, 1), (211, 700)])
def test_windowed_identity_is_exact(dtype, shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    net = Identity()
    out = Restorer(net, device="cpu", window=(128, 192), overlap=40).restore(image)
    assert len(net.calls) > 4, "the image must have been split into windows"
    assert out.dtype == image.dtype and out.shape == image.shape
    np.testing.assert_array_equal(out, image)


def test_windowed_identity_float_and_upscaled_windows():
    image = np.random.default_rng(1).random((150, 260, 3), dtype=np.float32)
    out = run_windowed(image, lambda crop, box: crop.repeat(2, 0).repeat(2, 1), window=(64, 64), overlap=16, scale=2)
    np.testing.assert_allclose(out, image.repeat(2, 0).repeat(2, 1), atol=1e-6)


@pytest.mark.parametrize("scale", [1, 2])
def test_band_blending_matches_a_whole_image_accumulator(scale):
    """Blending with float carried only across overlaps (each window's untouched part finished at
    once) equals summing every weighted window into one full-size float image, the straightforward
    reference."""
    image = np.random.default_rng(2).random((203, 170, 3), dtype=np.float32)

    def process(crop, box):  # window-dependent, so blending weights matter
        return (np.sin(crop * 3 + box.top * 0.01 + box.left * 0.02)).repeat(scale, 0).repeat(scale, 1)

    window, overlap = (64, 80), 24
    rows, cols = spans(203, 64, overlap), spans(170, 80, overlap)
    row_w, col_w = feathers(rows, 203, overlap // 2), feathers(cols, 170, overlap // 2)
    reference = np.zeros((203 * scale, 170 * scale, 3))
    for (t, b), wy in zip(rows, row_w):
        for (left, r), wx in zip(cols, col_w):
            weight = np.outer(np.repeat(wy, scale), np.repeat(wx, scale))[..., None]
            reference[t * scale : b * scale, left * scale : r * scale] += process(image[t:b, left:r], Window(t, left, b, r)) * weight
    areas = []

    def finish(part):
        areas.append(part.shape[0] * part.shape[1])
        return part.astype(np.float64)

    chunks = list(windowed_rows(image, process, window=window, overlap=overlap, scale=scale, finish=finish, chunk_rows=7))
    out = np.concatenate([rows for _, rows in chunks])
    np.testing.assert_allclose(out, reference, atol=1e-5)
    assert out.dtype == np.float64 and max(len(rows) for _, rows in chunks) <= 7
    assert [top for top, _ in chunks] == np.cumsum([0] + [len(r) for _, r in chunks[:-1]]).tolist()  # in order
    # every output pixel finished exactly once (plus one 1x1 probe of the output type per row of windows)
    assert sum(areas) - len(rows) == 203 * 170 * scale * scale
    np.testing.assert_array_equal(run_windowed(image, process, window=window, overlap=overlap, scale=scale, finish=finish), out)


def test_whole_image_up_to_the_working_size_runs_once():
    net = Identity()
    Restorer(net, device="cpu", window=(128, 256), overlap=32).restore(np.zeros((128, 256, 3), np.uint8))
    Restorer(net, device="cpu", window=(128, 256), overlap=32).restore(np.zeros((256, 128, 3), np.uint8))  # portrait
    assert net.calls == [(1, 3, 128, 256), (1, 3, 256, 128)]


class WindowMean(Identity):
    """Output depends on the whole window (like a global pathway would): x + 0.3 * mean(window)."""

    def restore(self, x, context=None):
        return x + 0.3 * x.mean(dim=(2, 3), keepdim=True)


@pytest.mark.parametrize("overlap,max_step", [(64, 0.01), (0, None)])
def test_feathering_removes_the_step_a_hard_cut_shows(overlap, max_step):
    xx = np.tile(np.linspace(0, 1, 448, dtype=np.float32), (64, 1))
    image = np.stack([xx, xx, xx], axis=-1)
    out = Restorer(WindowMean(), device="cpu", window=(128, 192), overlap=overlap).restore(image)
    worst = np.abs(np.diff(out - image, axis=1)).max()
    if max_step is None:  # the control: without feathering the window boundary is a visible step
        assert worst > 0.03
    else:
        assert worst < max_step


def test_glsgn_windows_show_no_step_on_a_smooth_image(tiny_overrides, device):
    torch.manual_seed(0)
    model = create_model("glsgn-full", **tiny_overrides)
    yy, xx = np.mgrid[0:256, 0:448].astype(np.float32)
    image = np.stack([xx / 448, yy / 256, 0.5 + 0.2 * np.sin(xx / 60)], axis=-1)
    out = Restorer(model, device=str(device), window=(128, 192), overlap=64).restore(image)
    dx = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))  # mean horizontal jump per column boundary
    dy = np.abs(np.diff(out, axis=0)).mean(axis=(1, 2))
    seams_x = [e for _, e in spans(448, 192, 64, 64)[:-1]] + [b for b, _ in spans(448, 192, 64, 64)[1:]]
    seams_y = [e for _, e in spans(256, 128, 64, 64)[:-1]] + [b for b, _ in spans(256, 128, 64, 64)[1:]]
    for d, seams in ((dx, seams_x), (dy, seams_y)):
        interior = np.delete(d, [s - 1 for s in seams])
        assert d[[s - 1 for s in seams]].max() <= 1.5 * np.percentile(interior, 99) + 1e-3


def test_global_view_is_shared_by_windows(tiny_overrides, device):
    """Every window receives a crop of one global pass over the whole image; the global pathway runs
    again on each window only at the window's own quarter size (for the pyramid's band there)."""
    model = create_model("glsgn-full", **tiny_overrides)
    calls = []
    model.sg.register_forward_hook(lambda m, inp, out: calls.append(tuple(inp[0].shape[-2:])))
    Restorer(model, device=str(device), window=(128, 128), overlap=32).restore(np.zeros((200, 500, 3), np.uint8))
    windows = len(spans(200, 128, 32, 64)) * len(spans(500, 128, 32, 64))
    # The whole image at 1/16 (13 x 32, padded to the global pathway's multiple of 16), once.
    assert calls[0] == (16, 32) and calls[1:] == [(32, 32)] * windows


def _ideal_pyramid(overrides: dict):
    """A GLSGN whose every pathway returns exactly its input (B_i = I_i: the image's own pyramid)
    and whose LP masks are 1, so that its synthesis must give the input back."""
    model = create_model("glsgn-full", **overrides).eval()
    with torch.no_grad():
        for path in (model.sg, *model.locals):
            path.out.weight.zero_()
            path.out.bias.zero_()
            if path.mask is not None:
                path.mask.weight.zero_()
                path.mask.bias.fill_(30.0)  # sigmoid(30) rounds to 1.0 in float32
    return model


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_ideal_pyramid_model_restores_identically_whole_and_in_windows(dtype, tiny_overrides, device):
    """Windows cost nothing: each window's pyramid has every band at its own scale. (Before, the
    global band came from the whole image at 1/8 stretched to 1/4, and windows of this model scored
    about 32 dB against the whole-image run.)"""
    model = _ideal_pyramid(tiny_overrides)
    rng = np.random.default_rng(5)
    if dtype == np.float32:
        image = rng.random((200, 300, 3), dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(dtype).max, (200, 300, 3), endpoint=True).astype(dtype)
    whole = Restorer(model, device=str(device), precision="fp32", window=(512, 512)).restore(image)
    windowed = Restorer(model, device=str(device), precision="fp32", window=(128, 128), overlap=32)
    assert windowed._working_size(200, 300)[0] == (128, 128), "the image must be split into windows"
    out = windowed.restore(image)
    if dtype == np.float32:
        np.testing.assert_allclose(whole, image, atol=1e-5)
        np.testing.assert_allclose(out, whole, atol=1e-5)
    else:
        np.testing.assert_array_equal(whole, image)
        np.testing.assert_array_equal(out, whole)


def test_context_crop_of_a_whole_image_matches_the_model_own_global_pass(tiny_overrides, device, dtype):
    """For a window that is the whole image, the cropped global view equals running Sg directly."""
    torch.manual_seed(0)
    model = create_model("glsgn-full", **tiny_overrides).to(device, dtype).eval()
    image = np.random.default_rng(0).random((128, 128, 3), dtype=np.float32)
    from glsgn_core.ops import down2
    from glsgn_core.windows import Window

    def view(factor):
        return torch.from_numpy(area_downscale(image, factor)).permute(2, 0, 1)[None].to(device, dtype)

    x = torch.from_numpy(image).permute(2, 0, 1)[None].to(device, dtype)
    with torch.no_grad():
        contexts = model.window_context((128, 128), (512, 512), view)  # factor 1: the global view is the image itself
        ctx = contexts(Window(0, 0, 128, 128))
        direct = model.sg(down2(down2(x)), grid=1, cues=[], attention=[])
    # the view was computed at full resolution, the direct pass at 1/4: compare after the same area pooling
    assert ctx.features.shape == direct.features.shape
    with torch.no_grad():
        a = model(x).image
        b = model(x, context=model.global_pass(down2(down2(x)))).image
    torch.testing.assert_close(a, b)


def test_area_downscale_matches_block_mean():
    image = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    expected = image.astype(np.float32).reshape(3, 4, 5, 4, 3).mean(axis=(1, 3)) / 255
    np.testing.assert_allclose(area_downscale(image, 4), expected, rtol=1e-6)


def test_dtypes_and_grey_roundtrip_shapes(tiny_overrides, device):
    model = create_model("glsgn-lite", **tiny_overrides)
    restorer = Restorer(model, device=str(device))
    for image in (np.zeros((64, 70), np.uint16), np.zeros((70, 64, 1), np.uint8), np.zeros((64, 64, 3), np.float32)):
        out = restorer.restore(image)
        assert out.shape == image.shape and out.dtype == image.dtype


@pytest.mark.parametrize("shape", [(1, 1, 3), (63, 200, 3), (100, 100, 4), (100, 100, 3, 1)])
def test_exception_bad_shapes(shape):
    with pytest.raises(GlsgnError):
        Restorer(Identity(), device="cpu").restore(np.zeros(shape, np.uint8))


def test_exception_bad_dtype():
    with pytest.raises(GlsgnError, match="int32"):
        Restorer(Identity(), device="cpu").restore(np.zeros((64, 64, 3), np.int32))


@pytest.mark.parametrize("name", ["glsgn-full", "glanet-tiny"])
@pytest.mark.parametrize("window", [(256, 256), (128, 128)], ids=["whole", "windows"])
def test_bf16_channels_last_stays_close_to_fp32(name, window, tiny_overrides, device):
    torch.manual_seed(0)
    model = create_model(name, **(tiny_overrides if name.startswith("glsgn") else {}))
    yy, xx = np.mgrid[0:160, 0:200].astype(np.float32)
    image = np.stack([xx / 200, yy / 160, 0.5 + 0.2 * np.sin(xx / 9)], axis=-1)
    ref = Restorer(model, device=str(device), precision="fp32", window=window, overlap=32, channels_last=False).restore(image)
    low = Restorer(model, device=str(device), precision="bf16", window=window, overlap=32)
    assert low.memory_format == torch.channels_last  # the default
    mse = float(np.mean((ref - low.restore(image)) ** 2))
    assert 10 * np.log10(1 / max(mse, 1e-12)) > 35


class NearestX2(Identity):
    """An upscaler stand-in: nearest-neighbour x2, so windowed results can be checked exactly."""

    scale = 2
    pad_multiple = 8

    def restore(self, x, context=None):
        self.calls.append(tuple(x.shape))
        return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def test_upscaler_windows_blend_exactly():
    image = np.random.default_rng(2).integers(0, 256, (150, 230, 3), dtype=np.uint8)
    net = NearestX2()
    out = Restorer(net, device="cpu", window=(64, 96), overlap=16).restore(image)
    assert len(net.calls) > 4
    np.testing.assert_array_equal(out, image.repeat(2, 0).repeat(2, 1))


def test_spans_shrink_windows_to_limit_overlap_work():
    s = spans(7680, 3840, 64, 64)
    assert len(s) == 3 and s[0][1] - s[0][0] == 2624  # 3 x 2624 covers 7680 with >= 64 px overlaps
    assert sum(e - b for b, e in s) < 7680 * 1.03


class SmallConvNet(nn.Module):
    """Cheap to compile: compilation time, not the network, is what a compile test pays for."""

    min_size, pad_multiple, scale = 64, 1, 1

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))

    def restore(self, x, context=None):
        return x + 0.1 * self.body(x)


@pytest.mark.slow
def test_compiled_model_matches_eager_whole_and_windowed():
    torch.manual_seed(0)
    model = SmallConvNet()
    image = np.random.default_rng(3).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    for window in ((256, 256), (128, 128)):
        eager = Restorer(model, device="cpu", precision="fp32", window=window, overlap=32).restore(image)
        compiled = Restorer(model, device="cpu", precision="fp32", window=window, overlap=32, compile=True)
        assert compiled._forward is not compiled.model
        np.testing.assert_allclose(compiled.restore(image).astype(int), eager.astype(int), atol=1)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_types_come_back_in_their_own_type(dtype):
    image = np.random.default_rng(3).random((100, 130, 3)).astype(dtype)
    for window in ((512, 512), (64, 64)):  # whole, and in windows
        out = Restorer(Identity(), device="cpu", precision="fp32", window=window, overlap=16).restore(image)
        assert out.dtype == dtype and out.shape == image.shape
        np.testing.assert_allclose(out, image, atol=1e-3 if dtype == np.float16 else 1e-6)


def test_exception_restore_rows_checks_before_the_first_row():
    """A generator would only complain when a writer first asks for rows (after creating its file)."""
    restorer = Restorer(Identity(), device="cpu", precision="fp32")
    with pytest.raises(GlsgnError, match="needs at least 64x64"):
        restorer.restore_rows(np.zeros((10, 200, 3), np.uint8))
    with pytest.raises(GlsgnError, match="unsupported pixel type"):
        restorer.restore_rows(np.zeros((100, 200, 3), np.int32))
