"""The batch pipeline under ``glsgn derain|dehaze|dereflect``: inputs -> jobs -> results.

``expand_inputs`` turns command-line arguments (files, folders, globs) into images to read;
``plan_outputs`` decides where each result goes and which jobs to skip; ``shard`` splits the jobs
between machines; ``run_batch`` runs them, decoding the next image and encoding the previous one
in background threads while the model runs in the calling thread. No torch here: the model is
whatever ``process`` callable the command passes in.
"""

from __future__ import annotations

import glob
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from glsgn_core.errors import GlsgnError
from glsgn_core.image_io import (
    DEFAULT_MAX_PIXELS,
    READ_EXTENSIONS,
    WRITE_EXTENSIONS,
    Bands,
    Image,
    ImageReadError,
    ImageWriteError,
    can_write_rows,
    format_for_path,
    open_bands,
    write_image_rows,
    format_warnings,
    from_float,
    is_temp_file,
    output_extension,
    read_image,
    to_float,
    write_image,
)

__all__ = [
    "InputItem",
    "Job",
    "JobResult",
    "RowProcess",
    "UsageError",
    "expand_inputs",
    "model_process",
    "parse_shard",
    "plan_outputs",
    "run_batch",
    "shard",
    "shard_jobs",
]

DONE, SKIPPED, FAILED = "done", "skipped", "failed"


class UsageError(GlsgnError):
    """The command line itself is wrong (no such input, colliding outputs, bad --shard): exit code 2."""


@dataclass(frozen=True)
class InputItem:
    """One image to read. ``root`` is the folder (or a glob's fixed part) the argument named, so the
    tree below it can be mirrored; it is None for a file named on its own."""

    path: Path
    root: Path | None = None
    error: str | None = None  # why this entry cannot be processed (an unreadable folder, a symlink loop)

    @property
    def relative(self) -> Path:
        """The path below ``root`` (just the name for a file given on its own)."""
        if self.root is None:
            return Path(self.path.name)
        return self.path.relative_to(self.root)


@dataclass
class Job:
    input: Path
    output: Path | None  # None for an input that failed before it had one (an unreadable folder)
    status: str = "pending"  # "pending", or already decided: "skipped" / "failed"
    reason: str | None = None


@dataclass
class JobResult:
    """What happened to one input; ``dataclasses.asdict`` gives a JSON-ready dict (paths as str)."""

    input: str
    output: str | None
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    error: str | None = None  # the one-line reason for "failed" and "skipped"
    warnings: list[str] = field(default_factory=list)  # what the written file lost (alpha, bit depth, ...)
    streamed: bool = False  # read and written a band at a time, never held whole


# --------------------------------------------------------------------------------------------
# Inputs


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in READ_EXTENSIONS and not name.startswith(".")


def _real(path: Path) -> Path:
    """The canonical path, for telling files apart; never raises (a symlink loop stays as it is)."""
    return Path(os.path.realpath(path))


def _walk(folder: Path, problems: list[InputItem] | None = None) -> list[Path]:
    """Image files below ``folder``, sorted, hidden files and folders and our temp files skipped.

    A subfolder that cannot be listed is added to ``problems`` (not skipped in silence).
    """

    def unreadable(exc: OSError) -> None:
        if problems is not None:
            where = exc.filename or folder
            problems.append(InputItem(Path(where), folder, error=f"cannot read folder '{where}': "
                                      f"{_one_line(exc.strerror or exc).lower()}; its images were not processed"))

    found = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if _is_image_name(name) and not is_temp_file(name):
                found.append(Path(dirpath, name))
    return found


