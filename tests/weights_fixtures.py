"""Fixtures shared by the weights tests: an isolated cache, a file server, tiny weight files, test rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from glsgn_core.models import create_model
from glsgn_core.weights import WeightsEntry, registry, save_weights, store
from weights_server import WeightsServer

TINY = dict(widths=(4, 8, 8, 8, 8), enc_blocks=(1, 0, 0, 0), dec_blocks=(1, 1, 0, 0), mid_blocks=1)
# Short limits so failure paths take well under a second.
FAST = dict(timeout=(2.0, 0.5), retries=2, backoff=0.01, progress=False)


@pytest.fixture
def weights_env(tmp_path, monkeypatch) -> dict[str, Path]:
    """An empty GLSGN_HOME and bundled folder, network allowed, no base-URL override, empty table."""
    home, bundled = tmp_path / "home", tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setenv("GLSGN_HOME", str(home))
    monkeypatch.delenv("GLSGN_OFFLINE", raising=False)
    monkeypatch.delenv("GLSGN_WEIGHTS_URL", raising=False)
    monkeypatch.setattr(store, "BUNDLED_DIR", bundled)
    monkeypatch.setattr(registry, "REGISTRY", ())
    return {"home": home, "cache": home / "weights", "bundled": bundled}


@pytest.fixture
def server():
    with WeightsServer() as srv:
        yield srv


def make_weights(path: Path, task: str = "derain", seed: int = 0) -> tuple[str, int]:
    """A real (tiny) GLSGN weights file; returns (sha256, size)."""
    import torch

    torch.manual_seed(seed)
    model = create_model("glsgn-lite", **TINY)
    sha = save_weights(model, path, task=task, model_name="glsgn-lite", recipe={"seed": seed})
    return sha, path.stat().st_size


@pytest.fixture(scope="session")
def tiny_bytes(tmp_path_factory) -> dict[str, bytes]:
    """Contents of two distinct tiny weights files, built once: {"derain": ..., "dehaze": ...}."""
    folder = tmp_path_factory.mktemp("tiny")
    out = {}
    for seed, task in enumerate(("derain", "dehaze")):
        make_weights(folder / f"{task}.safetensors", task=task, seed=seed)
        out[task] = (folder / f"{task}.safetensors").read_bytes()
    return out


def entry_for(name: str, data: bytes, *, task: str = "derain", file: str | None = None, url: str = "") -> WeightsEntry:
    return WeightsEntry(
        name=name, task=task, model_name="glsgn-lite", file=file or f"{name}-v1.safetensors",
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), description="test row", url=url,
    )


def use_registry(monkeypatch, *rows: WeightsEntry) -> None:
    monkeypatch.setattr(registry, "REGISTRY", tuple(rows))


def cache_files(home: Path) -> list[Path]:
    """Every file under GLSGN_HOME (partials and locks included)."""
    return sorted(p for p in home.rglob("*") if p.is_file() or p.is_symlink()) if home.exists() else []
