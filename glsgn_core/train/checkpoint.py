"""Training checkpoints: atomic writes and state that loads with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and plain Python containers, so reading one never unpickles code.
That is why the random-number states are converted: numpy's state becomes lists and ints, Python's
``random`` state a list. Writes go to a temporary file in the same folder and are renamed into
place, so a crash or Ctrl-C never leaves a half-written ``last.pt``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glsgn_core.errors import GlsgnError, WriteError
from glsgn_core.files import atomic_write

FORMAT = "glsgn-checkpoint/1"


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically (:func:`glsgn_core.files.atomic_write`), creating its folder.

    A failed write (a full disk) raises :class:`WriteError`; the previous file at ``path`` is intact."""
    try:
        atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f), parents=True)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as RuntimeError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())
        raise WriteError(f"cannot write {path}: {reason.lower()}; the previous checkpoint is kept "
                         "(free some space, then continue with --resume)") from None


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GlsgnError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means an unusable file
        raise GlsgnError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GlsgnError(f"{path}: not a glsgn training checkpoint (format {FORMAT!r} expected)")
    return state


def capture_rng() -> dict[str, Any]:
    """Every random-number state a step can touch, as checkpoint-safe values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "state": list(internal), "gauss": py_gauss},
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], np.array(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so the recipe holds only types ``weights_only`` loading accepts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
