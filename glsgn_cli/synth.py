"""``glsgn synth``: write degraded/clean training or validation pairs to disk."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from glsgn_cli._common import EXIT_FAILED, err_console, fail, notice, size_option, user_errors
from glsgn_core import tasks

# Every task of the table; for upscaling ones the input is the target's bicubic downscale.
Task = enum.Enum("Task", {name: name for name in tasks.NAMES}, type=str)


def _save_png(array: "object", path: Path) -> None:
    """Write an 8-bit PNG atomically (:func:`glsgn_core.files.atomic_write`), creating its folder.

    Fast zlib level: these files are written once and read many times, and level 1 is nearly
    as small as the default for photos while encoding several times faster.
    """
    import numpy as np
    from PIL import Image

    from glsgn_core.files import atomic_write

    pixels = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    atomic_write(path, lambda f: Image.fromarray(pixels).save(f, format="PNG", compress_level=1), parents=True)


def _pair_names(photos: list[Path], clean: Path, n: int) -> list[str]:
    """Output name of pair k: the photo's relative path without extension, ``-c`` added on cycle c > 0."""
    names = []
    for k in range(n):
        stem = photos[k % len(photos)].relative_to(clean).with_suffix("").as_posix()
        cycle = k // len(photos)
        names.append(stem if cycle == 0 else f"{stem}-{cycle}")
    return names


def _list_families(as_json: bool) -> None:
    import json

    from glsgn_core.data.degrade import FAMILIES

    table = {task: [{"name": f.name, "description": f.description} for f in fams] for task, fams in FAMILIES.items()}
    if as_json:
        typer.echo(json.dumps(table))
        return
    for task, fams in table.items():
        typer.echo(task)
        for f in fams:
            typer.echo(f"  {f['name']:<12} {f['description']}")


