"""Shared fixtures: kornia-style ``device`` / ``dtype`` parametrisation and a tiny GLSGN factory."""

from __future__ import annotations

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["fp32", "fp64"])
def dtype(request) -> torch.dtype:
    return request.param


@pytest.fixture(autouse=True)
def _few_threads():
    # CI has 2 cores and runs tests in 2 workers: one thread each avoids oversubscription.
    torch.set_num_threads(1)
    yield


# The smallest GLSGN that still has every mechanism: one block per level, narrow channels.
TINY = dict(widths=(4, 8, 8, 8, 8), enc_blocks=(1, 0, 0, 0), dec_blocks=(1, 1, 0, 0), mid_blocks=1)


@pytest.fixture
def tiny_overrides() -> dict:
    return dict(TINY)
