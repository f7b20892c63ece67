"""`glsgn derain | dehaze | dereflect`: one command body, three tasks.

The options (``Annotated`` types and defaults) and :func:`run`, the body, are the pipeline every image
command shares; ``glsgn upscale`` (``upscale.py``) adds ``--scale`` and calls the same :func:`run`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from glsgn_cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err_console, fail, model_names, notice, show_warnings, size_option
from glsgn_core import tasks

Inputs = Annotated[list[str], typer.Argument(metavar="INPUT...", help="Image files, folders (walked recursively) or glob patterns; - reads one image from standard input.", show_default=False)]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Output folder (input trees are mirrored), or a file for a single input, or - for standard output (PNG unless --ext). Default: beside each input.")]
Ext = Annotated[Optional[str], typer.Option(help="Output format by extension (png, jpg, tif, webp, bmp). Default: the input's.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (otherwise they are skipped).")]
Weights = Annotated[Optional[str], typer.Option(help="A weights file or URL (e.g. exported from `glsgn train`); overrides --model.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N. auto uses CUDA when present.")]
Precision = Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16 (CUDA only).")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the model: slow first image (and first of each new size), faster after; for long batches.")]
WindowOpt = Annotated[str, typer.Option(help="Working size WxH: larger images are processed in overlapping windows.")]
Guide = Annotated[Optional[int], typer.Option(help="Restore at this long side (px) and carry the result to full size with a guided filter; 0 = at full size. Default: the model's own setting (glsgn-dehaze uses one).", show_default=False)]
Quality = Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")]
MaxPixels = Annotated[Optional[int], typer.Option(min=0, help="Refuse images with more pixels than this, checked before decoding (a guard against decompression bombs: small files that claim to be huge). TIFFs read a band at a time are exempt unless their pixels exceed 100x the file size. Default: 1200000000 (1.2 gigapixels, more than 32Kx32K); 0 = no limit.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout: one object per file (input, output, status, seconds, error, warnings, streamed: read and written a band at a time), then {\"summary\": {\"done\", \"skipped\", \"failed\", \"seconds\"}}.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
Shard = Annotated[Optional[str], typer.Option(help="K/N: process every N-th input starting at the K-th (1-based), for job arrays.")]

# Defaults of the shared options, named so every command states them once.
DEVICE, PRECISION, WINDOW, QUALITY = "auto", "auto", "3840x2160", 95


def make_command(task: str) -> Callable[..., None]:
    """Build the Typer command for one task; every task shares the options and the body."""

    def command(
        inputs: Inputs,
        output: Output = None,
        suffix: Optional[str] = None,
        ext: Ext = None,
        overwrite: Overwrite = False,
        model: Optional[str] = None,
        weights: Weights = None,
        device: Device = DEVICE,
        precision: Precision = PRECISION,
        compile: Compile = False,
        window: WindowOpt = WINDOW,
        guide: Guide = None,
        quality: Quality = QUALITY,
        max_pixels: MaxPixels = None,
        as_json: JsonOpt = False,
        quiet: Quiet = False,
        shard: Shard = None,
    ) -> None:
        raise typer.Exit(
            run(
                task, inputs, output=output, suffix=suffix if suffix is not None else f"_{task}", ext=ext,
                overwrite=overwrite, spec=weights or model, device=device, precision=precision, compile=compile,
                window=window, guide=guide, quality=quality, max_pixels=max_pixels, as_json=as_json, quiet=quiet,
                shard=shard,
            )
        )

    # The task's own defaults in its help, not placeholders: real objects, as Typer reads annotations.
    command.__annotations__["suffix"] = Annotated[Optional[str], typer.Option(
        help=f"Appended to output names when writing beside the inputs. Default: _{task}.", show_default=False)]
    from glsgn_core.weights.registry import is_registered  # a plain table: no torch, --help stays fast

    default = tasks.get(task).weights
    default_help = (f"Default: {default}." if is_registered(default)
                    else f"No {task} model is published yet: give --weights FILE.")
    command.__annotations__["model"] = Annotated[Optional[str], typer.Option(
        help=f"Pretrained model name (see `glsgn models list`). {default_help}", show_default=False,
        autocompletion=model_names)]
    command.__name__ = task
    command.__doc__ = f"Remove {tasks.get(task).noun} from photos: files, folders or globs, any size, CPU or CUDA."
    return command


def run(task: str, inputs: list[str], *, output, suffix, ext, overwrite, **options) -> int:
    """The body of every image command: plan the outputs, load the model for ``task``, run the batch.

    Returns the exit code. ``task`` (a task or command of ``glsgn_core.tasks``, with ``scale`` for
    ``upscale``) picks the default model and the size factor the model must have, so a bad scale
    fails before anything is read and a mismatched weights file before its tensors are.
    ``-`` as the one input reads standard input; ``-o -`` writes the one result to standard output.
    Both go through a private temporary folder, so the pipeline itself is the same as for files.
    """
    if "-" not in inputs and str(output) != "-":
        return _run(task, inputs, output=output, suffix=suffix, ext=ext, overwrite=overwrite, **options)
    import shutil
    import sys
    import tempfile

    if "-" in inputs and len(inputs) > 1:
        fail("'-' (standard input) must be the only input")
    if "-" in inputs and output is None:
        fail("standard input has no folder to write beside; give -o FILE, or -o - for standard output")
    if str(output) == "-" and options.get("as_json"):
        fail("-o - and --json would both write to standard output; drop one")
    folder = Path(tempfile.mkdtemp(prefix="glsgn-pipe-"))
    aliases = {}  # messages name the streams, not the private files that stand in for them
    try:
        if "-" in inputs:
            data = sys.stdin.buffer.read()
            if not data:
                fail("standard input is empty; pipe a photo in, e.g. `glsgn derain - -o - < in.jpg > out.png`")
            inputs = [str(folder / f"stdin{_sniff_extension(data)}")]
            Path(inputs[0]).write_bytes(data)
            aliases[inputs[0]] = "standard input"
        if str(output) == "-":
            output, overwrite = folder / "out" / f"stdout.{(ext or 'png').lstrip('.')}", True
            output.parent.mkdir()
            aliases[f"-o '{output}'"] = "-o -"
            aliases[str(output)] = "standard output"
        code = _run(task, inputs, output=output, suffix=suffix, ext=ext, overwrite=overwrite, aliases=aliases, **options)
        if output.parent == folder / "out" and output.is_file():
            with open(output, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return code
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sniff_extension(data: bytes) -> str:
    """The extension of an image piped in, from its first bytes (the pipeline picks decoders by name)."""
    for magic, ext in ((b"\xff\xd8", ".jpg"), (b"\x89PNG", ".png"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"),
                       (b"II+\x00", ".tif"), (b"MM\x00+", ".tif"), (b"BM", ".bmp"), (b"GIF8", ".gif")):
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".png"  # not an image we know: the reader says so, naming the file


def _run(task: str, inputs: list[str], *, output, suffix, ext, overwrite, spec, device, precision, window,
         quality, max_pixels, as_json, quiet, shard, compile=False, guide=None, scale=None, aliases=None) -> int:
    from glsgn_core.batch import RowProcess, expand_inputs, model_process, parse_shard, plan_outputs, run_batch, shard_jobs
    from glsgn_core.errors import GlsgnError
    from glsgn_core.image_io import DEFAULT_MAX_PIXELS
    from glsgn_core.restorer import DEFAULT_OVERLAP, Restorer

    show_warnings(not quiet)

    def shown(text):
        """``text`` with each private stand-in path (``aliases``) replaced by what the user gave."""
        text = str(text)
        for path, name in (aliases or {}).items():
            text = text.replace(f"'{path}'", name).replace(path, name)
        return text

    # Windows overlap by DEFAULT_OVERLAP px on each side, which needs at least twice that per window.
    win_w, win_h = size_option(window, "--window", minimum=2 * DEFAULT_OVERLAP)
    try:
        chosen = tasks.get(task, scale)
        k, n = parse_shard(shard) if shard else (1, 1)
        jobs = plan_outputs(expand_inputs(inputs), out=output, suffix=suffix, ext=ext, overwrite=overwrite)
        jobs = shard_jobs(jobs, k, n)
        restorer = Restorer.for_task(chosen.name, weights=spec, device=device, precision=precision, window=(win_h, win_w),
                                     compile=compile, guide=guide)
    except GlsgnError as exc:
        fail(shown(exc), EXIT_USAGE)
    if not quiet:
        for line in restorer.notices:
            notice(line)
        trained_for = restorer.metadata.get("task")
        if trained_for and trained_for != chosen.name:
            notice(f"warning: the model was trained for {trained_for}, not {chosen.name}")

    counts = {"done": 0, "skipped": 0, "failed": 0}
    warned: dict[str, int] = {}  # each distinct warning is printed once, naming its first file
    started = time.perf_counter()

    def report(result) -> None:
        counts[result.status] = counts.get(result.status, 0) + 1
        if as_json:
            fields = {k: (shown(v) if isinstance(v, (Path, str)) else [shown(x) for x in v] if isinstance(v, list) else v)
                      for k, v in asdict(result).items()}
            typer.echo(json.dumps(fields))
        if result.status == "failed":
            err_console.print(f"glsgn: error: {shown(result.error)}", markup=False)
        elif result.status == "skipped" and not quiet:
            notice(f"skipped {shown(result.input)}: {shown(result.error)}")
        for text in result.warnings:
            warned[text] = warned.get(text, 0) + 1
            if warned[text] == 1 and not quiet:
                notice(f"warning: {shown(result.input)} -> {shown(result.output)}: {shown(text)}")

    verb = "upscaling" if chosen.upscales else "restoring"
    with _progress(len(jobs), verb, enabled=not quiet and err_console.is_terminal) as bar:
        def on_result(result) -> None:
            report(result)
            bar.advance()

        try:
            limit = DEFAULT_MAX_PIXELS if max_pixels is None else (max_pixels or None)
            restore = lambda pixels: restorer.restore(pixels, on_window=bar.window)  # noqa: E731
            # Above the working size, TIFFs (and PNG/TIFF results) are read and written a band at a time.
            rows = RowProcess(rows=lambda pixels: restorer.restore_rows(pixels, on_window=bar.window),
                              wants=lambda h, w: not restorer.runs_whole(h, w), scale=restorer.scale)
            run_batch(jobs, model_process(restore), quality=quality, max_pixels=limit, on_result=on_result, rows=rows)
        except KeyboardInterrupt:
            err_console.print("glsgn: interrupted; finished files are kept, no partial file was left")
            return 130
    seconds = time.perf_counter() - started
    if as_json:
        typer.echo(json.dumps({"summary": {**counts, "seconds": round(seconds, 3)}}))
    if not quiet:
        repeated = sum(n - 1 for n in warned.values())
        more = f"; the warnings above also apply to {repeated} more file(s) (--json lists them)" if repeated else ""
        done = "upscaled" if chosen.upscales else "restored"
        notice(f"{done} {counts['done']}, skipped {counts['skipped']}, failed {counts['failed']} "
               f"in {_duration(seconds)}{more}")
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class _progress:
    """Rich progress on stderr when it is a terminal (files, and the windows of a huge image); else nothing."""

    def __init__(self, total: int, verb: str, enabled: bool) -> None:
        self.total, self.verb, self.enabled, self.bar = total, verb, enabled, None
        self.windows = None

    def __enter__(self) -> _progress:
        if not self.enabled:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=err_console, transient=True)
        self.bar.__enter__()
        self.files = self.bar.add_task(self.verb, total=self.total)
        return self

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.files)
            if self.windows is not None:  # the next image starts without windows until it says otherwise
                self.bar.remove_task(self.windows)
                self.windows = None

    def window(self, done: int, total: int) -> None:
        """Called by the restorer after each window of an image too large to run whole."""
        if self.bar is None:
            return
        if self.windows is None:
            self.windows = self.bar.add_task("  windows", total=total)
        self.bar.update(self.windows, completed=done, total=total)
        self.bar.refresh()  # windows can finish between two automatic refreshes: show each one

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
