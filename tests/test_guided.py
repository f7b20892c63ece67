"""Guided restoration: the local affine fit, its full-size application, and the Restorer's guide mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from glsgn_core.errors import GlsgnError
from glsgn_core.guided import _box, affine_fit, apply_affine
from glsgn_core.models import create_model
from glsgn_core.restorer import Restorer, _unit
from glsgn_core.weights import get_entry


def _float(x):
    return x.astype(np.float32)


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 0.9, size=(h, w, 3)).astype(np.float32)


def _photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Detail at every scale with amplitude falling as frequency rises, as in photographs (white
    noise would have no structure left at a small size to fit a map on)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for octave in range(2, 9):
        grid = torch.from_numpy(rng.standard_normal((1, 3, 2**octave, 2**octave)).astype(np.float32))
        out += 0.7**octave * F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    out = (out - out.min()) / (out.max() - out.min())
    return 0.15 + 0.7 * out


class AffineDehazer(torch.nn.Module):
    """A stand-in model that undoes haze exactly: J = (I - A (1 - t)) / t with a smooth t over the frame.

    t depends on the position relative to the frame, so the map is the same whatever size it runs at,
    as a haze layer is: a guided run at a small size must then match a run at full size.
    """

    min_size, pad_multiple, scale = 64, 1, 1

    def __init__(self, airlight=(0.9, 0.85, 0.8)) -> None:
        super().__init__()
        self.register_buffer("airlight", torch.tensor(airlight).view(1, 3, 1, 1))

    @staticmethod
    def transmission(h: int, w: int) -> torch.Tensor:
        y = (torch.arange(h) + 0.5) / h
        x = (torch.arange(w) + 0.5) / w
        return (0.5 + 0.35 * torch.outer(y, torch.cos(torch.pi * x))).view(1, 1, h, w)

    def restore(self, x, context=None):
        t = self.transmission(*x.shape[-2:]).to(x)
        return (x - self.airlight * (1 - t)) / t


def _hazy(clean: np.ndarray, model: AffineDehazer) -> np.ndarray:
    t = model.transmission(*clean.shape[:2])[0, 0, ..., None].numpy()
    return clean * t + model.airlight.view(3).numpy() * (1 - t)


# ---------------------------------------------------------------------------------------------- fit


@pytest.mark.parametrize("radius", [1, 7, 30, 500])
def test_box_mean_matches_pooling(radius):
    # The running-sum box against torch's pooling on reflected edges (a radius past the image is capped).
    x = torch.rand(3, 41, 67, generator=torch.Generator().manual_seed(0))
    r = min(radius, 40)
    want = F.avg_pool2d(F.pad(x[None], (r, r, r, r), mode="reflect"), 2 * r + 1, stride=1)[0]
    torch.testing.assert_close(_box(x, radius), want, atol=1e-5, rtol=0)


def test_affine_fit_recovers_a_constant_map():
    src = _texture(64, 80)
    a, b = affine_fit(src, 1.3 * src - 0.2, eps=1e-9)
    np.testing.assert_allclose(a, 1.3, atol=1e-4)
    np.testing.assert_allclose(b, -0.2, atol=1e-4)
    # The default regularisation shrinks the slope by var / (var + eps): under 0.3% on texture.
    a, b = affine_fit(src, 1.3 * src - 0.2)
    np.testing.assert_allclose(a * src + b, 1.3 * src - 0.2, atol=3e-3)


def test_affine_fit_flat_region_gives_the_mean_not_noise():
    src = np.full((40, 40, 3), 0.5, np.float32)
    dst = src + np.random.default_rng(1).normal(0, 0.01, src.shape).astype(np.float32)
    a, b = affine_fit(src, dst)
    # No variation in the guide: the fit is (close to) a constant, the local mean of dst.
    assert np.abs(a).max() < 0.05
    np.testing.assert_allclose(a * src + b, dst.mean(), atol=0.01)


def test_affine_fit_exceptions():
    with pytest.raises(ValueError, match="shapes differ"):
        affine_fit(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))


# ---------------------------------------------------------------------------------------------- apply


def test_apply_affine_taps_are_exact_for_a_linear_ramp():
    # Bilinear upsampling reproduces a linear function exactly where it is not clamped at the edges,
    # which holds only if small pixel i is centred on full-size rows (i + 0.5) * factor.
    factor, hs, ws = 4, 10, 12
    ys, xs = np.meshgrid(np.arange(hs) + 0.5, np.arange(ws) + 0.5, indexing="ij")
    ramp = (0.01 * ys + 0.02 * xs)[..., None].repeat(3, axis=2).astype(np.float32)
    image = np.ones((hs * factor, ws * factor, 3), np.float32)
    out = apply_affine(image, np.zeros_like(ramp), ramp, factor, unit=_float, finish=lambda x: x)
    yf, xf = np.meshgrid(np.arange(hs * factor) + 0.5, np.arange(ws * factor) + 0.5, indexing="ij")
    want = 0.01 * yf / factor + 0.02 * xf / factor
    inner = (slice(factor, -factor), slice(factor, -factor))
    np.testing.assert_allclose(out[inner][..., 0], want[inner], atol=1e-5)


def test_apply_affine_chunks_do_not_change_the_result():
    image = (_texture(70, 50) * 255).astype(np.uint8)
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.5, 1.5, (9, 7, 3)).astype(np.float32), rng.uniform(-0.2, 0.2, (9, 7, 3)).astype(np.float32)
    kwargs = dict(unit=_unit, finish=lambda x: x)
    whole = apply_affine(image, a, b, 8, chunk_rows=256, **kwargs)
    np.testing.assert_array_equal(apply_affine(image, a, b, 8, chunk_rows=7, **kwargs), whole)
    assert whole.shape == (70, 50, 3) and whole.min() >= 0 and whole.max() <= 1


# ---------------------------------------------------------------------------------------------- Restorer


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_guided_matches_full_size_for_an_affine_degradation(dtype):
    model = AffineDehazer()
    clean = _photo_like(600, 904, seed=3)
    peak = np.iinfo(dtype).max
    hazy = (_hazy(clean, model) * peak + 0.5).astype(dtype)
    guided = Restorer(model, device="cpu", precision="fp32", guide=128).restore(hazy)
    full = Restorer(model, device="cpu", precision="fp32").restore(hazy)
    assert guided.shape == hazy.shape and guided.dtype == dtype
    psnr = lambda a, b: 10 * np.log10(1 / np.mean((a / peak - b) ** 2))
    assert psnr(full, clean) > 45
    # The small run sees 113 x 75 pixels of a 904 x 600 photo, yet the restored photo keeps its detail
    # (~36 dB: t here spans 0.15-0.85 across the frame, steeper than haze, so the local fit lags a little).
    assert psnr(guided, clean) > 34
    assert psnr(guided, clean) > psnr(hazy, clean) + 15


class Spy(AffineDehazer):
    """Records the size of every input the model sees."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def restore(self, x, context=None):
        self.seen.append(tuple(x.shape[-2:]))
        return super().restore(x)


