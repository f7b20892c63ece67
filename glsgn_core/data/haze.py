"""Haze: three independent models of where the fog is and what light it adds.

- :func:`haze_smooth`: homogeneous scattering ``I = J t + A (1 - t)``, ``t = exp(-beta d)``, with a
  smooth depth (a ground plane rising to a horizon, or a flat scene) and one airlight.
- :func:`haze_regions`: depth that follows the photo's own structure: the photo is split into
  colour/position regions, each at its own depth (the sky farthest), so depth edges are sharp
  where the photo's edges are, as in real scenes and unlike a smooth field.
- :func:`haze_patchy`: inhomogeneous fog: the extinction coefficient itself varies (fog banks and
  patches from multi-scale noise), airlight varies across the frame with a brighter horizon band,
  and thick fog also blurs the scene (forward scattering).

:func:`scene_defocus` is not haze: it is the dehaze decoy (``degrade.DECOYS``), out-of-focus scene
content that a model must keep.

Each takes a clean float32 RGB image (HWC, [0, 1]) and a generator and returns a new image.
"""

from __future__ import annotations

import math

import numpy as np

from glsgn_core.data._signal import blur, depth_map, loguniform, resize, size_scale, smooth_noise


def _airlight(rng: np.random.Generator, low: float = 0.65) -> np.ndarray:
    """Greyish white with a random tint along the warm-cool axis."""
    shift = rng.uniform(-0.08, 0.08)
    airlight = rng.uniform(low, 1.0) * (1.0 + np.array([shift, 0.0, -shift]) + rng.normal(0.0, 0.02, 3))
    return np.clip(airlight, 0.0, 1.0).astype(np.float32)


