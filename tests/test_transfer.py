"""Pixels to and from the device: the device-side conversions give the host's bits (to_float,
from_float, numpy's grey mean), the Restorer's finished whole-image path equals the host-side one,
and the CPU copies and pins nothing. Every test runs on each device of the ``device`` fixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glsgn_core.image_io import from_float, to_float
from glsgn_core.models import create_model
from glsgn_core.restorer import Restorer
from glsgn_core.transfer import Staging, device_finish, device_unit, upload_view

SCALE = {np.uint8: 255, np.uint16: 65535}
cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned staging is for CUDA")


def _ties(dtype, count: int = 400) -> np.ndarray:
    """float32 values v whose v * scale (in float32) ends exactly in .5: where rounding to nearest
    must choose, half of them towards an odd and half towards an even sample."""
    scale = np.float32(SCALE[dtype])
    ks = np.unique(np.linspace(0, SCALE[dtype] - 1, count).astype(np.int64))
    up = down = np.float32((ks + 0.5) / float(scale))
    candidates = [up]
    for _ in range(3):  # the nearest floats to k + 0.5 over scale, 3 ulps either way
        up, down = np.nextafter(up, np.float32(2)), np.nextafter(down, np.float32(-1))
        candidates += [up, down]
    v = np.unique(np.concatenate(candidates))
    return v[(v * scale) % 1 == 0.5]


def _model_output(dtype, channels_last: bool) -> torch.Tensor:
    """A (1, 3, 40, 50) 'model output' with everything from_float must handle: rounding ties, NaN,
    infinities, values out of [0, 1], -0.0, 0 and 1, and ordinary values."""
    rng = np.random.default_rng(7)
    values = rng.uniform(-0.2, 1.2, 3 * 40 * 50).astype(np.float32)
    special = np.float32([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1e-9, 1 + 1e-6, 3.0, -5.0, 2**-24, 1 - 2**-24])
    ties = _ties(dtype if dtype in SCALE else np.uint8)
    values[: len(special)] = special
    values[len(special) : len(special) + len(ties)] = ties
    y = torch.from_numpy(rng.permutation(values).reshape(1, 3, 40, 50))
    # The grey mean's order: with e = 2**-24, e + e + 1 is 1 + 2e left to right but 1 right to left.
    e = 2.0**-24
    for i, rgb in enumerate([(e, e, 1.0), (1.0, e, e), (e, 1.0, e)]):
        y[0, :, 0, i] = torch.tensor(rgb)
    return y.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _host(y: torch.Tensor, dtype, gray: bool) -> np.ndarray:
    """The host-side path the Restorer had: float rows off the device, then restore's ``finish``."""
    rows = y.float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    return from_float(rows.mean(axis=2, keepdims=True) if gray else rows, dtype)


def _assert_same_bits(out: np.ndarray, ref: np.ndarray) -> None:
    assert out.dtype == ref.dtype and out.shape == ref.shape
    if out.dtype == np.float32:
        nan = np.isnan(ref)
        np.testing.assert_array_equal(np.isnan(out), nan)
        out, ref = out[~nan].view(np.uint32), ref[~nan].view(np.uint32)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "contiguous"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32], ids=["uint8", "uint16", "float32"])
def test_device_finish_matches_host_from_float(dtype, channels_last, gray, device):
    y = _model_output(dtype, channels_last).to(device)
    ref = _host(y, dtype, gray)
    out = device_finish(y, dtype, gray=gray).cpu().numpy()
    _assert_same_bits(out.view(np.uint16) if dtype == np.uint16 else out, ref)
    assert out.flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["uint8", "uint16"])
def test_device_finish_test_data_reaches_ties_and_both_grey_orders(dtype):
    """The data above can fail the test: it holds exact .5 ties, and grey means that a reciprocal
    (x * (1/3)) or the other summation order would change."""
    y = _model_output(dtype, True)
    rows = y.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    scaled = np.nan_to_num(rows) * np.float32(SCALE[dtype])
    assert ((scaled % 1) == 0.5).sum() >= 100
    mean = rows.mean(axis=2)
    r, g, b = rows[..., 0], rows[..., 1], rows[..., 2]
    ok = ~np.isnan(mean)
    assert ((r + g + b) * np.float32(1 / 3) != mean)[ok].any()
    assert ((r + (g + b)) / np.float32(3) != mean)[ok].any()


def test_device_finish_does_not_write_into_the_model_output(device):
    y = _model_output(np.uint8, True).to(device)
    before = y.clone()
    device_finish(y, np.uint8, gray=False)
    torch.testing.assert_close(y, before, equal_nan=True, rtol=0, atol=0)


def test_exception_device_finish_unsupported_dtype():
    with pytest.raises(TypeError, match="float64"):
        device_finish(torch.zeros(1, 3, 4, 4), np.float64, gray=False)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["uint8", "uint16"])
