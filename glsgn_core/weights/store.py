"""Where weights live and how a name, path or URL becomes a local file.

Resolution order: an explicit path or URL -> the user cache -> the copy bundled in this package ->
a download from the registry URL -> a ``WeightsError`` that names the model, the places looked in
and how to fix it. A cached file is re-hashed against its sha256 every time it is used (7 MB take
about 20 ms): a disk or a hand can change it after its verified download. One that does not match is
passed over with a warning (and replaced by the next download).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from urllib.parse import urlsplit

from glsgn_core.errors import GlsgnWarning
from glsgn_core.files import atomic_write
from glsgn_core.weights.download import download, sha256_file
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


def _cached_copy(entry: WeightsEntry, *, warn: bool = False) -> Path | None:
    """The cached file if it is the registry's (size and sha256), else None; ``warn``: say why not."""
    path = cached_path(entry)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == entry.size and sha256_file(path) == entry.sha256:
        return path
    if warn:
        what = f"has {size} bytes, not {entry.size}" if size != entry.size else "does not match its sha256 (corrupted?)"
        warnings.warn(GlsgnWarning(f"the cached {entry.name} ({path}) {what}: not used; "
                                   f"`glsgn models download --force {entry.name}` replaces it"), stacklevel=2)
    return None


def _resolve_entry(entry: WeightsEntry, **download_options) -> Path:
    cached = _cached_copy(entry, warn=True)
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
    """A URL's file, cached beside the sha256 it arrived with (``NAME.sha256``): a copy that no longer
    matches it, or that is not a whole weights file, is fetched again rather than used."""
    from glsgn_core.weights.files import read_metadata

    base, _, fragment = url.partition("#")
    sha256 = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
    name = Path(urlsplit(base).path).name or "weights.safetensors"
    dest = weights_dir() / "url" / hashlib.sha256(base.encode()).hexdigest()[:16] / name
    record = dest.with_name(dest.name + ".sha256")
    if dest.is_file():
        try:
            recorded = record.read_text().strip()
        except OSError:
            recorded = None
        digest = sha256_file(dest)
        if digest == (sha256 or recorded or digest).lower() and _whole_weights(dest):
            return dest
        warnings.warn(GlsgnWarning(f"the cached copy of {base} ({dest}) is damaged: not used"
                                   + ("" if offline() else "; fetching it again")), stacklevel=2)
    if offline():
        raise WeightsError(f"cannot download {base}: GLSGN_OFFLINE is set and no usable copy is in {dest.parent}; unset it")
    path = download(base, dest, sha256=sha256, check=read_metadata, force=dest.is_file(), **download_options)
    digest = sha256_file(path)
    atomic_write(record, lambda f: f.write(digest.encode() + b"\n"))
    return path


def _whole_weights(path: Path) -> bool:
    from glsgn_core.weights.files import read_metadata

    try:
        read_metadata(path)
    except WeightsError:
        return False
    return True
