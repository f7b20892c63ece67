"""What every command shares: the stderr console and the mapping of errors to exit codes."""

from __future__ import annotations

import contextlib
from typing import Iterator, NoReturn

import typer
from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``glsgn: error: MESSAGE`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]glsgn: error:[/] {message}", markup=True)
    raise typer.Exit(code)


def notice(message: str) -> None:
    err_console.print(f"glsgn: {message}", markup=False)


def show_warnings(enabled: bool = True) -> None:
    """Print the core's warnings (``GlsgnWarning``) as ``glsgn: warning: ...`` lines, or none at all."""
    import warnings

    from glsgn_core.errors import GlsgnWarning

    if not enabled:
        warnings.simplefilter("ignore", GlsgnWarning)
        return
    if getattr(warnings.showwarning, "glsgn", False):
        return
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GlsgnWarning):
            notice(f"warning: {message}")
        else:
            previous(message, category, filename, lineno, file, line)

    show.glsgn = True
    warnings.showwarning = show
    warnings.simplefilter("always", GlsgnWarning)


def size_option(text: str, option: str, *, minimum: int = 1) -> tuple[int, int]:
    """Parse a WIDTHxHEIGHT option value, or fail with a usage error naming the option."""
    from glsgn_core.complexity import parse_size

    try:
        w, h = parse_size(text)
    except ValueError:
        fail(f"{option} {text!r}: expected WIDTHxHEIGHT (e.g. 960x540), or one number for a square")
    if w < minimum or h < minimum:
        fail(f"{option} {text!r}: both sides must be at least {minimum} pixels")
    return w, h


@contextlib.contextmanager
def user_errors(code: int = EXIT_USAGE) -> Iterator[None]:
    """Turn the core's user-facing errors into a one-line message and an exit code."""
    from glsgn_core.errors import GlsgnError

    try:
        yield
    except GlsgnError as exc:
        fail(str(exc), code)