def test_device_unit_matches_host_to_float(dtype, device):
    every = np.arange(SCALE[dtype] + 1).astype(dtype)
    pixels = np.resize(every, (every.size // 3 + 1) * 3).reshape(-1, 1, 3)
    x = torch.from_numpy(upload_view(pixels)).to(device)
    _assert_same_bits(device_unit(x, dtype).cpu().numpy(), to_float(pixels))


class Crafted(torch.nn.Module):
    """Returns the crafted output above (NaN, ties, out of range) at the input's size, scaled x2
    when ``scale`` is 2, whatever the input: the finishing is what is under test."""

    min_size, pad_multiple = 16, 1

    def __init__(self, dtype, scale: int = 1) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("pattern", _model_output(dtype, True))

    def restore(self, x, context=None):
        h, w = x.shape[-2] * self.scale, x.shape[-1] * self.scale
        reps = (1, 1, -(-h // 40), -(-w // 50))
        return self.pattern.repeat(reps)[..., :h, :w].to(x.dtype)


def _image(dtype, channels: int, h: int = 64, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(3)
    if dtype == np.float32:
        return rng.uniform(-0.1, 1.1, (h, w, channels)).astype(np.float32)
    return rng.integers(0, SCALE[dtype], (h, w, channels), endpoint=True).astype(dtype)


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32], ids=["uint8", "uint16", "float32"])
def test_run_out_dtype_matches_host_finish_on_crafted_output(dtype, channels, scale, device):
    restorer = Restorer(Crafted(dtype, scale), device=str(device), precision="fp32", window=(128, 128))
    image = _image(dtype, channels)
    rows = restorer._run(image)
    ref = from_float(rows.mean(axis=2, keepdims=True) if channels == 1 else rows, dtype)
    out = restorer._run(image, out_dtype=dtype)
    _assert_same_bits(out, ref)
    assert out.shape == (64 * scale, 96 * scale, channels)


@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32], ids=["uint8", "uint16", "float32"])
def test_whole_image_restore_matches_the_host_side_path(dtype, channels, tiny_overrides, device):
    """A real (tiny, random) GLSGN at the Restorer's default precision: ``restore`` (whichever path it
    takes) and ``_run(out_dtype=)`` both give exactly ``from_float`` of ``_run``'s float output."""
    torch.manual_seed(0)
    restorer = Restorer(create_model("glsgn-full", **tiny_overrides), device=str(device))
    image = _image(dtype, channels, 128, 192)
    rows = restorer._run(image)
    ref = from_float(rows.mean(axis=2, keepdims=True) if channels == 1 else rows, dtype)
    assert len(np.unique(ref)) > 20, "the random model must give varied output"
    _assert_same_bits(restorer._run(image, out_dtype=dtype), ref)
    _assert_same_bits(restorer.restore(image), ref)
    if channels == 1:
        _assert_same_bits(restorer.restore(image[..., 0]), ref[..., 0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["uint8", "uint16"])
def test_integer_upload_is_exact(dtype, device):
    """An identity model gives ``to_float`` of the pixels back bit for bit, at every sample value."""

    class Same(torch.nn.Module):
        min_size, pad_multiple, scale = 16, 1, 1

        def restore(self, x, context=None):
            return x.clone()

    every = np.arange(SCALE[dtype] + 1).astype(dtype)
    image = np.resize(every, 256 * 256 * 3).reshape(256, 256, 3)
    out = Restorer(Same(), device=str(device), precision="fp32")._run(image)
    _assert_same_bits(out, to_float(image))


def test_run_out_dtype_other_types_follow_from_float(device):
    """Types the device does not finish (float64) get exactly what the host's from_float does with
    them, error included."""
    restorer = Restorer(Crafted(np.uint8), device=str(device), precision="fp32")
    image = _image(np.float32, 3)
    rows = restorer._run(image)
    try:
        ref = from_float(rows, np.float64)
    except TypeError as exc:
        with pytest.raises(TypeError, match=str(exc)):
            restorer._run(image, out_dtype=np.float64)
        return
    _assert_same_bits(restorer._run(image, out_dtype=np.float64), ref)


def test_cpu_transfers_neither_copy_nor_pin():
    staging = Staging()
    pixels = _image(np.uint8, 3)
    x = staging.upload(pixels, torch.device("cpu"))
    assert x.data_ptr() == pixels.ctypes.data and not x.is_pinned()
    t = torch.rand(8, 9, 3)
    assert np.shares_memory(staging.download(t), t.numpy())
    restorer = Restorer(Crafted(np.uint8), device="cpu")
    restorer._run(pixels, out_dtype=np.uint8)
    restorer._run(pixels)
    assert restorer._staging._buffers == {}


@cuda_only
def test_cuda_staging_reuses_pinned_buffers_and_hands_out_owned_arrays():
    staging = Staging(capacity=2)
    device = torch.device("cuda")
    a, b = _image(np.uint8, 3), _image(np.uint8, 3)[::-1].copy()
    xa = staging.upload(a, device)
    xb = staging.upload(b, device)  # same size: the same pinned buffer, rewritten only after xa's copy
    (buffer, _), = staging._buffers.values()
    assert buffer.is_pinned()
    np.testing.assert_array_equal(xa.cpu().numpy(), a)
    np.testing.assert_array_equal(xb.cpu().numpy(), b)
    first = staging.download(xa)
    second = staging.download(xb)
    np.testing.assert_array_equal(first, a)  # not overwritten by the second download
    np.testing.assert_array_equal(second, b)
    assert len(staging._buffers) == 2
    staging.upload(_image(np.uint8, 3, 32, 32), device)
    assert len(staging._buffers) == 2  # the oldest went
