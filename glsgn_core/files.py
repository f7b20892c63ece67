"""Atomic file writes: the one place glsgn replaces a file on disk.

Every file glsgn writes (images, weights, checkpoints, metrics, reports, training pairs) goes
through :func:`atomic_write`, so a reader sees either the old file or the new one, whole, never a
half-written one, and a failure (Ctrl-C included) leaves no temporary file behind.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["TEMP_MARKER", "atomic_write"]

#: Marker in the names of the hidden temporary files atomic_write creates beside its target:
#: ``.NAME.glsgn-tmp-1a2b3c4d``. Only a crash (power cut, SIGKILL) leaves one behind; folder scans
#: skip them (``glsgn_core.image_io.is_temp_file``).
TEMP_MARKER = ".glsgn-tmp-"


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], *, parents: bool = False) -> None:
    """Replace ``path`` with what ``write(f)`` writes to ``f``, atomically.

    ``f`` is a new, empty temporary file in ``path``'s folder named ``.NAME`` + :data:`TEMP_MARKER`
    + random hex, opened ``"r+b"`` by name, so ``f.name`` is its path for libraries that want a
    named file (tifffile, or safetensors' ``save_file(tensors, f.name)``). Text goes in as bytes:
    ``f.write(text.encode("utf-8"))``. ``write`` must not close ``f``.

    The temporary file is created with ``O_CREAT | O_EXCL`` and mode ``0o666``, so the umask sets
    its permissions as for any new file (not ``mkstemp``'s 0600). After ``write`` returns it is
    flushed, fsynced and renamed over ``path`` with ``os.replace``; then the folder is fsynced so
    the rename itself survives a power cut (best effort: skipped where the system refuses it).

    On any exception (``BaseException``: KeyboardInterrupt and SystemExit too), from ``write`` or
    from the steps around it, the temporary file is removed, ``path`` is left as it was, and the
    exception propagates unchanged. ``parents=True`` creates missing parent folders first;
    otherwise a missing folder raises ``FileNotFoundError``.
    """
    path = Path(path)
    folder = path.parent
    if parents:
        folder.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = folder / f".{path.name}{TEMP_MARKER}{secrets.token_hex(4)}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # a name taken by chance (or a crash's leftover): draw another
            continue
    try:
        with open(tmp, "r+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """fsync a folder so a rename in it is on disk; best effort (not every system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