def synth(
    task: Annotated[Optional[Task], typer.Option("--task", "-t", help="Degradation to synthesise.", case_sensitive=False, show_default=False)] = None,
    clean: Annotated[Optional[Path], typer.Option("--clean", "-c", help="Folder of clean photos (searched recursively).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder; pairs go to OUT/input and OUT/target.", show_default=False)] = None,
    family: Annotated[
        Optional[str], typer.Option("--family", "-f", help="Degradation family (see --list-families). Default: one drawn per pair.", show_default=False)
    ] = None,
    camera: Annotated[bool, typer.Option("--camera", help="Add the camera stage (exposure, gamma, blur, noise, JPEG) as in training.")] = False,
    list_families: Annotated[bool, typer.Option("--list-families", help="Print each task's degradation families and exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --list-families: one JSON object {task: [{name, description}, ...]}.")] = False,
    n: Annotated[
        Optional[int],
        typer.Option("--n", min=1, help="Number of pairs (default: one per photo; more cycle with new degradations)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed writes the same pairs.")] = 0,
    crop: Annotated[
        Optional[str], typer.Option("--crop", help="Random crop WIDTHxHEIGHT (default: whole photos). Smaller photos are scaled up to fit it.")
    ] = None,
    max_side: Annotated[
        Optional[int],
        typer.Option("--max-side", min=64, help="Shrink each photo (whole-factor area average) to at most this long side first."),
    ] = None,
    decoy_share: Annotated[
        float,
        typer.Option("--decoy-share", min=0.0, max=1.0, help="Derain and dehaze: share of pairs whose photo first gets scene content that looks like the degradation (as `glsgn train --decoy-share`: dark lines such as reeds; out-of-focus regions); it is in input and target alike. 1: every pair, a set for checking that a model keeps it."),
    ] = 0.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace pairs that already exist in OUT.")] = False,
) -> None:
    """Write degraded/clean pairs (8-bit PNG) for training or fixed validation sets.

    Pair k is photo k mod (number of photos), degraded with a generator seeded by (seed, k).
    For sr2/sr4 the input is the target's bicubic downscale (the crop is the target's size).
    Existing pairs are only replaced with --overwrite; every file is written atomically.
    """
    if list_families:
        _list_families(as_json)
        return
    if task is None or clean is None or out is None:
        fail("give --task, --clean and --out (or --list-families)")
    import numpy as np
    from rich.progress import Progress

    from glsgn_core.data.datasets import (
        bicubic_downscale,
        crop_and_augment,
        fit_crop,
        list_images,
        read_image,
        shrink_to,
        to_float,
    )
    from glsgn_core.data.camera import camera as camera_stage
    from glsgn_core.data.degrade import DECOYS, degrade, family_names, with_decoy
    from glsgn_core.errors import GlsgnError

    size = size_option(crop, "--crop", minimum=16) if crop is not None else None
    scale = tasks.get(task.value).scale
    if size is not None and (size[0] % scale or size[1] % scale):
        fail(f"--crop {crop}: both sides must be multiples of the SR scale {scale}")
    if family is not None and (scale > 1 or family not in family_names(task.value)):
        known = ", ".join(family_names(task.value)) if scale == 1 else "none: sr2/sr4 are bicubic downscales"
        fail(f"--family {family}: not a {task.value} family (known: {known})")
    if decoy_share and task.value not in DECOYS:
        fail(f"--decoy-share {decoy_share}: {task.value} has no decoys (only {', '.join(DECOYS)})")
    if not clean.is_dir():
        fail(f"--clean {clean}: no such folder")
    photos = list_images(clean)
    if not photos:
        fail(f"--clean {clean}: no images found (PNG, JPEG, TIFF, BMP or WebP)")
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    count = n or len(photos)
    names = _pair_names(photos, clean, count)
    first: dict[str, int] = {}
    for k, name in enumerate(names):  # a.png and a.jpg, or a-1.png and a.png's second cycle
        if name in first:
            a, b = photos[first[name] % len(photos)], photos[k % len(photos)]
            fail(f"'{a}' and '{b}' would both be written as pair '{name}'; rename one of them")
        first[name] = k
    existing = [p for name in names for side in ("input", "target") if (p := out / side / f"{name}.png").exists()]
    if existing and not overwrite:
        fail(f"{existing[0]}: already exists ({len(existing)} files would be replaced); use --overwrite or a new --out")

    def load(k: int) -> "np.ndarray":
        return fit_crop(shrink_to(read_image(photos[k]), max_side), size)

    failed, said = 0, set()
    with Progress(console=err_console, transient=True) as progress:
        bar = progress.add_task(f"synth {task.value}", total=count)
        for k, name in enumerate(names):
            i = k % len(photos)
            others = [j for j in range(len(photos)) if j != i]
            try:
                full = load(i)
                rng = np.random.default_rng([seed, k])
                (target,) = crop_and_augment([full], size, False, rng)
                if scale > 1:
                    target = to_float(target[: target.shape[0] // scale * scale, : target.shape[1] // scale * scale])
                    degraded = bicubic_downscale(target, scale)
                else:
                    target = to_float(target)
                    if task.value in DECOYS:  # the decoy's generator is seeded by (seed, k, 1), not drawn from rng
                        target = with_decoy(task.value, target, np.random.default_rng([seed, k, 1]), decoy_share, ref_size=min(full.shape[:2]))
                    pool = (lambda r: to_float(load(others[int(r.integers(len(others)))]))) if others else None
                    degraded = degrade(task.value, target, rng, family=family, pool=pool, ref_size=min(full.shape[:2]))
                    if camera:
                        degraded, target = camera_stage(degraded, target, rng)
            except GlsgnError as exc:  # one unreadable photo must not stop the others
                if str(exc) not in said:  # --n cycles over the photos: say each problem once
                    said.add(str(exc))
                    err_console.print(f"glsgn: error: {exc}", markup=False, highlight=False)
                failed += 1
            else:
                with user_errors(EXIT_FAILED):  # a folder it cannot write: every later pair would fail alike
                    _save_png(target, out / "target" / f"{name}.png")
                    _save_png(degraded, out / "input" / f"{name}.png")
            progress.advance(bar)
    notice(f"wrote {count - failed} of {count} {task.value} pairs to {out}" + (f"; {failed} failed (above)" if failed else ""))
    if failed:
        raise typer.Exit(EXIT_FAILED)
