"""Signal helpers shared by the degradation families: Fourier filtering, smooth noise, resizing.

Large blurs are done in the Fourier domain (torch.fft), where a Gaussian, a motion-blur streak
and a ghost shift are closed-form transfer functions: cost does not grow with blur size.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from PIL import Image


def size_scale(img: np.ndarray, ref_size: int | None) -> float:
    """Pixel sizes are given for a 1080-pixel short side of the whole photo; this is the factor for ``img``."""
    return (ref_size or min(img.shape[:2])) / 1080.0


def loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def freqs(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frequency grids (cycles per pixel) matching ``torch.fft.rfft2`` of an h x w image."""
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.rfftfreq(w).view(1, -1)
    return fy, fx


def fft_size(n: int) -> int:
    """The smallest 5-smooth number >= n: FFTs of such sizes are several times faster than of primes."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


Transfer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fourier_filter(planes: np.ndarray, transfer: Transfer, pad: int = 0) -> np.ndarray:
    """Apply a transfer function H(fy, fx) to (C, H, W) planes; reflect-pad first to hide the wrap-around."""
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    h, w = x.shape[-2:]
    pad = min(pad, h - 1, w - 1)
    ph, pw = fft_size(h + 2 * pad), fft_size(w + 2 * pad)
    # Reflection can add at most one side's length less one; a tiny plane (a heavily blurred
    # reflection is computed very small) may need more to reach the FFT size: repeat the edge.
    right, bottom = pw - w - pad, ph - h - pad
    x = torch.nn.functional.pad(x[None], (pad, min(right, w - 1), pad, min(bottom, h - 1)), mode="reflect")
    if right > w - 1 or bottom > h - 1:
        x = torch.nn.functional.pad(x, (0, max(0, right - w + 1), 0, max(0, bottom - h + 1)), mode="replicate")
    x = x[0]
    fy, fx = freqs(ph, pw)
    y = torch.fft.irfft2(torch.fft.rfft2(x) * transfer(fy, fx), s=(ph, pw))
    return y[..., pad : pad + h, pad : pad + w].numpy()


def gaussian_transfer(sigma: float) -> Transfer:
    return lambda fy, fx: torch.exp(-2.0 * math.pi**2 * sigma**2 * (fx**2 + fy**2))


def smooth_noise(h: int, w: int, rng: np.random.Generator, cells: float) -> np.ndarray:
    """Low-frequency noise (about ``cells`` bumps across the long side), zero mean, unit std."""
    gh = max(2, round(cells * h / max(h, w)) + 1)
    gw = max(2, round(cells * w / max(h, w)) + 1)
    grid = Image.fromarray(rng.standard_normal((gh, gw)).astype(np.float32))
    field = np.asarray(grid.resize((w, h), Image.BICUBIC), dtype=np.float32)
    return (field - field.mean()) / (field.std() + 1e-6)


def resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bicubic resize of a float HWC image (PIL's float mode works one channel at a time)."""
    if img.shape[:2] == (h, w):
        return np.ascontiguousarray(img, dtype=np.float32)
    planes = [Image.fromarray(np.ascontiguousarray(img[..., c], np.float32)) for c in range(img.shape[2])]
    return np.stack([np.asarray(p.resize((w, h), Image.BICUBIC)) for p in planes], axis=-1)




def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float HWC image (Fourier domain, reflect-padded)."""
    if sigma <= 0.0:
        return np.array(img, dtype=np.float32)
    planes = fourier_filter(img.transpose(2, 0, 1), gaussian_transfer(sigma), pad=int(3 * sigma) + 1)
    return np.ascontiguousarray(planes.transpose(1, 2, 0))


def depth_map(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A plausible smooth relative depth in [0, 1] (1 = far): ground rising to a tilted horizon, or flat.

    Close-ups and scenes without a horizon get a roughly uniform depth instead (one time in four).
    Low-frequency noise breaks the regularity either way.
    """
    if rng.random() < 0.25:
        depth = np.full((h, w), rng.uniform(0.3, 0.8), np.float32)
    else:
        horizon = rng.uniform(0.15, 0.65)
        tilt = math.tan(math.radians(rng.uniform(-5.0, 5.0)))
        y = (np.arange(h, dtype=np.float32)[:, None] / h) - tilt * (np.arange(w, dtype=np.float32)[None] - w / 2) / h
        ground = np.clip((y - horizon) / (1.0 - horizon), 0.0, 1.0)
        near = rng.uniform(0.0, 0.3)
        depth = 1.0 - (1.0 - near) * ground ** rng.uniform(0.5, 2.0)
    depth = depth + rng.uniform(0.0, 0.25) * smooth_noise(h, w, rng, rng.uniform(2.0, 8.0))
    return np.clip(depth, 0.0, 1.0).astype(np.float32, copy=False)
