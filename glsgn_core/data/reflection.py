"""Reflections: three independent models of a second scene on glass.

- :func:`reflection_blurred`: ``I = t B + R``, R an out-of-focus second photo added linearly
  (sometimes ghosted), weakened where the sum would saturate.
- :func:`reflection_ghosted`: a thick pane's double image (front and back surface, offset and
  attenuated), mostly near focus, blended by screen or by clipped addition through tinted glass.
- :func:`reflection_fresnel`: reflectance that varies across the frame (a Fresnel-like ramp with
  the viewing angle, partial panes with edges), energy-conserving ``I = (1 - a) B + a R``; a
  minority of reflections are in focus.

Each takes the clean photo and ``other`` (the reflected scene, any size; float HWC in [0, 1]).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from glsgn_core.data._signal import (
    blur,
    fourier_filter,
    gaussian_transfer,
    loguniform,
    resize,
    size_scale,
    smooth_noise,
)


def fit_other(other: np.ndarray, h: int, w: int, rng: np.random.Generator, factor: float = 1.0) -> np.ndarray:
    """A random region of ``other`` (70%-140% of h x w, flipped half the time), resized to ``factor`` * (h x w)."""
    oh, ow = other.shape[:2]
    scale = rng.uniform(0.7, 1.4)
    ch, cw = min(oh, max(1, round(h * scale))), min(ow, max(1, round(w * scale)))
    y, x = rng.integers(0, oh - ch + 1), rng.integers(0, ow - cw + 1)
    crop = other[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.clip(resize(crop, max(1, round(h * factor)), max(1, round(w * factor))), 0.0, 1.0)


def _ghost_transfer(sigma: float, ghost: float, dy: float, dx: float):
    def transfer(fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        g = gaussian_transfer(sigma)(fy, fx)
        return g if ghost == 0.0 else g * ((1.0 - ghost) + ghost * torch.exp(-2j * math.pi * (fx * dx + fy * dy)))

    return transfer


def reflection_blurred(
    img: np.ndarray, other: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None
) -> np.ndarray:
    """Reflection on glass: I = t B + R, with R a blurred (and sometimes ghosted) second photo.

    Out-of-focus reflections get a Gaussian blur of random width; thick glass gets a ghost (a
    shifted second copy), done as a phase shift in the same Fourier pass. The blurred layer
    holds no detail finer than its blur, so it is computed at a reduced size (blur >= 2 pixels
    there) and scaled up, which keeps 4K fast. The reflection is weakened where the sum would
    saturate (the mean overflow is subtracted per channel, as in common synthetic reflection
    pipelines) and may fade across the frame.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    sigma = s * loguniform(rng, 0.7, 12.0)
    ghost, shift = (rng.uniform(0.25, 0.5), s * rng.uniform(3.0, 20.0)) if rng.random() < 0.5 else (0.0, 0.0)
    direction = rng.uniform(0.0, 2 * math.pi)
    f = min(1.0, 2.0 / sigma)
    dy, dx = f * shift * math.sin(direction), f * shift * math.cos(direction)
    layer = fit_other(other, h, w, rng, f)
    hs, ws = layer.shape[:2]
    transfer = _ghost_transfer(f * sigma, ghost, dy, dx)
    refl = fourier_filter(layer.transpose(2, 0, 1), transfer, pad=int(3 * f * sigma + f * shift) + 1).transpose(1, 2, 0)
    strength = rng.uniform(0.2, 0.6)
    if rng.random() < 0.5:
        fade = 0.5 + 0.5 * np.tanh(smooth_noise(hs, ws, rng, 3.0))
        strength = strength * (1.0 - rng.uniform(0.0, 0.5) * fade)[..., None]
    refl = resize(refl * strength, h, w)
    out = img * np.float32(rng.uniform(0.88, 1.0))
    over = out + refl
    over -= 1.0
    np.maximum(over, 0.0, out=over)
    n_over = np.maximum(np.count_nonzero(over.reshape(-1, 3), axis=0), 1)
    refl -= (1.3 * over.reshape(-1, 3).sum(axis=0) / n_over).astype(np.float32)
    np.maximum(refl, 0.0, out=refl)
    out += refl
    return np.clip(out, 0.0, 1.0, out=out)


