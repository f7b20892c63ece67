"""Fixtures shared by the super-resolution tests (data, evaluation, ``glsgn train --task sr2|sr4``):
clean photos, the sr2 pairs ``glsgn synth`` makes of them, and the bicubic reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_photos(root: Path, n: int = 4, size: int = 96) -> Path:
    """Smooth 'photos' with soft stripes: what a random init gets wrong, a few steps can learn."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    for i in range(n):
        c = rng.uniform(0.3, 0.7, 3)
        stripes = 0.2 * np.sin(2 * np.pi * (5 + i) * (xx + 0.3 * yy))
        image = np.stack([c[0] + stripes, c[1] + 0.2 * np.cos(9 * yy + i), c[2] + stripes * xx], -1).clip(0, 1)
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(root / f"p{i}.png")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("data") / "clean")


def glsgn(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "glsgn_cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def sr2_pairs(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("val") / "sr2"
    r = glsgn("synth", "--task", "sr2", "--clean", photos, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def pil_bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The reference the data is documented to use: PIL's BICUBIC, one float plane at a time."""
    planes = [Image.fromarray(image[..., c].astype(np.float32), "F").resize(size, Image.BICUBIC) for c in range(3)]
    return np.stack([np.asarray(p) for p in planes], axis=-1).clip(0, 1)