def _glob_root(pattern: str) -> Path:
    """The fixed leading folders of a glob pattern: ``shots/2024/*.jpg`` -> ``shots/2024``."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[InputItem]:
    """Files, folders (walked recursively) and glob patterns -> the images to process, in order.

    Each argument's images come sorted; an image named twice is kept once. A subfolder that cannot
    be listed comes back as an item with ``error`` set (a failed job, not a silent skip). Raises
    UsageError for an argument that names nothing, an unreadable or imageless folder, or a pattern
    that matches no image.
    """
    items: list[InputItem] = []
    seen: set[Path] = set()

    def add(path: Path, root: Path | None) -> None:
        key = _real(path)
        if key not in seen:
            seen.add(key)
            items.append(InputItem(path, root))

    for arg in inputs:
        text = os.fspath(arg)
        path = Path(text)
        if path.is_dir():
            problems: list[InputItem] = []
            found = _walk(path, problems)
            if problems and problems[0].path == path:
                raise UsageError(problems[0].error.split(";")[0])
            if not found and not problems:
                raise UsageError(f"no images in folder '{text}' (looked for {_extensions()})")
            for p in found:
                add(p, path)
            items.extend(problems)
        elif path.is_file():
            add(path, None)
        elif glob.has_magic(text):
            root = _glob_root(text)
            matched = 0
            for match in sorted(glob.glob(text, recursive=True)):
                m = Path(match)
                if m.is_dir():
                    continue
                if _is_image_name(m.name) and not is_temp_file(m) and not _hidden_below(m, root):
                    add(m, root)
                    matched += 1
            if not matched:
                raise UsageError(f"no images match '{text}'")
        elif path.exists() or path.is_symlink():
            raise UsageError(f"'{text}' is neither a file nor a folder")
        else:
            raise UsageError(f"no such file or folder: '{text}'")
    return items


def _hidden_below(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    return any(p.startswith(".") and p not in (".", "..") for p in parts)


def _extensions() -> str:
    return ", ".join(sorted(READ_EXTENSIONS))


# --------------------------------------------------------------------------------------------
# Outputs


def _same_file(a: Path, b: Path) -> bool:
    if _real(a) == _real(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def plan_outputs(
    items: Sequence[InputItem],
    *,
    out: Path | None,
    suffix: str,
    ext: str | None,
    overwrite: bool,
) -> list[Job]:
    """Where each input's result goes.

    Without ``out``: ``NAME{suffix}.EXT`` beside the input. With ``out`` a folder: each input's
    tree below the folder or pattern it came from is mirrored under ``out``, names unchanged (the
    folder already tells them apart; ``suffix`` is not added). A single input with ``out`` naming a
    file (an image extension, not an existing folder) writes that file. ``ext`` (".png", "tif")
    changes the format; by default the input's own is kept (".png" for GIF).

    Jobs whose output would replace their input fail; jobs whose output exists are skipped unless
    ``overwrite``; an input that is another job's output (a folder holding earlier results) is
    skipped. Raises UsageError when two inputs map to one output, or a file ``out`` gets many inputs.
    """
    # Argument checks come first: a bad --ext or --suffix must not cost a model run per file.
    if ext is not None:
        ext = ext if ext.startswith(".") else "." + ext
        if ext.lower() not in WRITE_EXTENSIONS:
            raise UsageError(f"--ext '{ext.lstrip('.')}' is not a format glsgn writes (use "
                             f"{', '.join(sorted(e.lstrip('.') for e in WRITE_EXTENSIONS))})")
    if "/" in suffix or os.sep in suffix:
        raise UsageError(f"--suffix '{suffix}' holds a path separator; to write elsewhere, use -o FOLDER")
    out_is_file = False
    if out is not None:
        out = Path(out)
        out_is_file = not out.is_dir() and out.suffix.lower() in READ_EXTENSIONS
        if out_is_file and len(items) > 1:
            raise UsageError(f"-o '{out}' names one file but there are {len(items)} inputs; give a folder")
        if out_is_file and ext is not None and format_for_path(out).name != format_for_path(f"x{ext}").name:
            raise UsageError(f"-o '{out}' names a file, whose extension sets the format; drop --ext "
                             f"{ext.lstrip('.')} or name the file '{out.with_suffix(ext).name}'")
        if out.exists() and not out.is_dir() and not out_is_file:
            raise UsageError(f"-o '{out}' exists and is not a folder")

    jobs: list[Job] = []
    by_output: dict[Path, Path] = {}
    for item in items:
        if item.error is not None:
            jobs.append(Job(item.path, None, FAILED, item.error))
            continue
        target_ext = ext or output_extension(item.path)
        if out is None:
            output = item.path.with_name(f"{item.path.stem}{suffix}{target_ext}")
        elif out_is_file:
            output = out
        else:
            rel = item.relative
            output = out / rel.parent / f"{rel.stem}{target_ext}"
        key = _real(output)
        if key in by_output:
            raise UsageError(f"'{by_output[key]}' and '{item.path}' would both be written to '{output}'")
        by_output[key] = item.path
        jobs.append(Job(item.path, output))

    outputs = set(by_output)
    if out is None:
        elsewhere = "write elsewhere with -o FOLDER, or give another --suffix or --ext"
    else:
        elsewhere = f"give -o another {'file name' if out_is_file else 'folder'}"
    for job in jobs:
        if job.output is None:
            continue
        if _same_file(job.input, job.output):
            job.status, job.reason = FAILED, f"'{job.input}' would be replaced by its own output; {elsewhere}"
        elif _real(job.input) in outputs:
            job.status, job.reason = SKIPPED, "it is the output of another input"
        elif job.output.is_dir():
            job.status, job.reason = FAILED, f"the output '{job.output}' is a folder"
        elif job.output.exists() and not overwrite:
            job.status, job.reason = SKIPPED, f"its output '{job.output}' exists; use --overwrite"
    return jobs


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4); UsageError unless it is K/N with 1 <= K <= N."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must be K/N, e.g. 2/4 (got '{text}')") from None
    if not 1 <= k <= n:
        raise UsageError(f"--shard K/N needs 1 <= K <= N (got '{text}')")
    return k, n


def shard(jobs: Sequence[Job], k: int, n: int) -> list[Job]:
    """Every n-th job starting with the k-th (1-based): shards 1..n of a list partition it.

    Machines that expand the same inputs get the same job order, so ``--shard K/N`` on N machines
    covers every input exactly once. Shard before skipping nothing: skipped jobs keep their place.
    """
    if not 1 <= k <= n:
        raise UsageError(f"--shard K/N needs 1 <= K <= N (got {k}/{n})")
    return list(jobs[k - 1 :: n])


shard_jobs = shard  # the name the command line imports


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class _Read:
    image: Image | None = None
    error: str | None = None
    seconds: float = 0.0
    bands: Bands | None = None  # opened for reading a band at a time (then ``image`` is None)


@dataclass(frozen=True)
class RowProcess:
    """How to process an image a band at a time, for :func:`run_batch`'s ``rows``.

    ``rows(pixels)`` takes the pixels (a band view: shape, dtype, 2-D slicing) and yields the result
    top to bottom as ``(first_row, rows)`` chunks, ``scale`` times larger per side; ``wants(h, w)``
    says whether an image of that size is worth it (one the model runs whole is read whole anyway).
    """

    rows: Callable[[Any], Iterator[tuple[int, np.ndarray]]]
    wants: Callable[[int, int], bool]
    scale: int = 1


@dataclass
class _Write:
    job: Job
    seconds_so_far: float
    future: Future = field(repr=False)
    warnings: list[str] = field(default_factory=list)


def run_batch(
    jobs: Sequence[Job],
    process: Callable[[Image], Image],
    *,
    quality: int = 95,
    on_result: Callable[[JobResult], None] | None = None,
    prefetch: int = 1,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    rows: RowProcess | None = None,
) -> list[JobResult]:
    """Run ``process`` on every pending job; returns (and reports) one result per job, in order.

    Up to ``prefetch`` images are decoded ahead and the previous result is encoded in background
    threads while ``process`` runs in the calling thread. A file that fails to read, process or
    write is recorded as "failed" with a one-line message and the batch goes on. On Ctrl-C the
    write in flight finishes (writes are atomic: no partial file ever appears), the background
    threads are joined and KeyboardInterrupt propagates.

    With ``rows``, an image that can be read and its result written a band at a time (a striped or
    tiled TIFF in, TIFF or PNG out; :mod:`glsgn_core.image_io.bands`) and that ``rows.wants`` is
    streamed instead, in the calling thread: neither it nor its result is ever held whole, so
    ``max_pixels`` (a guard for decoding whole) applies to it only where the file is a likely
    decompression bomb (see :func:`_streamable`).
    """
    results: list[JobResult] = []

    def report(result: JobResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    def read(job: Job) -> _Read:
        start = time.perf_counter()
        path = job.input
        try:
            if rows is not None and (bands := _streamable(job, rows, max_pixels)) is not None:
                opened.append(bands)
                return _Read(bands=bands, seconds=time.perf_counter() - start)
            return _Read(image=read_image(path, max_pixels=max_pixels), seconds=time.perf_counter() - start)
        except GlsgnError as exc:
            return _Read(error=str(exc), seconds=time.perf_counter() - start)
        except Exception as exc:  # a bug or an exotic failure in a decoder: still only this file
            return _Read(error=f"cannot read '{path}': {type(exc).__name__}: {_one_line(exc)}")

    def write(job: Job, image: Image) -> float:
        start = time.perf_counter()
        job.output.parent.mkdir(parents=True, exist_ok=True)
        write_image(job.output, image, quality=quality)
        return time.perf_counter() - start

    opened: list[Bands] = []  # files opened for streaming; any left open (Ctrl-C) are closed at the end
    try:
        return _run_jobs(jobs, process, read, report, results, write, prefetch, rows)
    finally:
        for bands in opened:
            bands.close()


def _run_jobs(jobs, process, read, report, results, write, prefetch, rows) -> list[JobResult]:
    """run_batch's loop: the threads, the order of results, the write in flight."""
    pending = [j for j in jobs if j.status == "pending"]
    reads: list[Future] = []  # reads[i] decodes pending[i]; submitted up to `prefetch` ahead
    in_flight: _Write | None = None
    prefetch = max(0, int(prefetch))

    with ThreadPoolExecutor(1, thread_name_prefix="glsgn-read") as readers, \
            ThreadPoolExecutor(1, thread_name_prefix="glsgn-write") as writers:

        def finish_write() -> None:
            """Wait for the write in flight and report it."""
            nonlocal in_flight
            if in_flight is None:
                return
            w, in_flight = in_flight, None
            try:
                seconds = w.seconds_so_far + w.future.result()
            except GlsgnError as exc:
                report(_failed(w.job, str(exc), w.seconds_so_far))
            except Exception as exc:
                report(_failed(w.job, f"cannot write '{w.job.output}': {_message(exc)}", w.seconds_so_far))
            else:
                report(JobResult(str(w.job.input), str(w.job.output), DONE, round(seconds, 3), warnings=w.warnings))

        index = -1  # into pending
        try:
            for job in jobs:
                if job.status != "pending":
                    finish_write()  # keep the results in job order
                    output = None if job.output is None else str(job.output)
                    report(JobResult(str(job.input), output, job.status, 0.0, job.reason))
                    continue
                index += 1
                while len(reads) < min(index + prefetch + 1, len(pending)):
                    reads.append(readers.submit(read, pending[len(reads)]))
                got: _Read = reads[index].result()
                reads[index] = _DONE_FUTURE  # drop the decoded image with the future
                if got.bands is not None:
                    finish_write()
                    assert rows is not None
                    report(_stream(job, got.bands, rows, got.seconds))
                    continue
                if got.image is None:
                    finish_write()
                    report(_failed(job, got.error or "unreadable", got.seconds))
                    continue
                start = time.perf_counter()
                try:
                    result = process(got.image)
                except Exception as exc:
                    finish_write()
                    report(_failed(job, f"cannot process '{job.input}': {_message(exc)}",
                                   got.seconds + time.perf_counter() - start))
                    continue
                spent = got.seconds + time.perf_counter() - start
                del got
                finish_write()
                try:
                    notes = format_warnings(result, job.output)
                except GlsgnError:
                    notes = []  # an unwritable format: the write itself reports it
                in_flight = _Write(job, spent, writers.submit(write, job, result), notes)
                del result
            finish_write()
        except BaseException:
            for f in reads:
                f.cancel()
            if in_flight is not None:  # it lands whole (writes are atomic): wait for it and say so
                try:
                    finish_write()
                except BaseException:
                    pass
            raise
    return results