def test_guided_runs_the_model_once_at_the_guide_size():
    image = (_texture(300, 1000) * 255).astype(np.uint8)
    spy = Spy()
    Restorer(spy, device="cpu", precision="fp32", guide=256).restore(image)
    assert spy.seen == [(75, 250)]  # a whole factor of 4: 1000 / 4 = 250 <= 256


def test_guided_keeps_grey_images_grey():
    image = (_texture(200, 300)[..., 0] * 255).astype(np.uint8)
    out = Restorer(AffineDehazer(airlight=(0.9, 0.9, 0.9)), device="cpu", precision="fp32", guide=100).restore(image)
    assert out.shape == image.shape and out.dtype == np.uint8


def test_guided_small_images_and_thin_panoramas_run_at_full_size():
    spy = Spy()
    restorer = Restorer(spy, device="cpu", precision="fp32", guide=256)
    restorer.restore(np.zeros((100, 200, 3), np.uint8))  # already within the guide size
    restorer.restore(np.zeros((100, 2000, 3), np.uint8))  # a factor of 8 would go below 64 px: 100 // 64 = 1
    assert spy.seen == [(100, 200), (100, 2000)]


def test_guide_exceptions():
    with pytest.raises(GlsgnError, match="guide size 32"):
        Restorer(AffineDehazer(), device="cpu", guide=32)
    with pytest.raises(GlsgnError, match="guide size 4000"):
        Restorer(AffineDehazer(), device="cpu", guide=4000)
    with pytest.raises(GlsgnError, match="not to upscalers"):
        Restorer(create_model("glanet-tiny", scale=2), device="cpu", guide=256)


def test_published_guide_comes_from_the_registry():
    entry = get_entry("glsgn-dehaze")
    assert entry.guide > 0
    assert Restorer.from_pretrained("glsgn-dehaze", device="cpu").guide == entry.guide
    assert Restorer.from_pretrained("glsgn-dehaze", device="cpu", guide=0).guide is None
    assert Restorer.from_pretrained("glsgn-derain", device="cpu").guide is None
