"""The ``glsgn`` application: one module per command, registered here."""

from __future__ import annotations

from typing import Annotated

import typer

from glsgn_cli import evaluate, info, models, restore, synth, train, upscale
from glsgn_cli._common import help_group, show_warnings
from glsgn_core import tasks

app = typer.Typer(
    name="glsgn",
    help="Restore ultra-high-resolution photos: remove rain, haze and reflections, or upscale.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    cls=help_group(),
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from glsgn_core import __version__

        typer.echo(f"glsgn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Restore ultra-high-resolution photos: remove rain, haze and reflections, or upscale."""
    from glsgn_core.runtime import keep_freed_memory  # ctypes only: keeps `glsgn --help` instant

    # Freed heap kept for reuse: less time in the kernel on Linux (upscale 23.9 -> 13.8 s; 30 training
    # steps 30.1 -> 27.8 s). Once per process, for every command: glsgn_core/runtime.py
    keep_freed_memory()
    show_warnings()


for _task in tasks.TASKS:
    if not _task.upscales:  # upscaling tasks share one command, `upscale --scale N`
        app.command(_task.command)(restore.make_command(_task.name))
app.command("upscale")(upscale.upscale)
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("synth")(synth.synth)
app.add_typer(models.app, name="models")
app.command("info")(info.info)


def main() -> None:
    app()
