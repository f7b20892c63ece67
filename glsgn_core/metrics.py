"""Full-reference image quality: PSNR and SSIM, batched, matching scikit-image.

Both take images as (C, H, W) or (N, C, H, W) tensors and return one value per image
(a 0-d tensor for a single image). SSIM follows Wang et al. (2004) as scikit-image computes it
with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``: an 11-tap Gaussian
window, K1 = 0.01, K2 = 0.03, the mean over the positions where the window fits entirely in
the image, then the mean over channels. Statistics are accumulated in float64 because the
variance terms subtract nearly equal numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _batched(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() not in (3, 4):
        raise ValueError(f"expected (C, H, W) or (N, C, H, W) images, got shape {tuple(a.shape)}")
    single = a.dim() == 3
    if single:
        a, b = a[None], b[None]
    return a.double(), b.double(), single


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image; ``inf`` for identical images."""
    a, b, single = _batched(a, b)
    mse = (a - b).pow(2).flatten(1).mean(1)
    out = 10.0 * torch.log10(data_range**2 / mse)
    return out[0] if single else out


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def _blur_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of every channel, keeping only positions where the window fits."""
    c = x.shape[1]
    x = F.conv2d(x, window.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, window.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (mean over positions and channels)."""
    a, b, single = _batched(a, b)
    window = _gaussian_window().to(a.device)
    if min(a.shape[-2:]) < window.numel():
        raise ValueError(f"images of {a.shape[-1]}x{a.shape[-2]} are smaller than the 11x11 SSIM window")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    stats = _blur_valid(torch.cat([a, b, a * a, b * b, a * b], dim=1), window)
    mu_a, mu_b, aa, bb, ab = stats.chunk(5, dim=1)
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    out = (num / den).flatten(1).mean(1)
    return out[0] if single else out


__all__ = ["psnr", "ssim"]