def haze_smooth(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Atmospheric scattering: I = J t + A (1 - t), t = exp(-beta d), d a smooth depth map.

    Beta ranges from light haze to thick fog, and the airlight is greyish white with a random
    tint along the warm-cool axis.
    """
    del ref_size  # the depth map is relative to the frame; nothing here has a pixel size
    h, w = img.shape[:2]
    beta = loguniform(rng, 0.2, 1.2)
    t = np.exp(-beta * depth_map(h, w, rng))[..., None]
    airlight = _airlight(rng)
    return np.clip(img * t + airlight * (1.0 - t), 0.0, 1.0).astype(np.float32, copy=False)


def _features(img: np.ndarray, weight: float) -> np.ndarray:
    """Per-pixel (r, g, b, weight * y / h, weight * x / w), shape (h * w, 5)."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.concatenate([img.reshape(-1, 3), weight * np.stack([ys.ravel() / h, xs.ravel() / w], 1)], 1)


def _regions(img: np.ndarray, k: int, rng: np.random.Generator, side: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """k-means on (colour, position), fitted on a small copy of ``img``: full-size labels and centres (k, 5).

    Every full-size pixel then takes its nearest centre, so region borders follow the photo's own
    edges at full resolution instead of the small copy's pixel grid.
    """
    h, w = img.shape[:2]
    th, tw = max(2, round(side * h / max(h, w))), max(2, round(side * w / max(h, w)))
    weight = rng.uniform(0.3, 1.5)  # how much position, not colour, decides a region
    feats = _features(resize(img, th, tw), weight)
    centres = feats[rng.choice(len(feats), k, replace=False)]
    for _ in range(8):
        labels = np.argmin(((feats[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        for j in range(k):
            if np.any(labels == j):
                centres[j] = feats[labels == j].mean(0)
    full = _features(img, weight)
    # |f - c|^2 = |f|^2 - 2 f.c + |c|^2; |f|^2 is the same for every centre
    labels = np.argmin((centres**2).sum(1) - 2.0 * full @ centres.T, axis=1)
    return labels.reshape(h, w), centres


def haze_regions(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Scattering with a piecewise depth: each region of the photo at its own distance.

    A region's depth grows with its height in the frame and its brightness/blueness (sky is far),
    plus a random part; inside a region the depth ramps gently with height. The label map is
    softened by about a pixel or two, so depth jumps at the photo's own edges, where fog thickness
    jumps in real scenes.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    k = int(rng.integers(3, 8))
    labels, centres = _regions(img, k, rng)
    rgb, top = centres[:, :3], 1.0 - centres[:, 3] / max(centres[:, 3].max(), 1e-6)
    skyness = rgb.mean(1) + 0.5 * (rgb[:, 2] - rgb[:, 0])
    depth_of = 0.45 * top + 0.3 * (skyness - skyness.min()) / max(np.ptp(skyness), 1e-6) + 0.25 * rng.random(k)
    depth_of = (depth_of - depth_of.min()) / max(np.ptp(depth_of), 1e-6)
    depth_of = rng.uniform(0.0, 0.3) + rng.uniform(0.5, 1.0) * depth_of
    depth = depth_of[labels].astype(np.float32)
    depth += rng.uniform(0.0, 0.15) * (1.0 - np.arange(h, dtype=np.float32)[:, None] / h)
    depth = blur(depth[..., None], max(0.5, s * rng.uniform(0.5, 2.0)))[..., 0]
    beta = loguniform(rng, 0.3, 2.0)
    t = np.exp(-beta * np.clip(depth, 0.0, 1.3))[..., None]
    # airlight: sometimes taken from the photo's brightest region (as dehazing priors assume), else greyish
    airlight = _airlight(rng, 0.6)
    if rng.random() < 0.4:
        bright = rgb[np.argmax(rgb.mean(1))]
        airlight = np.clip(0.5 * airlight + 0.5 * np.maximum(bright, 0.6), 0.0, 1.0).astype(np.float32)
    return np.clip(img * t + airlight * (1.0 - t), 0.0, 1.0).astype(np.float32, copy=False)


def haze_patchy(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Inhomogeneous fog: patchy extinction, airlight varying across the frame, forward-scattering blur.

    The optical thickness is ``beta * density(x) * distance(x)``: density is multi-octave noise
    (patches) times an optional horizontal fog bank; distance a simple ramp towards the top. The
    airlight gets a gradient across the frame and a brighter band at the horizon, in a colour
    drawn from grey, warm (smog, low sun) or cool. Where the fog is thick the transmitted scene is
    also blurred, as light scattered forward still reaches the camera.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    density = np.zeros((h, w), np.float32)
    for octave, cells in enumerate((2.0, 4.0, 8.0, 16.0)):
        density += rng.uniform(0.3, 1.0) * 0.6**octave * smooth_noise(h, w, rng, cells * rng.uniform(0.7, 1.4))
    density = np.exp(rng.uniform(0.4, 1.2) * density)
    density /= density.mean()
    y = np.arange(h, dtype=np.float32)[:, None] / h
    horizon = rng.uniform(0.2, 0.7)
    if rng.random() < 0.5:  # a fog bank lying across the frame
        bank = np.exp(-(((y - rng.uniform(0.2, 0.9)) / rng.uniform(0.08, 0.3)) ** 2))
        density = density * (0.3 + 1.7 * bank)
    distance = np.clip(1.0 - rng.uniform(0.3, 1.0) * y, 0.05, 1.0) if rng.random() < 0.6 else np.float32(0.7)
    tau = loguniform(rng, 0.3, 2.0) * density * distance
    t = np.exp(-tau)[..., None].astype(np.float32)
    colour = [np.array([1.0, 1.0, 1.0]), np.array([1.0, 0.93, 0.8]), np.array([0.85, 0.93, 1.0])][int(rng.integers(3))]
    level = rng.uniform(0.6, 0.95)
    angle = rng.uniform(0, 2 * math.pi)
    x = np.arange(w, dtype=np.float32)[None] / w
    ramp = (x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle)
    glow = rng.uniform(0.0, 0.2) * np.exp(-(((y - horizon) / rng.uniform(0.05, 0.25)) ** 2))
    airlight = np.clip(level * (1.0 + rng.uniform(0.0, 0.25) * ramp) + glow, 0.0, 1.0)[..., None] * colour.astype(np.float32)
    scene = img
    if rng.random() < 0.6:
        soft = blur(img, s * rng.uniform(1.0, 6.0))
        mix = rng.uniform(0.3, 0.9) * (1.0 - t)
        scene = img * (1.0 - mix) + soft * mix
    return np.clip(scene * t + airlight * (1.0 - t), 0.0, 1.0).astype(np.float32, copy=False)


def scene_defocus(img: np.ndarray, rng: np.random.Generator, *, ref_size: int | None = None) -> np.ndarray:
    """Shallow depth of field: parts of the photo (or all of it) out of focus, with no fog in front.

    Defocus looks like haze to a model (smooth, soft, low in contrast) but moves no colour towards
    an airlight: it averages the scene with its own neighbours. Drawn into the clean photo before a
    haze family, it ends up in input and target alike. Most held-out photos are close-ups with soft
    backgrounds; a dehaze run of session 12 darkened the clean ``lxqt-drop`` (a dew drop on grass,
    the rest out of focus) by 20 levels (docs/MODELS.md, glsgn-dehaze). This decoy is the derain
    decoys' remedy tried on that harm. The blurred part follows a smooth random field, so a frame
    holds both sharp and soft regions.
    """
    h, w = img.shape[:2]
    s = size_scale(img, ref_size)
    soft = blur(img, s * loguniform(rng, 3.0, 30.0))
    if rng.random() < 0.3:  # a frame that is soft everywhere (a macro shot's background filling the crop)
        return np.clip(soft, 0.0, 1.0).astype(np.float32, copy=False)  # the Fourier blur rings a little
    edge = rng.uniform(1.0, 6.0)  # how fast focus falls off across the field's zero line
    where = 1.0 / (1.0 + np.exp(-edge * (smooth_noise(h, w, rng, rng.uniform(1.0, 4.0)) + rng.uniform(-1.0, 1.0))))
    where = where.astype(np.float32)[..., None]
    return np.clip(img * (1.0 - where) + soft * where, 0.0, 1.0).astype(np.float32, copy=False)
