"""Rain: three independent rendering models.

- :func:`rain_streaks`: noise points motion-blurred into streak layers, blended by screen or
  clipped addition (the paper's recipe).
- :func:`rain_depth`: streak planes at several distances, alpha-composited far to near, hidden
  behind scene objects nearer than the plane, smaller, denser and dimmer with distance, over the
  veil that far rain makes.
- :func:`rain_refraction`: thin anti-aliased segments drawn one by one; each drop shows a shifted,
  defocused, brightened view of the scene (a drop is a small lens), with optional splashes and mist.

:func:`scene_lines` is not rain: it draws thin dark lines (reeds, grass, wires) into a clean photo
*before* it is degraded, so they belong to the target and a model learns to keep them.

Every function takes a clean float32 RGB image (HWC, [0, 1]) and a generator and returns a new
image of the same shape. Pixel sizes are given for a 1080-pixel short side of the whole photo
(``ref_size``), so a crop of a 4K photo gets the streaks of the 4K photo.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from glsgn_core.data._signal import blur, depth_map, fft_size, freqs, loguniform, size_scale, smooth_noise


def _streak_layer(
    h: int, w: int, rng: np.random.Generator, s: float, angle: float, *, coverage: tuple[float, float] = (0.015, 0.2),
    lengths: tuple[float, float] = (10, 100),
) -> np.ndarray:
    """One layer of streaks: sparse random points, motion-blurred along ``angle`` (degrees from vertical).

    The streak kernel is built in frequency space: a box of the streak length convolved with a
    shorter box (tapered ends) along the fall direction, times a Gaussian across it (width).
    The points are split into a few groups with slightly different angles, so streaks in one
    layer are not all perfectly parallel.
    """
    length = s * loguniform(rng, *lengths)
    width = max(0.5, s * rng.uniform(0.35, 1.5))  # thinner than half a pixel would alias
    taper = length * rng.uniform(0.1, 0.5)
    cover = loguniform(rng, *coverage)
    spread = rng.uniform(0.0, 4.0)
    n_points = int(cover * h * w / (length * max(1.0, 2.0 * width)))
    gain = length * width * math.sqrt(2 * math.pi)  # a point of value v becomes a streak of peak ~v

    fh, fw = fft_size(h), fft_size(w)  # the streaks wrap around: render a friendly size, crop
    fy, fx = freqs(fh, fw)
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


def rain_streaks(
    img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None, angle: float | None = None
) -> np.ndarray:
    """Rain streaks as in the paper: noise points -> motion blur -> brightness/contrast, 1-3 layers.

    ``angle`` (degrees from vertical, positive leaning right at the bottom) fixes the mean fall
    direction; by default it is drawn around vertical. Layers differ in length, width, density
    and brightness (near and far rain), and are blended by screen or clipped addition, tinted a
    little towards the scene colour. Sometimes a faint veil is added, as rain scatters light.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    base = float(np.clip(rng.normal(0.0, 12.0), -35.0, 35.0)) if angle is None else float(angle)
    rain = sum(_streak_layer(h, w, rng, s, base + rng.normal(0.0, 3.0)) for _ in range(rng.integers(1, 4)))
    rain = np.clip(rain, 0.0, 1.0)[..., None]
    colour = 1.0 + rng.uniform(0.0, 0.4) * (img.mean(axis=(0, 1)) / max(img.mean(), 1e-3) - 1.0)
    rain = rain * np.clip(colour, 0.0, 1.0).astype(np.float32, copy=False)
    out = img
    if rng.random() < 0.3:
        out = out + rng.uniform(0.02, 0.12) * (rng.uniform(0.6, 0.9) - out)
    out = 1.0 - (1.0 - out) * (1.0 - rain) if rng.random() < 0.5 else out + rain
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def rain_depth(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Depth-layered rain: 3-5 planes of streaks at distances z in (0, 1), composited far to near.

    A plane's streaks are scaled by its nearness (far rain is short, thin and dense), dimmer with
    distance, and visible only where the scene lies behind the plane (a smooth scene depth decides).
    Far rain scatters light: a veil A (1 - exp(-k d)) grows with the scene's depth d. Streaks are
    composited as partly opaque water (``out = out (1 - a) + c a``), not added as light.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    scene = depth_map(h, w, rng)
    airlight = np.float32(rng.uniform(0.65, 0.95))
    # A faint veil only (at most 18% airlight): a stronger one taught derain models to dehaze, and
    # a model that dehazes darkens bright, flat photos with no rain at all (docs/DATA.md, v2).
    veil = 1.0 - np.exp(-rng.uniform(0.0, 0.2) * scene)[..., None]
    out = img * (1.0 - veil) + airlight * veil
    angle = float(np.clip(rng.normal(0.0, 10.0), -30.0, 30.0))
    planes = np.sort(rng.uniform(0.05, 0.95, rng.integers(3, 6)))[::-1]  # far first
    colour = np.clip(rng.uniform(0.75, 1.0) + rng.normal(0.0, 0.03, 3), 0.0, 1.0).astype(np.float32)
    for z in planes:
        near = 1.0 - z
        layer = _streak_layer(h, w, rng, s * (0.2 + 1.4 * near**1.5), angle + rng.normal(0.0, 2.0),
                              coverage=(0.01 + 0.05 * z, 0.05 + 0.2 * z))
        behind = np.clip((scene - z) / 0.05 + 0.5, 0.0, 1.0)  # soft edge where the plane meets the scene
        alpha = (layer * behind * (0.35 + 0.65 * near))[..., None]
        out = out * (1.0 - alpha) + colour * alpha
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _segment_alpha(h: int, w: int, p0: np.ndarray, p1: np.ndarray, width: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """Anti-aliased coverage of a thick segment p0 -> p1 (x, y), tapered towards both ends, in its bounding box."""
    r = width / 2.0 + 1.0
    x0, x1 = int(max(0, math.floor(min(p0[0], p1[0]) - r))), int(min(w, math.ceil(max(p0[0], p1[0]) + r) + 1))
    y0, y1 = int(max(0, math.floor(min(p0[1], p1[1]) - r))), int(min(h, math.ceil(max(p0[1], p1[1]) + r) + 1))
    if x0 >= x1 or y0 >= y1:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), np.float32)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = p1 - p0
    t = np.clip(((xs - p0[0]) * d[0] + (ys - p0[1]) * d[1]) / max(float(d @ d), 1e-6), 0.0, 1.0)
    dist = np.hypot(xs - (p0[0] + t * d[0]), ys - (p0[1] + t * d[1]))
    cover = np.clip(width / 2.0 + 0.5 - dist, 0.0, 1.0)
    return (slice(y0, y1), slice(x0, x1)), cover * np.sqrt(np.sin(np.pi * t) + 1e-3)


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = img[y + dy, x + dx]``, the border pixels repeated outside the image."""
    h, w = img.shape[:2]
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return img[ys][:, xs]


def rain_refraction(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Drops drawn as thin anti-aliased segments that refract the scene behind them.

    Inside a drop the pixel shows the scene from a few pixels away (a drop is a small lens that
    images the scene above it), defocused and brightened, with a tint; coverage is the exact
    anti-aliased area of each segment, so edges are sharp, not blurred like the Fourier streaks.
    Sometimes splashes (short bright arcs) in the lower part and a patchy mist are added.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    area = h * w / max(s * s, 1e-6) / (1920 * 1080)  # this image's share of a 1080p frame
    n = min(int(loguniform(rng, 300, 4000) * area) + 1, 20000)
    angle = math.radians(float(np.clip(rng.normal(0.0, 10.0), -30.0, 30.0)))
    shift = s * rng.uniform(4.0, 25.0)
    sy, sx = int(round(-shift * math.cos(angle))), int(round(-shift * math.sin(angle)))
    lens = _shifted(blur(img, s * rng.uniform(0.5, 3.0)), sy, sx)
    lens = np.clip(lens * rng.uniform(1.0, 1.35) + rng.uniform(0.03, 0.2), 0.0, 1.0)
    lens *= np.clip(1.0 + rng.normal(0.0, 0.03, 3), 0.8, 1.1).astype(np.float32)
    alpha = np.zeros((h, w), np.float32)
    lengths = s * np.exp(rng.uniform(math.log(6), math.log(60), n))
    widths = np.maximum(0.6, s * rng.uniform(0.6, 2.2, n))
    opacity = rng.uniform(0.4, 0.95, n)
    starts = rng.uniform(0, 1, (n, 2)) * np.array([w, h])
    jitter = rng.normal(0.0, 0.05, n)
    for k in range(n):
        direction = np.array([math.sin(angle + jitter[k]), math.cos(angle + jitter[k])])
        where, cover = _segment_alpha(h, w, starts[k], starts[k] + lengths[k] * direction, widths[k])
        np.maximum(alpha[where], cover * opacity[k], out=alpha[where])
    if rng.random() < 0.3:  # splashes: short, wide, bright arcs near the ground
        for _ in range(int(n * rng.uniform(0.02, 0.1))):
            c = np.array([rng.uniform(0, w), rng.uniform(0.6, 1.0) * h])
            half = s * rng.uniform(2.0, 6.0)
            tilt = rng.uniform(-0.6, 0.6)
            where, cover = _segment_alpha(h, w, c - [half, tilt * half], c + [half, -tilt * half], max(0.8, s * 1.2))
            np.maximum(alpha[where], cover * rng.uniform(0.3, 0.7), out=alpha[where])
    out = img * (1.0 - alpha[..., None]) + lens * alpha[..., None]
    if rng.random() < 0.4:  # mist: patchy, faint
        mist = rng.uniform(0.03, 0.15) * np.clip(0.5 + 0.5 * smooth_noise(h, w, rng, rng.uniform(2.0, 6.0)), 0.0, 1.0)
        out = out + mist[..., None] * (rng.uniform(0.7, 0.95) - out)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def scene_lines(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Thin dark lines that belong to the scene: reeds, grass stems, wires, twigs.

    They look like rain streaks (thin, long, roughly parallel, often near vertical) but are darker
    than what lies behind them, where rain is lighter. Drawn into the clean photo before a rain
    family, they end up in input and target alike. Without them, derain models smeared the reeds of
    a held-out photo as if they were rain (docs/MODELS.md, glsgn-derain v2's failure cases).
    They grow in patches (a bed of reeds, a clump of grass), not evenly over the frame.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    angle = float(rng.normal(0.0, 20.0))
    lines = sum(_streak_layer(h, w, rng, s, angle + rng.normal(0.0, 5.0), coverage=(0.02, 0.3), lengths=(30, 300))
                for _ in range(rng.integers(1, 3)))
    patch = np.clip(smooth_noise(h, w, rng, rng.uniform(1.0, 4.0)) + rng.uniform(-0.5, 1.5), 0.0, 1.0)
    alpha = np.clip(lines * rng.uniform(1.0, 2.5), 0.0, 1.0) * patch
    colour = (rng.uniform(0.0, 0.3) * np.array([rng.uniform(0.7, 1.0), 1.0, rng.uniform(0.4, 0.9)])).astype(np.float32)
    darker = np.minimum(img, colour)  # never lighter than the scene: rain is the light kind of line
    out = img * (1.0 - alpha[..., None]) + darker * alpha[..., None]
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
