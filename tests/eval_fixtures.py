"""Fixtures shared by the eval tests (library and command line): two noisy photo pairs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    for side in ("input", "target"):
        (tmp_path / "pairs" / side).mkdir(parents=True)
    for i in range(2):
        clean = rng.integers(30, 220, (72, 96, 3)).astype(np.uint8)
        noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(clean).save(tmp_path / "pairs" / "target" / f"p{i}.png")
        Image.fromarray(noisy).save(tmp_path / "pairs" / "input" / f"p{i}.png")
    return tmp_path / "pairs"

