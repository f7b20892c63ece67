"""PSNR and SSIM agree with scikit-image on real photographs and their degraded versions."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from photo_fixtures import photo
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from glsgn_core.metrics import psnr, ssim


def _variants(k: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A photo (float64 HWC) and realistic distortions of it: noise, blur, JPEG, brightness."""
    clean = photo(k, (150, 110))
    rng = np.random.default_rng(k)
    noisy = np.clip(clean / 255.0 + rng.normal(0.0, 0.04, clean.shape), 0.0, 1.0)
    blurred = np.asarray(Image.fromarray(clean).filter(ImageFilter.GaussianBlur(1.5))) / 255.0
    buf = io.BytesIO()
    Image.fromarray(clean).save(buf, format="JPEG", quality=20)
    jpeg = np.asarray(Image.open(buf)) / 255.0
    darker = clean / 255.0 * 0.8
    # round-trip through float32 so both libraries see the same numbers
    as32 = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    return as32(clean / 255.0), [as32(v) for v in (noisy, blurred, jpeg, darker)]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32))


def _sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1, data_range=data_range
    )


@pytest.mark.parametrize("k", [0, 1, 2])
def test_psnr_matches_skimage_batched(k):
    clean, variants = _variants(k)
    ours = psnr(torch.stack([_t(clean)] * len(variants)), torch.stack([_t(v) for v in variants]))
    assert ours.shape == (len(variants),) and ours.dtype == torch.float64
    expected = [peak_signal_noise_ratio(clean, v, data_range=1.0) for v in variants]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_ssim_matches_skimage_batched(k):
    clean, variants = _variants(k)
    ours = ssim(torch.stack([_t(clean)] * len(variants)), torch.stack([_t(v) for v in variants]))
    expected = [_sk_ssim(clean, v) for v in variants]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-4, rtol=0)
    assert len(set(np.round(expected, 3))) == len(expected), "the distortions should differ in SSIM"


def test_ssim_and_psnr_single_image_greyscale_and_data_range():
    clean, (noisy, *_) = _variants(0)
    grey_a, grey_b = clean.mean(-1, keepdims=True) * 255.0, noisy.mean(-1, keepdims=True) * 255.0
    ours = ssim(_t(grey_a), _t(grey_b), data_range=255.0)
    assert ours.dim() == 0
    assert abs(float(ours) - _sk_ssim(grey_a, grey_b, data_range=255.0)) < 1e-4
    expected_psnr = peak_signal_noise_ratio(grey_a, grey_b, data_range=255.0)
    assert abs(float(psnr(_t(grey_a), _t(grey_b), data_range=255.0)) - expected_psnr) < 1e-4


def test_identical_images():
    clean, _ = _variants(1)
    assert float(ssim(_t(clean), _t(clean))) == pytest.approx(1.0, abs=1e-12)
    assert torch.isinf(psnr(_t(clean), _t(clean)))


def test_exception_shapes():
    a = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, torch.rand(3, 32, 31))
    with pytest.raises(ValueError, match="smaller than the 11x11"):
        ssim(torch.rand(3, 8, 32), torch.rand(3, 8, 32))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        ssim(torch.rand(32, 32), torch.rand(32, 32))
