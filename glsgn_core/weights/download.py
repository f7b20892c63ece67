"""Fetch one file over HTTP(S) into place: resumable, retried, locked, verified, atomic.

Only a file whose sha256 matched ever appears under its final name. While a transfer runs, the bytes
go to ``NAME.part`` beside it (so a cut connection resumes with an HTTP Range request); on any failure,
Ctrl-C included, the ``.part`` file is deleted, so a failed download leaves nothing in the cache. The
lock is ``NAME.lock`` (``fcntl.flock``): a second process fetching the same file waits, then finds the
verified file and returns it. The lock file is removed by its holder; waiters re-check its identity.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from glsgn_core import __version__
from glsgn_core.weights.registry import WeightsError

CHUNK = 1 << 14  # small enough that a cut loses little: urllib3 drops a partly read chunk
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Seconds a server may stay silent before an attempt is given up; GLSGN_TIMEOUT changes it. With 3
# retries a server that never answers is given up after about 2 minutes (4 x 30 s + back-off).
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 3


def timeouts() -> tuple[float, float]:
    """(connect, read) seconds: ``GLSGN_TIMEOUT`` (seconds of silence) or the default."""
    text = os.environ.get("GLSGN_TIMEOUT", "").strip()
    if not text:
        seconds = DEFAULT_TIMEOUT_S
    else:
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not seconds > 0:
            raise WeightsError(f"GLSGN_TIMEOUT={text!r}: expected a number of seconds, e.g. 10")
    return min(10.0, seconds), seconds


class _Retryable(Exception):
    """A transient failure: the connection dropped, timed out, or the server was briefly unhappy."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``path``, removed on release without racing other waiters.

    A waiter may have opened the file just before the holder unlinked it; after acquiring, it checks
    that its descriptor is still the file at ``path`` and otherwise starts over on the new one.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    size: int | None = None,
    force: bool = False,
    timeout: tuple[float, float] | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff: float = 1.0,
    progress: bool | None = None,
    check: Callable[[Path], object] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``; an existing file that verifies is kept.

    ``timeout`` is (connect, read) seconds (default: :func:`timeouts`); a failed attempt is retried
    ``retries`` times after ``backoff * 2**k`` seconds, each retry announced on stderr. ``progress``: a rich bar (True), nothing (False), or None: the bar when
    stderr is a terminal, otherwise one plain line. ``check(path)`` (e.g. that it is a whole weights
    file) runs on the verified transfer before it takes its final name; a ``WeightsError`` from it
    leaves nothing behind. Every failure is a one-line ``WeightsError``.
    """
    dest = Path(dest)
    timeout = timeout or timeouts()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(dest.with_name(dest.name + ".lock")):
            if not force and dest.is_file() and _matches(dest, sha256, size):
                return dest
            part = dest.with_name(dest.name + ".part")
            try:
                _fetch_verified(url, part, dest, sha256, size, timeout, retries, backoff, progress)
                if check is not None:
                    try:
                        check(part)
                    except WeightsError as exc:
                        reason = str(exc).split(";")[0].replace(str(part), "it")
                        raise WeightsError(f"the file from {url} is unusable: {reason}; nothing was cached") from None
                os.replace(part, dest)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(part)
    except OSError as exc:
        raise WeightsError(_os_error_message(exc, dest)) from None
    return dest


def _matches(path: Path, sha256: str | None, size: int | None) -> bool:
    if size is not None and path.stat().st_size != size:
        return False
    return sha256 is None or sha256_file(path) == sha256.lower()


def _fetch_verified(url, part, dest, sha256, size, timeout, retries, backoff, progress) -> None:
    """Fetch into ``part`` and check it; a resumed file that fails the check gets one clean retry."""
    for fresh_retry in (False, True):
        if size is not None:
            _check_free_space(part, size)
        resumed = _fetch(url, part, dest.name, size, timeout, retries, backoff, progress)
        problem = _verify(part, sha256, size)
        if problem is None:
            return
        os.unlink(part)
        if not resumed or fresh_retry:
            break
    raise WeightsError(
        f"checksum mismatch for {dest.name} from {url}: {problem}; nothing was cached "
        "(the transfer was corrupted or the server has a different file: retry, or check GLSGN_WEIGHTS_URL)"
    )


def _verify(part: Path, sha256: str | None, size: int | None) -> str | None:
    got = part.stat().st_size
    if size is not None and got != size:
        return f"got {got} bytes, expected {size}"
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256.lower():
            return f"sha256 {digest[:16]}..., expected {sha256[:16]}..."
    return None


def _check_free_space(part: Path, size: int) -> None:
    have = part.stat().st_size if part.exists() else 0
    if shutil.disk_usage(part.parent).free < size - have:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fetch(url, part, label, size, timeout, retries, backoff, progress) -> bool:
    """Bring ``part`` to the whole remote file, resuming after cuts; True if any bytes were resumed."""
    import requests

    bad_url = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
    resumed = False
    with requests.Session() as session, _Bar(label, url, size, progress) as bar:
        for attempt in range(retries + 1):
            try:
                resumed |= _transfer(session, url, part, timeout, bar)
                return resumed
            except _Retryable as exc:
                reason = str(exc)
            except requests.exceptions.Timeout:
                reason = f"no answer for {timeout[1]:g} s"
            except bad_url:
                raise WeightsError(f"cannot download {label}: {url!r} is not a valid http(s) URL") from None
            except requests.exceptions.RequestException as exc:
                reason = _short_reason(exc)
            if attempt < retries:
                wait = backoff * 2**attempt
                bar.say(f"downloading {label}: {reason}; retrying in {wait:g} s (attempt {attempt + 2} of {retries + 1})")
                time.sleep(wait)
    raise WeightsError(
        f"could not download {label} from {url}: {reason} after {retries + 1} attempts; "
        "check the network, set GLSGN_WEIGHTS_URL to a mirror, or pass a local file "
        "(GLSGN_TIMEOUT=SECONDS sets how long a silent server is waited for)"
    )


def _transfer(session, url: str, part: Path, timeout, bar: "_Bar") -> bool:
    """One GET into ``part``: appends after a 206 to our Range request, starts over after a 200."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity", "User-Agent": f"glsgn/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        status = resp.status_code
        if status == 206 and offset and _range_start(resp) == offset:
            mode, resumed = "ab", True
        elif status == 200:
            mode, resumed, offset = "wb", False, 0
        elif status == 416 or status == 206:  # a stale .part or an odd range reply: start over next time
            if part.exists():
                os.truncate(part, 0)
            raise _Retryable(f"HTTP {status} to a range request")
        elif status in RETRY_STATUS:
            raise _Retryable(f"HTTP {status} {resp.reason}")
        else:
            name = part.name.removesuffix(".part")
            raise WeightsError(
                f"could not download {name} from {url}: HTTP {status} {resp.reason}; check the URL or GLSGN_WEIGHTS_URL"
            )
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        bar.start(offset, None if expected is None else offset + expected)
        received = 0
        with open(part, mode) as f:
            for chunk in resp.iter_content(CHUNK):
                f.write(chunk)
                received += len(chunk)
                bar.advance(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    if expected is not None and received < expected:
        raise _Retryable(f"connection cut after {offset + received} bytes")
    return resumed


def _range_start(resp) -> int | None:
    value = resp.headers.get("Content-Range", "")  # "bytes START-END/TOTAL"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _short_reason(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection cut mid-file"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "timed out" in text.lower():
            return "timed out"
        return "connection refused" if "refused" in text.lower() else "connection failed"
    return type(exc).__name__


def _os_error_message(exc: OSError, dest: Path) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device for {dest} (nothing was cached); free space or set GLSGN_HOME to a larger disk"
    return f"cannot write {dest}: {exc.strerror or exc}; check permissions or set GLSGN_HOME"


class _Bar:
    """A rich progress bar on stderr when it is a terminal, else one plain line (or silence)."""

    def __init__(self, label: str, url: str, size: int | None, enabled: bool | None) -> None:
        self.label, self.url, self.size = label, url, size
        self.rich = sys.stderr.isatty() if enabled is None else enabled
        self.plain = enabled is None and not self.rich
        self._progress = self._task = None

    def __enter__(self) -> "_Bar":
        if self.plain:
            mb = f" ({self.size / 1e6:.1f} MB)" if self.size else ""
            print(f"glsgn: downloading {self.label}{mb} from {self.url}", file=sys.stderr, flush=True)
        elif self.rich:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

            self._progress = Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(f"downloading {self.label}", total=self.size)
        return self

    def start(self, completed: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=total or self.size)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def say(self, text: str) -> None:
        """One line on stderr, unless progress was turned off."""
        if self._progress is not None:
            self._progress.console.print(f"glsgn: {text}", markup=False, highlight=False)
        elif self.plain:
            print(f"glsgn: {text}", file=sys.stderr, flush=True)

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()