def _streamable(job: Job, rows: RowProcess, max_pixels: int | None) -> Bands | None:
    """The input opened for reading in bands, where it, its output and ``rows`` allow streaming.

    Decided from the header before anything is decoded. A TIFF whose pixels would be over
    ``max_pixels`` and more than :data:`BOMB_RATIO` times its file size is left to read_image, which
    refuses it: streaming keeps memory flat, but a small file that claims a huge image is still a bomb
    (hours of work and a huge output) rather than a panorama.
    """
    assert job.output is not None
    bands = open_bands(job.input, probe=False)
    if bands is None:
        return None
    image = bands.image
    pixels = image.height * image.width
    raw = pixels * (image.channels + (image.alpha is not None)) * image.dtype.itemsize
    bomb = max_pixels is not None and pixels > max_pixels and raw > BOMB_RATIO * max(1, os.path.getsize(job.input))
    if bomb or not can_write_rows(job.output, image) or not rows.wants(image.height, image.width) \
            or (rows.scale != 1 and image.alpha is not None) or not bands.probe():  # alpha would need resizing
        bands.close()
        return None
    return bands


#: Raw size / file size above which a streamed TIFF over the pixel limit is taken for a bomb. Photos
#: compress 2-5x, a flat synthetic panorama about 10x; decompression bombs 1,000x and more.
BOMB_RATIO = 100


