"""Seeded synthetic degradations: rain streaks, haze and reflections over clean photographs.

Every function takes a clean float32 RGB image (HWC, values in [0, 1]) and a
:class:`numpy.random.Generator`, and returns a new float32 image of the same shape in [0, 1].
All randomness comes from that generator, so a seed reproduces a pair exactly.

The parameters are drawn from deliberately wide ranges: the models trained on these pairs meet
real rain, haze and glass, not one generator. Sizes (streak length, blur radius, ghost offset)
are expressed for a 1080-pixel short side and scaled by ``ref_size / 1080``, where ``ref_size``
is the short side of the *whole photo* the image was cut from (default: the image's own short
side). A 512-pixel crop of a 4K photo therefore gets the same streaks as the 4K photo itself.

Large blurs are done in the Fourier domain (torch.fft), where a Gaussian, a motion-blur streak
and a ghost shift are closed-form transfer functions: cost does not grow with blur size, and a
4K image takes well under a few seconds.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence, Union

import numpy as np
import torch
from PIL import Image

TASKS = ("derain", "dehaze", "dereflect")

Pool = Union[Sequence[np.ndarray], Callable[[np.random.Generator], np.ndarray]]


# --------------------------------------------------------------------------- helpers


def _scale(img: np.ndarray, ref_size: int | None) -> float:
    return (ref_size or min(img.shape[:2])) / 1080.0


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _freqs(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frequency grids (cycles per pixel) matching ``torch.fft.rfft2`` of an h x w image."""
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.rfftfreq(w).view(1, -1)
    return fy, fx


def _fft_size(n: int) -> int:
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


def _filter(planes: np.ndarray, transfer: Transfer, pad: int = 0) -> np.ndarray:
    """Apply a transfer function H(fy, fx) to (C, H, W) planes; reflect-pad first to hide the wrap-around."""
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    h, w = x.shape[-2:]
    pad = min(pad, h - 1, w - 1)
    ph, pw = _fft_size(h + 2 * pad), _fft_size(w + 2 * pad)
    # Reflection can add at most one side's length less one; a tiny plane (a heavily blurred
    # reflection is computed very small) may need more to reach the FFT size: repeat the edge.
    right, bottom = pw - w - pad, ph - h - pad
    x = torch.nn.functional.pad(x[None], (pad, min(right, w - 1), pad, min(bottom, h - 1)), mode="reflect")
    if right > w - 1 or bottom > h - 1:
        x = torch.nn.functional.pad(x, (0, max(0, right - w + 1), 0, max(0, bottom - h + 1)), mode="replicate")
    x = x[0]
    fy, fx = _freqs(ph, pw)
    y = torch.fft.irfft2(torch.fft.rfft2(x) * transfer(fy, fx), s=(ph, pw))
    return y[..., pad : pad + h, pad : pad + w].numpy()


def _gaussian_transfer(sigma: float) -> Transfer:
    return lambda fy, fx: torch.exp(-2.0 * math.pi**2 * sigma**2 * (fx**2 + fy**2))


def _smooth_noise(h: int, w: int, rng: np.random.Generator, cells: float) -> np.ndarray:
    """Low-frequency noise (about ``cells`` bumps across the long side), zero mean, unit std."""
    gh = max(2, round(cells * h / max(h, w)) + 1)
    gw = max(2, round(cells * w / max(h, w)) + 1)
    grid = Image.fromarray(rng.standard_normal((gh, gw)).astype(np.float32))
    field = np.asarray(grid.resize((w, h), Image.BICUBIC), dtype=np.float32)
    return (field - field.mean()) / (field.std() + 1e-6)


# --------------------------------------------------------------------------- rain