def reflection_ghosted(
    img: np.ndarray, other: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None
) -> np.ndarray:
    """A thick pane: the reflected scene twice (front and back surface), near focus, through tinted glass.

    The back-surface copy is offset by the pane's thickness seen at an angle and attenuated
    (0.3-0.8 of the front one). The glass tints the transmitted scene slightly green or blue.
    Blending is screen ``1 - (1 - B)(1 - R)`` or clipped addition ``min(1, B + R)``: both saturate
    highlights instead of subtracting a mean, unlike :func:`reflection_blurred`.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    layer = fit_other(other, h, w, rng)
    shift, direction = s * rng.uniform(3.0, 30.0), rng.uniform(0.0, 2 * math.pi)
    back = rng.uniform(0.3, 0.8)
    sigma = s * rng.uniform(0.0, 2.5)
    transfer = _ghost_transfer(sigma, back / (1.0 + back), shift * math.sin(direction), shift * math.cos(direction))
    refl = fourier_filter(layer.transpose(2, 0, 1), transfer, pad=int(3 * sigma + shift) + 1).transpose(1, 2, 0)
    refl = np.clip(refl, 0.0, 1.0) * np.float32(rng.uniform(0.15, 0.5))
    tint = np.clip(1.0 - np.array([rng.uniform(0.0, 0.08), 0.0, rng.uniform(0.0, 0.05)]), 0.85, 1.0)
    base = img * (tint * rng.uniform(0.85, 1.0)).astype(np.float32)
    out = 1.0 - (1.0 - base) * (1.0 - refl) if rng.random() < 0.5 else base + refl
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def reflection_fresnel(
    img: np.ndarray, other: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None
) -> np.ndarray:
    """Reflectance that varies over the frame: I = (1 - a) B + a R.

    ``a`` follows a Schlick-like ramp ``a0 + (a1 - a0) u^5`` along a random direction (the viewing
    angle changes across a large pane), times, half the time, a pane mask with soft or hard edges
    (the reflection stops at the window frame). A third of reflections are in focus; the others
    get a blur. The reflected scene may be brighter or darker than the photo (a lit room at night).
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    sigma = 0.0 if rng.random() < 0.33 else s * loguniform(rng, 1.0, 8.0)
    refl = np.clip(blur(fit_other(other, h, w, rng), sigma) * rng.uniform(0.6, 1.4), 0.0, 1.0)
    y = np.arange(h, dtype=np.float32)[:, None] / h
    x = np.arange(w, dtype=np.float32)[None] / w
    angle = rng.uniform(0, 2 * math.pi)
    u = (x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle)
    u = (u - u.min()) / max(float(np.ptp(u)), 1e-6)
    a0, a1 = rng.uniform(0.02, 0.15), rng.uniform(0.2, 0.55)
    alpha = a0 + (a1 - a0) * u ** rng.uniform(1.5, 5.0)
    if rng.random() < 0.5:  # a pane: a rectangle with soft or hard edges
        top, left = rng.uniform(-0.3, 0.5, 2)
        bottom, right = top + rng.uniform(0.4, 1.3), left + rng.uniform(0.4, 1.3)
        soft = max(1.0 / max(h, w), rng.choice([0.002, 0.02, 0.08]))
        inside = (np.clip((y - top) / soft, 0, 1) * np.clip((bottom - y) / soft, 0, 1)
                  * np.clip((x - left) / soft, 0, 1) * np.clip((right - x) / soft, 0, 1))
        alpha = alpha * inside
    alpha = alpha.astype(np.float32)[..., None]
    return np.clip((1.0 - alpha) * img + alpha * refl, 0.0, 1.0).astype(np.float32, copy=False)