def _stream(job: Job, bands: Bands, rows: RowProcess, seconds: float) -> JobResult:
    """Restore one image a band at a time, from its file to its output; the result, never raising."""
    assert job.output is not None
    start = time.perf_counter()
    image = bands.image
    try:
        shape = (image.height * rows.scale, image.width * rows.scale, image.channels)
        result = image.replace(dpi=_scaled_dpi(image.dpi, image, shape))
        notes = format_warnings(result, job.output)
        job.output.parent.mkdir(parents=True, exist_ok=True)
        write_image_rows(job.output, result, rows.rows(image.pixels), shape=shape)
    except (ImageReadError, ImageWriteError) as exc:
        return _failed(job, str(exc), seconds + time.perf_counter() - start)
    except Exception as exc:
        return _failed(job, f"cannot process '{job.input}': {_message(exc)}", seconds + time.perf_counter() - start)
    finally:
        bands.close()
    took = round(seconds + time.perf_counter() - start, 3)
    return JobResult(str(job.input), str(job.output), DONE, took, warnings=notes, streamed=True)


_DONE_FUTURE: Future = Future()
_DONE_FUTURE.set_result(None)


def _failed(job: Job, message: str, seconds: float) -> JobResult:
    return JobResult(str(job.input), str(job.output), FAILED, round(seconds, 3), _one_line(message))


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _message(exc: BaseException) -> str:
    return _one_line(exc) if isinstance(exc, GlsgnError) else f"{type(exc).__name__}: {_one_line(exc)}"


