"""Carry a restoration made at a small size to the full image with a guided filter.

Some degradations are smooth, local affine maps of the clean photo: haze is I = J t + A (1 - t), so
J = I / t - A (1 - t) / t, with t and A varying slowly across the frame. For those a model can run on
the photo downscaled to the size it was trained at (where it sees the whole scene, as it did a whole
training crop) and the per-channel affine map from input to restored image, fitted locally at that
size (the guided filter of He, Sun and Tang, 2010), is upsampled and applied to the full-size input.
Full-resolution detail comes from the input itself, so nothing is blurred, and the full-size pass is
a few multiply-adds per pixel done in row chunks: memory stays flat however large the photo.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

# Box radius of the local fit as a fraction of the small image's long side. On 20 tuning photos
# (training photos with fresh haze, glsgn-dehaze at guide 640) the mean PSNR rose with the radius,
# 23.52 / 23.61 / 23.72 / 23.85 / 23.97 dB at 8 / 16 / 32 / 64 / 128 px: synthetic depth is smooth.
# Real depth has edges (a tree against the sky), which a smaller box follows better; 1/10 keeps
# most of the gain.
GUIDE_RADIUS = 0.1
GUIDE_EPS = 1e-4  # regularisation: flat regions get a ~constant map instead of amplified noise


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 box of (C, H, W) planes, edges reflected; running sums, so the cost does
    not grow with the radius (a pooling kernel of 65x65 took seconds on a 480-px image)."""
    r = min(radius, x.shape[-2] - 1, x.shape[-1] - 1)
    x = F.pad(x[None].double(), (r, r, r, r), mode="reflect")[0]  # float64: long running sums stay exact
    for dim in (-2, -1):
        c = F.pad(x.cumsum(dim), (1, 0) if dim == -1 else (0, 0, 1, 0))
        n = c.shape[dim]
        x = (c.narrow(dim, 2 * r + 1, n - 2 * r - 1) - c.narrow(dim, 0, n - 2 * r - 1)) / (2 * r + 1)
    return x.float()


def affine_fit(src: np.ndarray, dst: np.ndarray, *, radius: int | None = None, eps: float = GUIDE_EPS) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel, per-channel ``a``, ``b`` with ``dst ~ a * src + b`` over each pixel's neighbourhood.

    ``src`` and ``dst`` are (H, W, C) float arrays of one size; returns two (H, W, C) float32 arrays,
    already averaged over the neighbourhood as in the guided filter, so they vary smoothly.
    ``radius``: of the neighbourhood box, in pixels; default ``GUIDE_RADIUS`` of the long side.
    """
    if src.shape != dst.shape:
        raise ValueError(f"affine_fit: shapes differ, {src.shape} and {dst.shape}")
    if radius is None:
        radius = max(1, round(GUIDE_RADIUS * max(src.shape[:2])))
    s = torch.from_numpy(np.ascontiguousarray(src, np.float32)).permute(2, 0, 1)
    d = torch.from_numpy(np.ascontiguousarray(dst, np.float32)).permute(2, 0, 1)
    ms, md = _box(s, radius), _box(d, radius)
    a = (_box(s * d, radius) - ms * md) / (_box(s * s, radius) - ms * ms + eps)
    b = md - a * ms
    a, b = _box(a, radius), _box(b, radius)
    return a.permute(1, 2, 0).numpy(), b.permute(1, 2, 0).numpy()


def _taps(n_full: int, n_small: int, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps from a full-size axis into a small one whose pixel i covers [i*factor, (i+1)*factor)."""
    pos = np.clip((np.arange(n_full) + 0.5) / factor - 0.5, 0.0, n_small - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_small - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def apply_affine(
    image: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    factor: int,
    *,
    unit: Callable[[np.ndarray], np.ndarray],
    finish: Callable[[np.ndarray], np.ndarray],
    chunk_rows: int = 256,
) -> np.ndarray:
    """:func:`affine_rows`, collected into one output array."""
    out = None
    for r0, done in affine_rows(image, a, b, factor, unit=unit, finish=finish, chunk_rows=chunk_rows):
        if out is None:
            out = np.empty((image.shape[0], image.shape[1], done.shape[2]), dtype=done.dtype)
        out[r0 : r0 + len(done)] = done
    return out


def affine_rows(
    image: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    factor: int,
    *,
    unit: Callable[[np.ndarray], np.ndarray],
    finish: Callable[[np.ndarray], np.ndarray],
    chunk_rows: int = 256,
) -> Iterator[tuple[int, np.ndarray]]:
    """``a * image + b`` at full size, ``a`` and ``b`` upsampled bilinearly from the small grid,
    yielded top to bottom as ``(first_row, rows)`` chunks.

    ``image``: (H, W, C) in its own dtype (an array, or anything with ``shape`` and row slicing);
    ``unit`` turns a row chunk into float [0, 1] (C = 1 is broadcast against three-channel maps);
    ``finish`` turns a float result chunk into the output dtype and channel count. ``a``/``b`` pixel
    i covers image rows/columns [i*factor, (i+1)*factor), as
    :func:`glsgn_core.restorer.area_downscale` makes them.
    """
    h, w = image.shape[:2]
    rl, rh, rw = _taps(h, a.shape[0], factor)
    cl, ch, cw = _taps(w, a.shape[1], factor)
    cw = cw[None, :, None]
    for r0 in range(0, h, chunk_rows):
        r1 = min(h, r0 + chunk_rows)
        wy = rw[r0:r1, None, None]

        def up(m: np.ndarray) -> np.ndarray:
            rows = m[rl[r0:r1]] * (1.0 - wy) + m[rh[r0:r1]] * wy
            return rows[:, cl] * (1.0 - cw) + rows[:, ch] * cw

        yield r0, finish(np.clip(up(a) * unit(image[r0:r1]) + up(b), 0.0, 1.0))
