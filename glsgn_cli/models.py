"""``glsgn models``: list, pre-fetch, locate, verify, export and average pretrained weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from glsgn_cli._common import EXIT_FAILED, fail, notice, user_errors

app = typer.Typer(
    help="Pretrained weights: list, download into the cache, locate, verify, export from training, average.",
    no_args_is_help=True,
)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects.")] = False) -> None:
    """The registry: name, task, file, sha256, size, and where each file is now (cached, bundled, remote)."""
    from glsgn_core.weights import entries, where

    rows = [
        {
            "name": e.name, "task": e.task, "model": e.model_name, "file": e.file, "sha256": e.sha256,
            "size": e.size, "license": e.license, "where": where(e), "url": e.download_url(),
            "description": e.description,
        }
        for e in entries()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        notice("no pretrained weights are registered yet")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("name", "task", "file", "sha256", "size", "where"):
        table.add_column(col, justify="right" if col == "size" else "left", overflow="fold" if col == "file" else "ellipsis")
    for r in rows:
        table.add_row(r["name"], r["task"], r["file"], r["sha256"][:12], f"{r['size'] / 1e6:.1f} MB", r["where"])
    Console().print(table)


@app.command()
def download(
    names: Annotated[Optional[list[str]], typer.Argument(help="Registry names (see `glsgn models list`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every registry entry.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if a verified copy is cached.")] = False,
) -> None:
    """Fetch weights from their URL into the cache and verify their sha256 (for pre-fetching).

    Bundled copies are ignored: the cache gets its own file. A cached copy whose checksum matches is kept unless --force.
    """
    from glsgn_core.weights import WeightsError, entries, fetch, get_entry

    if all_ and names:
        fail("give model names or --all, not both")
    if not all_ and not names:
        fail("name the models to download (see `glsgn models list`), or give --all")
    with user_errors():
        chosen = list(entries()) if all_ else [get_entry(n) for n in names]
    failed = 0
    for entry in chosen:
        try:
            path = fetch(entry, force=force)
        except WeightsError as exc:
            notice(f"error: {exc}")
            failed += 1
            continue
        typer.echo(f"{entry.name}\t{path}\tsha256 {entry.sha256} ok")
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def path(name: Annotated[str, typer.Argument(help="Registry name, weights file or URL.")]) -> None:
    """Print the local file a model resolves to, downloading it first if needed."""
    from glsgn_core.weights import resolve
    from glsgn_core.weights.registry import UnknownModelError

    with user_errors(EXIT_FAILED):
        try:
            found = resolve(name)
        except UnknownModelError as exc:  # a mistyped name is a usage error, as in download and verify
            fail(str(exc))
    typer.echo(str(found))


@app.command()
def verify(
    names: Annotated[Optional[list[str]], typer.Argument(help="Registry names (default: all).")] = None,
) -> None:
    """Re-hash the cached and bundled files against the registry's sha256; exit 1 on any mismatch."""
    from glsgn_core.weights import bundled_path, cached_path, entries, get_entry, sha256_file

    with user_errors():
        chosen = [get_entry(n) for n in names] if names else list(entries())
    checked = bad = 0
    for entry in chosen:
        for kind, file in (("cached", cached_path(entry)), ("bundled", bundled_path(entry))):
            if not file.is_file():
                continue
            checked += 1
            if sha256_file(file) == entry.sha256:
                typer.echo(f"ok\t{entry.name}\t{kind}\t{file}")
            else:
                bad += 1
                typer.echo(f"BAD\t{entry.name}\t{kind}\t{file}")
                fix = f"glsgn models download --force {entry.name}"
                notice(f"error: {file} does not match the sha256 of {entry.name}; run `{fix}`")
    if not checked:
        notice("no local weights files to verify")
    if bad:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def export(
    src: Annotated[Path, typer.Argument(help="Training run folder (uses checkpoints/best.pt, else last.pt) or a .pt file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .safetensors file to write.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    force: Annotated[bool, typer.Option("--force", hidden=True, help="Old name of --overwrite.")] = False,
    half: Annotated[bool, typer.Option("--half", help="Store the weights as float16: half the size; loaded back as float32. Refused if a weight exceeds float16's range.")] = False,
) -> None:
    """Turn a training checkpoint into a distributable weights file (EMA weights when present)."""
    if out.exists() and not (overwrite or force):
        fail(f"{out} exists; choose another name or pass --overwrite")
    from glsgn_core.weights import export_checkpoint

    with user_errors(EXIT_FAILED):
        ckpt, sha = export_checkpoint(src, out, half=half)
    notice(f"exported {ckpt}")
    typer.echo(f"{out}\tsha256 {sha}\tsize {out.stat().st_size}")


@app.command()
def average(
    sources: Annotated[list[Path], typer.Argument(help="Two or more weights files of one model (same configuration and task), e.g. runs fine-tuned from one start.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .safetensors file to write.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    half: Annotated[bool, typer.Option("--half", help="Store the average as float16 (see export --half).")] = False,
) -> None:
    """Average weights files uniformly (a model soup); the file's recipe lists the sources and their sha256."""
    if len(sources) < 2:
        fail("averaging needs at least two weights files")
    if out.exists() and not overwrite:
        fail(f"{out} exists; choose another name or pass --overwrite")
    from glsgn_core.weights import average_weights

    with user_errors(EXIT_FAILED):
        sha = average_weights(sources, out, half=half)
    notice(f"averaged {len(sources)} files")
    typer.echo(f"{out}\tsha256 {sha}\tsize {out.stat().st_size}")
