"""The camera stage: what happens between the degraded scene and the file a user opens.

Applied after a degradation family, to the degraded image and its clean target together:

- exposure and gamma, and a mild lens/focus blur: the same on both (the camera saw the rain
  and the scene alike; the model must not learn to re-expose or sharpen);
- sensor noise, signal dependent (shot + read), drawn once and scaled to each image's signal:
  the grain stays in the target, so a model learns to keep it, not to smooth photos;
- JPEG at a random quality on the degraded input only (a clean pair gets it on both, so that it
  stays an identity pair): real inputs are compressed, and blocks must not read as rain.

The random photo scale (the photo taken smaller or larger before cropping) belongs to the
dataset, which picks the region to crop: see ``SyntheticPairs``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from glsgn_core.data._signal import blur, loguniform


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0


def camera(
    degraded: np.ndarray, target: np.ndarray, rng: np.random.Generator, *, identity: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(input, target)`` after exposure, gamma, blur, noise and JPEG (see the module notes).

    ``identity``: the pair is a clean pair (``degraded`` is ``target``); the result then stays
    exactly input == target. Always draws the same random numbers, whatever is applied.
    """
    expose, gam, soft, noisy, compress = rng.random(5)
    gain, gamma = loguniform(rng, 0.75, 1.33), rng.uniform(0.85, 1.18)
    sigma = rng.uniform(0.3, 1.0)
    shot, read = loguniform(rng, 1e-5, 4e-4), loguniform(rng, 1e-6, 1e-4)
    quality = int(rng.integers(60, 96))
    seed = int(rng.integers(2**31))
    images = [degraded, target]
    if expose < 0.5:
        images = [np.clip(x * np.float32(gain), 0.0, 1.0) for x in images]
    if gam < 0.5:
        # a bicubic resize overshoots below 0 by a hair; a fractional power of that is NaN
        images = [np.power(np.maximum(x, 0.0), np.float32(gamma)) for x in images]
    if soft < 0.3:
        images = [blur(x, sigma) for x in images]
    if noisy < 0.5:
        z = np.random.default_rng(seed).standard_normal(target.shape, dtype=np.float32)
        # the variance follows the signal, which a resize overshoot can leave below 0 (sqrt: NaN)
        images = [np.clip(x + z * np.sqrt(np.float32(shot) * np.maximum(x, 0.0) + np.float32(read)), 0.0, 1.0) for x in images]
    inp, tgt = images
    if compress < 0.4:
        inp = _jpeg(inp, quality)
    # Always new arrays: the caller's images must never come back as (or alias) the outputs.
    inp = np.array(inp, dtype=np.float32)
    return inp, inp.copy() if identity else np.array(tgt, dtype=np.float32)
