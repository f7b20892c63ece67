"""Where weights live and how a name, path or URL becomes a local file.

Resolution order: an explicit path or URL -> the user cache -> the copy bundled in this package ->
a download from the registry URL -> a ``WeightsError`` that names the model, the places looked in
and how to fix it. Cached files only ever arrive by a verified download (or by the user copying them
in), so loading does not re-hash them; ``glsgn models verify`` does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from glsgn_core.weights.download import download
from glsgn_core.weights.registry import WeightsEntry, WeightsError, get_entry, is_registered

# Package data (``glsgn_core/weights/*.safetensors`` in the wheel): default models that work offline.
BUNDLED_DIR = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """glsgn's per-user cache (platformdirs), or ``$GLSGN_HOME`` (shared caches, containers, tests)."""
    home = os.environ.get("GLSGN_HOME", "").strip()
    if home:
        return Path(home).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("glsgn", appauthor=False)


def weights_dir() -> Path:
    return cache_dir() / "weights"


def offline() -> bool:
    """``GLSGN_OFFLINE=1`` (or true/yes/on): never touch the network."""
    return os.environ.get("GLSGN_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def cached_path(entry: WeightsEntry) -> Path:
    return weights_dir() / entry.file


def bundled_path(entry: WeightsEntry) -> Path:
    return BUNDLED_DIR / entry.file


def where(entry: WeightsEntry) -> str:
    """Where ``resolve`` would find the entry now: ``cached``, ``bundled`` or ``remote``."""
    if _cached_copy(entry) is not None:
        return "cached"
    return "bundled" if bundled_path(entry).is_file() else "remote"


def fetch(entry: WeightsEntry, *, force: bool = False, **download_options) -> Path:
    """Download a registry entry into the cache (verified); keeps a cached copy that verifies unless ``force``."""
    if offline():
        raise WeightsError(
            f"cannot download {entry.name}: GLSGN_OFFLINE is set; unset it, or copy {entry.file} into {weights_dir()}"
        )
    return download(
        entry.download_url(), cached_path(entry), sha256=entry.sha256, size=entry.size, force=force, **download_options
    )


def resolve(spec: str, **download_options) -> Path:
    """A local weights file for a registry name, a path or an http(s) URL (see the module docstring).

    A URL may end in ``#sha256=HEX`` to have the download verified; URL downloads are cached under
    ``weights_dir()/url/``. ``download_options`` go to ``download`` (timeouts, retries, progress).
    """
    if spec.startswith(("http://", "https://")):
        return _resolve_url(spec, **download_options)
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if os.sep in spec or "/" in spec or spec.endswith((".safetensors", ".pt")):
        raise WeightsError(f"weights file {spec} not found; check the path, or give a model name (glsgn models list)")
    if not is_registered(spec):
        get_entry(spec)  # raises the unknown-name error with the known names
    return _resolve_entry(get_entry(spec), **download_options)


def _cached_copy(entry: WeightsEntry) -> Path | None:
    path = cached_path(entry)
    try:
        return path if path.stat().st_size == entry.size else None  # a stale or foreign file is refetched
    except FileNotFoundError:
        return None


def _resolve_entry(entry: WeightsEntry, **download_options) -> Path:
    cached = _cached_copy(entry)
    if cached is not None:
        return cached
    bundled = bundled_path(entry)
    if bundled.is_file():
        return bundled
    looked = f"looked in {weights_dir()} and {BUNDLED_DIR}"
    if offline():
        raise WeightsError(
            f"pretrained model {entry.name} ({entry.file}) is not available offline: {looked}; "
            f"run `glsgn models download {entry.name}` with network access (or copy the file there), "
            "unset GLSGN_OFFLINE, or pass --weights PATH"
        )
    try:
        return fetch(entry, **download_options)
    except WeightsError as exc:
        raise WeightsError(f"pretrained model {entry.name}: {exc} ({looked})") from None


def _resolve_url(url: str, **download_options) -> Path:
    base, _, fragment = url.partition("#")
    sha256 = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
    name = Path(urlsplit(base).path).name or "weights.safetensors"
    dest = weights_dir() / "url" / hashlib.sha256(base.encode()).hexdigest()[:16] / name
    if dest.is_file() and (sha256 is None or offline()):
        return dest
    if offline():
        raise WeightsError(f"cannot download {base}: GLSGN_OFFLINE is set and no copy is in {dest.parent}; unset it")
    return download(base, dest, sha256=sha256, **download_options)