# --------------------------------------------------------------------------------------------
# Adapting a model


def model_process(restore: Callable[[np.ndarray], np.ndarray]) -> Callable[[Image], Image]:
    """Wrap ``restore(pixels) -> pixels`` as a ``process`` for run_batch.

    ``restore`` takes the pixels as read ((H, W, C), C = 1 or 3, uint8/uint16/float32) and returns
    the same type and channels, possibly ``s`` times larger per side (upscaling): it owns the
    conversions, so no full-size float copy of the image is made here. The alpha channel, untouched
    by the model, is resized to match when the size changes, and so is the resolution in dpi.
    """

    def process(image: Image) -> Image:
        pixels = np.asarray(restore(image.pixels))
        if pixels.ndim != 3 or pixels.shape[-1] != image.pixels.shape[-1] or pixels.dtype != image.dtype:
            raise ValueError(f"the model returned {pixels.dtype} {pixels.shape}, expected {image.dtype} (H, W, {image.channels})")
        alpha = image.alpha
        if pixels.shape[:2] != image.pixels.shape[:2] and alpha is not None:
            alpha = _resize_plane(alpha, pixels.shape[:2])
        return image.replace(pixels=pixels, alpha=alpha, dpi=_scaled_dpi(image.dpi, image, pixels.shape))

    return process


def _scaled_dpi(dpi, image: Image, shape) -> tuple[float, float] | None:
    """The resolution that keeps ``image``'s printed size at a result of ``shape`` (H, W, ...)."""
    if dpi is None or tuple(shape[:2]) == (image.height, image.width):
        return dpi
    return (dpi[0] * shape[1] / image.width, dpi[1] * shape[0] / image.height)


def _resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image as PILImage

    h, w = size
    resized = PILImage.fromarray(to_float(plane)).resize((w, h), PILImage.Resampling.BICUBIC)
    return from_float(np.asarray(resized), plane.dtype)
