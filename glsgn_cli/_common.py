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


def model_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion for --model: the registry's names that the command runs (all of them for
    ``eval``); no torch: the registry and the task table are plain tables."""
    from glsgn_core import tasks
    from glsgn_core.weights.registry import entries

    command = ctx.info_name if ctx is not None else None
    return [e.name for e in entries() if e.name.startswith(incomplete)
            and (command not in tasks.COMMANDS or tasks.get(e.task).command == command)]


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
    """Turn the core's user-facing errors, and the system's refusals to read or write a path (a
    file where a folder is needed, no permission), into a one-line message and an exit code."""
    from glsgn_core.errors import GlsgnError

    try:
        yield
    except GlsgnError as exc:
        fail(str(exc), code)
    except OSError as exc:
        if exc.filename is None:  # not about a path the user named: a real fault, keep the traceback
            raise
        fail(f"{exc.filename}: {exc.strerror or exc}", code)


def help_group():
    """Typer's root group, with help that reads like a manual: ``INPUT...`` rather than ``{inputs}...``
    and ``<list[str]>``, and on/off flags without a ``<bool>`` value they do not take.

    Typer builds the parameters; this adjusts how they are shown, for every command and subcommand,
    when the command is looked up (so ``glsgn --help`` stays as fast as Typer makes it).
    """
    from typer.core import TyperArgument, TyperGroup, TyperOption

    class Argument(TyperArgument):
        def display_type_rich(self, ctx):  # the name column says it all
            return None

        def get_usage_pieces(self, ctx):
            name = self.metavar or self.name.upper()
            return [name if self.required else f"[{name}]"]

    class Option(TyperOption):
        def display_type_rich(self, ctx):
            return None if self.is_flag else super().display_type_rich(ctx)

    def tidy(command, ctx) -> None:
        help_option = command.get_help_option(ctx)  # made on demand, not in command.params
        for param in [*command.params, *([help_option] if help_option is not None else [])]:
            if type(param) is TyperArgument:
                param.__class__ = Argument
                if param.metavar is None:
                    param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
            elif type(param) is TyperOption:
                param.__class__ = Option
        for sub in getattr(command, "commands", {}).values():
            tidy(sub, ctx)

    class Group(TyperGroup):
        def get_command(self, ctx, name):
            command = super().get_command(ctx, name)
            if command is not None:
                tidy(command, ctx)
            return command

        def format_help(self, ctx, formatter):
            tidy(self, ctx)
            return super().format_help(ctx, formatter)

    return Group
