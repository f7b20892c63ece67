"""An explicit model registry: ``@register_model`` on a factory, then ``create_model(name)``.

A factory's name with ``_`` replaced by ``-`` is the model name (``glsgn_lite`` -> ``glsgn-lite``).
"""

from __future__ import annotations

import fnmatch
from typing import Callable

from glsgn_core.errors import ModelNotFoundError

_FACTORIES: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    name = fn.__name__.replace("_", "-")
    if name in _FACTORIES:
        raise ValueError(f"model {name!r} is registered twice")
    _FACTORIES[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered configuration names matching a shell-style pattern, sorted."""
    return sorted(n for n in _FACTORIES if fnmatch.fnmatchcase(n, pattern))


def model_description(name: str) -> str:
    doc = _factory(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def create_model(name: str, **overrides):
    """Build a registered configuration with random weights; keyword arguments override its config."""
    return _factory(name)(**overrides)


def _factory(name: str) -> Callable:
    try:
        return _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise ModelNotFoundError(f"unknown model configuration {name!r}; known: {known}") from None
