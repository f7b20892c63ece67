"""Evaluate a restorer on paired images: PSNR/SSIM of the restored images and of the inputs,
and an HTML page with input / restored / ground-truth crops side by side.

Super-resolution pairs (target ``s`` times the input, ``s`` the model's factor) are scored the same
way, with the input's bicubic upscale (PIL, as the training data is made) standing for the input;
the Lanczos upscale is scored too, as the second classical baseline.
"""

from __future__ import annotations

import base64
import html
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from glsgn_core.data.datasets import bicubic_resize, match_pairs, pil_resize
from glsgn_core.errors import GlsgnError
from glsgn_core.files import atomic_write
from glsgn_core.image_io import read_image, to_float
from glsgn_core.metrics import psnr, ssim


class NothingScored(GlsgnError):
    """Every pair (or photo) failed: the failures were reported one by one, there is no figure."""


def _naming(exc: Exception, path: Path) -> str:
    """The error's message, led by the file's path unless it names it already (a restorer's
    "image is 8x8 pixels" does not)."""
    return str(exc) if str(path) in str(exc) else f"{path}: {exc}"


@dataclass
class PairScore:
    name: str
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float
    seconds: float
    lanczos_psnr: float | None = None  # super-resolution only
    lanczos_ssim: float | None = None


def read_rgb_float(path: Path) -> np.ndarray:
    """An image file as float32 RGB in [0, 1] (grey repeated to three channels), as it is scored."""
    pixels = to_float(read_image(path).pixels)
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def _scores(a: np.ndarray, b: np.ndarray, with_ssim: bool = True) -> tuple[float, float]:
    """PSNR and SSIM (NaN when ``with_ssim`` is off: SSIM costs seconds per large photo on a CPU)."""
    ta, tb = (torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].double() for x in (a, b))
    return float(psnr(ta, tb)), float(ssim(ta, tb)) if with_ssim else float("nan")


def evaluate(
    restore: Callable[[np.ndarray], np.ndarray],
    pairs: str | Path,
    *,
    on_pair: Callable[[PairScore], None] | None = None,
    crops: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    crop_size: int = 384,
    with_ssim: bool = True,
    on_failed: Callable[[str, str], None] | None = None,
) -> dict:
    """Score ``restore`` (float32 RGB in [0, 1] -> same) on every pair in ``pairs/input`` and ``pairs/target``.

    Returns ``{"n", "psnr", "ssim", "input_psnr", "input_ssim", "images": [...]}`` (means over images).
    For an upscaler the target must be the restored image's size, ``input_*`` score the bicubic upscale,
    and ``lanczos_psnr`` / ``lanczos_ssim`` the Lanczos upscale.
    When ``crops`` is a dict it receives, per image, an (input, restored, target) crop around the
    place where restoration changed the image most, for the report.
    A pair that cannot be scored (an unreadable file, a target of the wrong size) raises, unless
    ``on_failed`` is given: then it is passed there (name, a message naming the file), skipped and
    listed under ``"failed"`` (``{"name", "error"}``); the means are over the pairs scored, and
    :class:`NothingScored` is raised when none was.
    """
    scores, failed = [], []
    for name, inp_path, tgt_path in match_pairs(Path(pairs)):
        try:
            inp, tgt = read_rgb_float(inp_path), read_rgb_float(tgt_path)
            start = time.perf_counter()
            out = restore(inp)
            seconds = time.perf_counter() - start
            if out.shape != tgt.shape:
                raise GlsgnError(
                    f"{inp_path}: the model made {out.shape[1]}x{out.shape[0]} of this {inp.shape[1]}x{inp.shape[0]} input, "
                    f"but its target {tgt_path} is {tgt.shape[1]}x{tgt.shape[0]}"
                )
        except GlsgnError as exc:
            if on_failed is None:
                raise
            failed.append({"name": name, "error": _naming(exc, inp_path)})
            on_failed(name, failed[-1]["error"])
            continue
        lanczos: tuple[float, float] | tuple[()] = ()
        if inp.shape != tgt.shape:  # super-resolution: compare the classical upscales, not the small input
            lanczos = _scores(pil_resize(inp, (tgt.shape[1], tgt.shape[0]), Image.LANCZOS), tgt)
            inp = bicubic_resize(inp, (tgt.shape[1], tgt.shape[0]))
        score = PairScore(name, *_scores(out, tgt, with_ssim), *_scores(inp, tgt, with_ssim), round(seconds, 3), *lanczos)
        scores.append(score)
        if crops is not None:
            crops[name] = _crop_where_it_changed(inp, out, tgt, crop_size)
        if on_pair is not None:
            on_pair(score)
    if not scores:
        raise NothingScored(f"{pairs}: none of the {len(failed)} pairs could be scored")
    keys = ("psnr", "ssim", "input_psnr", "input_ssim", "lanczos_psnr", "lanczos_ssim")
    columns = {k: [getattr(s, k) for s in scores] for k in keys}
    means = {k: float(np.mean(v)) for k, v in columns.items() if None not in v}  # lanczos_*: SR only
    # A mean can hide a photo the model ruined: name the photo with the smallest gain over its input.
    worst = min(scores, key=lambda s: s.psnr - s.input_psnr)
    return {
        "n": len(scores), **means, "gain": means["psnr"] - means["input_psnr"],
        "worst": {"name": worst.name, "psnr": worst.psnr, "input_psnr": worst.input_psnr, "gain": worst.psnr - worst.input_psnr},
        "images": [asdict(s) for s in scores], "failed": failed,
    }


