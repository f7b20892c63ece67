"""`glsgn eval`: PSNR/SSIM of a model on paired images, with an optional HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from glsgn_cli._common import EXIT_FAILED, EXIT_OK, err_console, fail, model_names, size_option


def evaluate(
    data: Annotated[Optional[Path], typer.Option("--data", "-d", help="Paired folder with input/ and target/ (e.g. from `glsgn synth`).", show_default=False)] = None,
    clean: Annotated[Optional[Path], typer.Option("--clean", help="Folder of clean photos: score each output against its own input (no harm: a restorer hands a clean photo back).", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option(help="Pretrained model name, e.g. glsgn-derain.", autocompletion=model_names)] = None,
    weights: Annotated[Optional[str], typer.Option(help="A weights file or URL (e.g. from `glsgn models export`).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with means and per-image figures.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write an HTML page with input / restored / ground-truth crops.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16 (CUDA only).")] = "auto",
    window: Annotated[str, typer.Option(help="Working size WxH; larger images are processed in windows.")] = "3840x2160",
    guide: Annotated[Optional[int], typer.Option(help="Restore at this long side and carry the result to full size (0: off). Default: the model's setting.", show_default=False)] = None,
) -> None:
    """Mean and per-image PSNR/SSIM of the restored images and of the inputs, against the targets.

    Prints a row per image, then the mean gain and the worst image (the smallest gain). With
    --clean, also restores photos that have nothing to remove and reports how far each output is
    from its input (mean and worst PSNR). --json prints all of it as one object. A file that cannot
    be read or scored is named on stderr and left out of the figures, and the exit code is 1.
    """
    if (model is None) == (weights is None):
        fail("give exactly one of --model NAME or --weights PATH")
    if data is None and clean is None:
        fail("give --data PAIRS, --clean PHOTOS, or both")
    from glsgn_core.errors import GlsgnError
    from glsgn_core.evaluate import NothingScored
    from glsgn_core.evaluate import evaluate as run_eval
    from glsgn_core.evaluate import evaluate_clean
    from glsgn_core.evaluate import write_report
    from glsgn_core.restorer import Restorer

    win_w, win_h = size_option(window, "--window")
    try:
        restorer = Restorer.from_pretrained(weights or model, device=device, precision=precision, window=(win_h, win_w), guide=guide)
        if clean is not None and restorer.scale != 1:
            raise GlsgnError("--clean scores models that hand a photo back at its own size; this one upscales")
        crops: dict | None = {} if report else None

        def progress(score) -> None:
            if not as_json:
                err_console.print(f"{score.name}: {score.psnr:.2f} dB (input {score.input_psnr:.2f} dB)", markup=False)

        def skipped(name: str, error: str) -> None:
            err_console.print(f"glsgn: error: {error}", markup=False)

        result = run_eval(restorer.restore, data, on_pair=progress, crops=crops, on_failed=skipped) if data is not None else None
        if report and result is not None:
            write_report(report, result, crops, title=f"glsgn eval: {weights or model} on {data}")

        def clean_progress(name: str, value: float) -> None:
            if not as_json:
                err_console.print(f"{name} (clean): {value:.2f} dB against its input", markup=False)

        no_harm = evaluate_clean(restorer.restore, clean, on_photo=clean_progress, on_failed=skipped) if clean is not None else None
    except NothingScored as exc:  # each file was named as it failed
        fail(str(exc), EXIT_FAILED)
    except (GlsgnError, ValueError) as exc:
        fail(str(exc))
    # Unscorable files were named as they came; the figures are over the rest, and the exit code says so.
    n_failed = len((result or {}).get("failed", [])) + len((no_harm or {}).get("failed", []))
    code = EXIT_FAILED if n_failed else EXIT_OK
    if as_json:
        extra = {"clean": {"folder": str(clean), **no_harm}} if no_harm else {}
        typer.echo(json.dumps({"model": weights or model, "data": str(data) if data else None, **(result or {}), **extra}))
        raise typer.Exit(code)
    if n_failed:
        err_console.print(f"glsgn: {n_failed} file(s) could not be scored (named above); the figures below leave them out", markup=False)
    if no_harm:
        typer.echo(f"{no_harm['n']} clean photos  output vs input {no_harm['psnr']:.2f} dB mean, "
                   f"worst {no_harm['worst']['psnr']:.2f} dB ({no_harm['worst']['name']}, "
                   f"mean shift {no_harm['worst']['shift']:+.1f} levels)")
    if result is None:
        raise typer.Exit(code)
    worst = result["worst"]
    typer.echo(f"worst image: {worst['name']}  {worst['psnr']:.2f} dB (input {worst['input_psnr']:.2f} dB, gain {worst['gain']:+.2f} dB)")
    typer.echo(
        f"{result['n']} images  restored {result['psnr']:.2f} dB / SSIM {result['ssim']:.4f}   "
        f"input {result['input_psnr']:.2f} dB / SSIM {result['input_ssim']:.4f}   "
        f"gain {result['psnr'] - result['input_psnr']:+.2f} dB"
        + (f"   (input = bicubic upscale; Lanczos {result['lanczos_psnr']:.2f} dB / SSIM {result['lanczos_ssim']:.4f})"
           if "lanczos_psnr" in result else "")
    )
    raise typer.Exit(code)
