from __future__ import annotations

import json
from typing import Annotated

import typer

from glsgn_cli._common import fail


def info(
    name: Annotated[str, typer.Argument(help="Model configuration, e.g. glsgn-full (see --list).")] = "glsgn-full",
    size: Annotated[str, typer.Option("--size", "-s", help="Input size WIDTHxHEIGHT.")] = "3840x2160",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the configuration names and exit.")] = False,
) -> None:
    """Parameters, MACs and FLOPs (2 x MACs) of a model configuration, counted by running it."""
    from glsgn_core.complexity import measure, parse_size
    from glsgn_core.errors import ModelNotFoundError
    from glsgn_core.models import list_models, model_description

    if list_:
        for n in list_models():
            typer.echo(f"{n:22s} {_first_paragraph(n) or model_description(n)}")
        return
    try:
        report = measure(name, parse_size(size))
    except (ModelNotFoundError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name} at {report['width']}x{report['height']}")
    for col in ("part", "params (M)", "GMACs", "GFLOPs"):
        table.add_column(col, justify="right" if col != "part" else "left")
    for label, row in [*report["pathways"].items(), ("total", report)]:
        table.add_row(label, f"{row['params'] / 1e6:.2f}", f"{row['macs'] / 1e9:.1f}", f"{row['flops'] / 1e9:.1f}")
    Console().print(table)


def _first_paragraph(name: str) -> str:
    """The factory docstring's first paragraph on one line (model_description stops at the first line
    break, which can fall mid-sentence). glsgn_core/models/ is left as it is: others work there."""
    from glsgn_core.models import _registry

    doc = (_registry._factory(name).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())
