"""Atomic file writes: the one place glsgn replaces a file on disk.

Every file glsgn writes (images, weights, checkpoints, metrics, reports, training pairs) goes
through :func:`atomic_write`, so a reader sees either the old file or the new one, whole, never a
half-written one, and a failure (Ctrl-C included) leaves no temporary file behind.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["TEMP_MARKER", "atomic_write", "remove_stale_temps"]

#: Marker in the names of the hidden temporary files atomic_write creates beside its target:
#: ``.NAME.glsgn-tmp-PID-HOST-1a2b3c4d``. Only a crash (power cut, SIGKILL) leaves one behind; folder
#: scans skip them (``glsgn_core.image_io.is_temp_file``), and the next write into the folder removes
#: those whose process is gone (:func:`remove_stale_temps`).
TEMP_MARKER = ".glsgn-tmp-"
# Names without the writer's process (glsgn before 0.1.1) are removed once this old.
_OLD_STYLE_AGE_S = 3600.0
_cleaned: set[str] = set()


def _host_tag() -> str:
    """This machine (and container): a process id means something only here. Shared folders (NFS,
    job arrays) see other machines' temporary files, which must be left alone."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return hashlib.sha256(f"{socket.gethostname()} {boot}".encode()).hexdigest()[:6]


_HOST = _host_tag()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed glsgn processes left in ``folder``; returns them.

    A file is stale when its name says this machine and a process that no longer exists (or, for a
    name from an older glsgn that carries no process, when it is over an hour old). Errors are
    ignored: this is housekeeping, never a reason to fail a write.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or TEMP_MARKER not in name:
            continue
        parts = name.rsplit(TEMP_MARKER, 1)[1].split("-")
        try:
            if len(parts) == 3:
                stale = parts[1] == _HOST and not _alive(int(parts[0]))
            else:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > _OLD_STYLE_AGE_S
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except (OSError, ValueError):
            continue
    return removed


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], *, parents: bool = False) -> None:
    """Replace ``path`` with what ``write(f)`` writes to ``f``, atomically.

    ``f`` is a new, empty temporary file in ``path``'s folder named ``.NAME`` + :data:`TEMP_MARKER`
    + random hex, opened ``"r+b"`` by name, so ``f.name`` is its path for libraries that want a
    named file (tifffile; not a library that replaces the file at that name, as safetensors'
    ``save_file`` does: write its bytes to ``f`` instead). Text goes in as bytes:
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
    key = os.path.abspath(folder)
    if key not in _cleaned:  # once per folder and process: a batch writes thousands of files into one
        _cleaned.add(key)
        remove_stale_temps(folder)
    while True:
        tmp = folder / f".{path.name}{TEMP_MARKER}{os.getpid()}-{_HOST}-{secrets.token_hex(4)}"
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