def evaluate_clean(
    restore: Callable[[np.ndarray], np.ndarray],
    folder: str | Path,
    *,
    on_photo: Callable[[str, float], None] | None = None,
    with_ssim: bool = True,
    on_failed: Callable[[str, str], None] | None = None,
) -> dict:
    """No harm: restore photos with nothing to remove and score each output against its own input.

    A restorer should hand a clean photo back; the PSNR of output against input says how much it
    changed (identical images score ``inf``), and ``shift`` which way: the mean of output minus input
    in 8-bit levels (a model that darkens a whole photo shows up here, not only as lost dB). Returns
    ``{"n", "psnr" (mean), "worst": {"name", "psnr", "shift"}, "images": [{"name", "psnr", "ssim",
    "shift"}], "failed": [{"name", "error"}]}`` (with ``on_failed``: photos that could not be read or
    restored, skipped as in :func:`evaluate`).
    """
    from glsgn_core.data.datasets import list_images

    folder = Path(folder)
    photos = list_images(folder)
    if not photos:
        raise GlsgnError(f"{folder}: no images found to score as clean photos")
    rows, failed = [], []
    for path in photos:
        name = path.relative_to(folder).with_suffix("").as_posix()
        try:
            photo = read_rgb_float(path)
            out = restore(photo)
        except GlsgnError as exc:  # raised, or skipped and listed, as in evaluate()
            if on_failed is None:
                raise
            failed.append({"name": name, "error": _naming(exc, path)})
            on_failed(name, failed[-1]["error"])
            continue
        value, structure = _scores(out, photo, with_ssim)
        shift = float(np.mean(np.asarray(out, np.float64) - photo) * 255)
        rows.append({"name": name, "psnr": value, "ssim": structure, "shift": shift})
        if on_photo is not None:
            on_photo(name, value)
    if not rows:
        raise NothingScored(f"{folder}: none of the {len(failed)} photos could be scored")
    worst = min(rows, key=lambda r: r["psnr"])
    return {"n": len(rows), "psnr": float(np.mean([r["psnr"] for r in rows])), "worst": {"name": worst["name"], "psnr": worst["psnr"], "shift": worst["shift"]},
            "images": rows, "failed": failed}


def best_window(score: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left of the ``size`` x ``size`` window with the largest sum of ``score`` (H x W), searched
    on a grid of half-window steps: cheap on 4K images. ``size`` must fit in ``score``."""
    h, w = score.shape
    best, at = -1.0, (0, 0)
    for top in range(0, h - size + 1, max(size // 2, 1)):
        for left in range(0, w - size + 1, max(size // 2, 1)):
            total = float(score[top : top + size, left : left + size].sum())
            if total > best:
                best, at = total, (top, left)
    return at


def _crop_where_it_changed(inp: np.ndarray, out: np.ndarray, tgt: np.ndarray, size: int):
    h, w = inp.shape[:2]
    size = min(size, h, w)
    t, l = best_window(np.abs(out - inp).mean(axis=2), size)
    return tuple(x[t : t + size, l : l + size] for x in (inp, out, tgt))


def _png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def write_report(path: str | Path, result: dict, crops: dict, *, title: str) -> None:
    """A self-contained HTML page (images embedded), written atomically."""
    rows = []
    for img in result["images"]:
        cells = "".join(f'<td><img src="{_png_data_uri(c)}"></td>' for c in crops.get(img["name"], ()))
        rows.append(
            f"<tr><th>{html.escape(img['name'])}<br>restored {img['psnr']:.2f} dB / {img['ssim']:.4f}"
            f"<br>input {img['input_psnr']:.2f} dB / {img['input_ssim']:.4f}</th>{cells}</tr>"
        )
    page = f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} td img{{width:320px;image-rendering:pixelated}} th{{text-align:left;font-weight:normal;padding-right:1em}}</style>
<h1>{html.escape(title)}</h1>
<p>{result['n']} images. Mean PSNR / SSIM: restored <b>{result['psnr']:.2f} dB / {result['ssim']:.4f}</b>,
input {result['input_psnr']:.2f} dB / {result['input_ssim']:.4f}
(gain {result['psnr'] - result['input_psnr']:+.2f} dB).</p>
<table><tr><th></th><th>input</th><th>restored</th><th>ground truth</th></tr>
{''.join(rows)}
</table>
"""
    data = page.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
