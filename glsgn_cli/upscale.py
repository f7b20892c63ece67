"""`glsgn upscale --scale 2|4`: GLA-Net super-resolution through the restore commands' pipeline."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from glsgn_cli._common import model_names
from glsgn_cli.restore import (
    DEVICE,
    PRECISION,
    QUALITY,
    Compile,
    Device,
    Ext,
    Inputs,
    JsonOpt,
    MaxPixels,
    Output,
    Overwrite,
    Precision,
    Quality,
    Quiet,
    Shard,
    Weights,
    WindowOpt,
    run,
)
from glsgn_core import tasks

Scale = Annotated[int, typer.Option("--scale", "-s", help=f"Upscaling factor: {' or '.join(map(str, tasks.scales('upscale')))}.", show_default=False)]
Suffix = Annotated[Optional[str], typer.Option(help="Appended to output names when writing beside the inputs. Default: _x2 or _x4.")]
Model = Annotated[Optional[str], typer.Option(help="Pretrained model name (see `glsgn models list`). Default: glanet-x2 or glanet-x4.", autocompletion=model_names)]


def upscale(
    inputs: Inputs,
    scale: Scale,
    output: Output = None,
    suffix: Suffix = None,
    ext: Ext = None,
    overwrite: Overwrite = False,
    model: Model = None,
    weights: Weights = None,
    device: Device = DEVICE,
    precision: Precision = PRECISION,
    compile: Compile = False,
    window: WindowOpt = "512x512",  # attention memory grows with the window: keep it small
    quality: Quality = QUALITY,
    max_pixels: MaxPixels = None,
    as_json: JsonOpt = False,
    quiet: Quiet = False,
    shard: Shard = None,
) -> None:
    """Upscale photos x2 or x4 with GLA-Net: files, folders or globs, any size, CPU or CUDA.

    Alpha is upscaled on its own (bicubic); 16-bit stays 16-bit; EXIF, ICC and the printed size are kept.
    """
    raise typer.Exit(
        run(
            "upscale", inputs, scale=scale, output=output, suffix=suffix if suffix is not None else f"_x{scale}", ext=ext,
            overwrite=overwrite, spec=weights or model, device=device, precision=precision, compile=compile,
            window=window, quality=quality, max_pixels=max_pixels, as_json=as_json, quiet=quiet, shard=shard,
        )
    )