def _rain_layer(h: int, w: int, rng: np.random.Generator, s: float, angle: float) -> np.ndarray:
    """One layer of streaks: sparse random points, motion-blurred along ``angle`` (degrees from vertical).

    The streak kernel is built in frequency space: a box of the streak length convolved with a
    shorter box (tapered ends) along the fall direction, times a Gaussian across it (width).
    The points are split into a few groups with slightly different angles, so streaks in one
    layer are not all perfectly parallel.
    """
    length = s * _loguniform(rng, 10, 100)
    width = max(0.5, s * rng.uniform(0.35, 1.5))  # thinner than half a pixel would alias
    taper = length * rng.uniform(0.1, 0.5)
    coverage = _loguniform(rng, 0.015, 0.2)
    spread = rng.uniform(0.0, 4.0)
    n_points = int(coverage * h * w / (length * max(1.0, 2.0 * width)))
    gain = length * width * math.sqrt(2 * math.pi)  # a point of value v becomes a streak of peak ~v

    fh, fw = _fft_size(h), _fft_size(w)  # the streaks wrap around: render a friendly size, crop
    fy, fx = _freqs(fh, fw)
    spectrum = torch.zeros(fh, fw // 2 + 1, dtype=torch.complex64)
    for _ in range(3):
        canvas = np.zeros(fh * fw, np.float32)
        canvas[rng.integers(0, fh * fw, n_points // 3 + 1)] = rng.uniform(0.5, 1.0, n_points // 3 + 1) * gain
        a = math.radians(angle + rng.normal(0.0, spread))
        along = fx * math.sin(a) + fy * math.cos(a)
        across = fx * math.cos(a) - fy * math.sin(a)
        profile = torch.exp(-2 * math.pi**2 * width**2 * across**2)
        kernel = torch.sinc(length * along) * torch.sinc(taper * along) * profile
        spectrum += torch.fft.rfft2(torch.from_numpy(canvas.reshape(fh, fw))) * kernel
    layer = torch.fft.irfft2(spectrum, s=(fh, fw))[:h, :w].clamp_(0.0, 1.0).numpy()
    return rng.uniform(0.25, 0.9) * layer ** rng.uniform(0.7, 1.5)


def add_rain(
    img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None, angle: float | None = None
) -> np.ndarray:
    """Rain streaks as in the paper: noise points -> motion blur -> brightness/contrast, 1-3 layers.

    ``angle`` (degrees from vertical, positive leaning right at the bottom) fixes the mean fall
    direction; by default it is drawn around vertical. Layers differ in length, width, density
    and brightness (near and far rain), and are blended by screen or clipped addition, tinted a
    little towards the scene colour. Sometimes a faint veil is added, as rain scatters light.
    """
    h, w = img.shape[:2]
    s = _scale(img, ref_size)
    base = float(np.clip(rng.normal(0.0, 12.0), -35.0, 35.0)) if angle is None else float(angle)
    rain = sum(_rain_layer(h, w, rng, s, base + rng.normal(0.0, 3.0)) for _ in range(rng.integers(1, 4)))
    rain = np.clip(rain, 0.0, 1.0)[..., None]
    colour = 1.0 + rng.uniform(0.0, 0.4) * (img.mean(axis=(0, 1)) / max(img.mean(), 1e-3) - 1.0)
    rain = rain * np.clip(colour, 0.0, 1.0).astype(np.float32, copy=False)
    out = img
    if rng.random() < 0.3:
        out = out + rng.uniform(0.02, 0.12) * (rng.uniform(0.6, 0.9) - out)
    out = 1.0 - (1.0 - out) * (1.0 - rain) if rng.random() < 0.5 else out + rain
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- haze


def _depth_map(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
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
    depth = depth + rng.uniform(0.0, 0.25) * _smooth_noise(h, w, rng, rng.uniform(2.0, 8.0))
    return np.clip(depth, 0.0, 1.0)


def add_haze(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Atmospheric scattering: I = J t + A (1 - t), t = exp(-beta d).

    The depth map is smooth (see ``_depth_map``), beta ranges from light haze to thick fog, and
    the airlight is greyish white with a random tint along the warm-cool axis.
    """
    del ref_size  # the depth map is relative to the frame; nothing here has a pixel size
    h, w = img.shape[:2]
    beta = _loguniform(rng, 0.2, 1.2)
    t = np.exp(-beta * _depth_map(h, w, rng))[..., None]
    shift = rng.uniform(-0.08, 0.08)
    airlight = rng.uniform(0.65, 1.0) * (1.0 + np.array([shift, 0.0, -shift]) + rng.normal(0.0, 0.02, 3))
    airlight = np.clip(airlight, 0.0, 1.0).astype(np.float32, copy=False)
    return np.clip(img * t + airlight * (1.0 - t), 0.0, 1.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- reflection


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bicubic resize of a float HWC image (PIL's float mode works one channel at a time)."""
    if img.shape[:2] == (h, w):
        return np.ascontiguousarray(img, dtype=np.float32)
    planes = [Image.fromarray(np.ascontiguousarray(img[..., c], np.float32)) for c in range(img.shape[2])]
    return np.stack([np.asarray(p.resize((w, h), Image.BICUBIC)) for p in planes], axis=-1)


def _fit(other: np.ndarray, h: int, w: int, rng: np.random.Generator, factor: float = 1.0) -> np.ndarray:
    """A random region of ``other`` (70%-140% of h x w, flipped half the time), resized to ``factor`` * (h x w)."""
    oh, ow = other.shape[:2]
    scale = rng.uniform(0.7, 1.4)
    ch, cw = min(oh, max(1, round(h * scale))), min(ow, max(1, round(w * scale)))
    y, x = rng.integers(0, oh - ch + 1), rng.integers(0, ow - cw + 1)
    crop = other[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.clip(_resize(crop, max(1, round(h * factor)), max(1, round(w * factor))), 0.0, 1.0)


def add_reflection(
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
    s = _scale(img, ref_size)
    sigma = s * _loguniform(rng, 0.7, 12.0)
    ghost, shift = (rng.uniform(0.25, 0.5), s * rng.uniform(3.0, 20.0)) if rng.random() < 0.5 else (0.0, 0.0)
    direction = rng.uniform(0.0, 2 * math.pi)
    f = min(1.0, 2.0 / sigma)
    dy, dx = f * shift * math.sin(direction), f * shift * math.cos(direction)

    def transfer(fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        blur = _gaussian_transfer(f * sigma)(fy, fx)
        return blur if ghost == 0.0 else blur * ((1.0 - ghost) + ghost * torch.exp(-2j * math.pi * (fx * dx + fy * dy)))

    layer = _fit(other, h, w, rng, f)
    hs, ws = layer.shape[:2]
    refl = _filter(layer.transpose(2, 0, 1), transfer, pad=int(3 * f * sigma + f * shift) + 1).transpose(1, 2, 0)
    strength = rng.uniform(0.2, 0.6)
    if rng.random() < 0.5:
        fade = 0.5 + 0.5 * np.tanh(_smooth_noise(hs, ws, rng, 3.0))
        strength = strength * (1.0 - rng.uniform(0.0, 0.5) * fade)[..., None]
    refl = _resize(refl * strength, h, w)
    out = img * np.float32(rng.uniform(0.88, 1.0))
    over = out + refl
    over -= 1.0
    np.maximum(over, 0.0, out=over)
    n_over = np.maximum(np.count_nonzero(over.reshape(-1, 3), axis=0), 1)
    refl -= (1.3 * over.reshape(-1, 3).sum(axis=0) / n_over).astype(np.float32)
    np.maximum(refl, 0.0, out=refl)
    out += refl
    return np.clip(out, 0.0, 1.0, out=out)


# --------------------------------------------------------------------------- dispatch


def degrade(
    task: str, clean: np.ndarray, rng: np.random.Generator, *, pool: Pool | None = None, ref_size: int | None = None
) -> np.ndarray:
    """Degrade ``clean`` for ``task`` ("derain", "dehaze" or "dereflect").

    For "dereflect", ``pool`` supplies the reflected photo: a sequence of float images (one is
    drawn) or a callable ``pool(rng) -> image``. Without a pool the clean image itself, mirrored,
    is reflected, which is weaker training data but keeps single-photo use working.
    """
    if task == "derain":
        return add_rain(clean, rng, ref_size=ref_size)
    if task == "dehaze":
        return add_haze(clean, rng, ref_size=ref_size)
    if task == "dereflect":
        if callable(pool):
            other = pool(rng)
        elif pool:
            other = pool[int(rng.integers(len(pool)))]
        else:
            other = clean[::-1, ::-1]
        return add_reflection(clean, other, rng, ref_size=ref_size)
    raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
