"""Patch-grid seams and stripes: lines a GLSGN model adds on its patch grid, in 8-bit levels.

    .venv/bin/python benchmarks/seams.py MODEL [PHOTO ...] [--size LONG] [--json OUT]

GLSGN restores S1 as 4x4 patches and S2 as 2x2 patches of the padded image; where neighbouring
patches disagree, or a patch's edge comes out differently, the output has a step or a line on their
border. Strided layers can also leave lines at a fixed period (stripes). Both are measured on what
the model changed, R = output - input (channel mean), so the photo's own structure (JPEG's 8x8
blocks) cancels. Along every column, in segments of 32 rows, R is averaged over the segment's smooth
pixels (flat areas and gentle gradients: the input steps by under ``--smooth`` levels there), and
the jump of that average from one column to the next is taken; likewise for rows. Then:

- **seam**: per S1 patch border, the jump there (the largest within 1 pixel of it) minus the mean
  jump at the same position of every other padding period (``pad_multiple``) away from the
  borders, so a line repeated at the period is not counted as a seam; the mean over the borders
  and the worst border. 0: no seam.
- **stripes**: the jumps away from the borders and the image's edges, grouped by position modulo
  the padding period; the largest group's mean minus the median group's: a line repeated at that
  period (or at a divisor of it). 0: none.

Photos are restored whole (the working size is set to the largest image), each shrunk first to
``--size`` on its long side (default: the model's guide size, so a dehaze model runs at the size it
runs at for users; else full size), plus a synthetic sky, shrunk alike: a smooth 1920x1080
gradient with a little noise, the worst case for both.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np


def sky(h: int = 1080, w: int = 1920, seed: int = 0) -> np.ndarray:
    """Clear sky: deep blue at the top to pale at the horizon, lighter to one side, noise of 1 level."""
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    top, horizon = np.array([0.18, 0.36, 0.72], np.float32), np.array([0.78, 0.85, 0.92], np.float32)
    img = top + (horizon - top) * y**1.5 + 0.06 * x
    img = img * 255 + np.random.default_rng(seed).normal(0.0, 1.0, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


SEGMENT = 32  # rows averaged together along a column: a seam's sign may change along the border


def column_jumps(residual: np.ndarray, smooth: np.ndarray) -> np.ndarray:
    """(segments, W - 1): |change| of the segment's smooth-pixel mean residual from column x to x + 1,
    NaN where either column has fewer than half its segment smooth."""
    h = residual.shape[0] // SEGMENT * SEGMENT
    r = (residual[:h] * smooth[:h]).reshape(-1, SEGMENT, residual.shape[1]).sum(axis=1)
    n = smooth[:h].reshape(-1, SEGMENT, residual.shape[1]).sum(axis=1)
    mean = np.where(n >= SEGMENT // 2, r / np.maximum(n, 1), np.nan)
    return np.abs(np.diff(mean, axis=1))


def borders(n: int, multiple: int) -> list[int]:
    """S1's patch borders (the padded side split into S1's grid; S2's border among them) inside ``n`` pixels."""
    from glsgn_core.models.glsgn import LOCAL_GRIDS

    grid, padded = LOCAL_GRIDS[0], -(-n // multiple) * multiple
    return [k * padded // grid for k in range(1, grid) if k * padded // grid <= n - 3]


def seams(inp: np.ndarray, out: np.ndarray, multiple: int, smooth_levels: float) -> dict[str, float]:
    """One image's seam (mean over borders, worst border) and stripes figures, in levels."""
    with warnings.catch_warnings():  # columns with no smooth segment are NaN, and means of them too
        warnings.simplefilter("ignore", RuntimeWarning)
        return _seams(inp, out, multiple, smooth_levels)


def _seams(inp: np.ndarray, out: np.ndarray, multiple: int, smooth_levels: float) -> dict[str, float]:
    per_border, stripes = [], []
    for a, b in ((inp, out), (inp.transpose(1, 0, 2), out.transpose(1, 0, 2))):  # columns, then rows
        a, b = a.astype(np.float32), b.astype(np.float32)
        steps = np.abs(np.diff(a, axis=1)).mean(axis=2) < smooth_levels
        smooth = np.ones(a.shape[:2], bool)
        smooth[:, 1:] &= steps
        smooth[:, :-1] &= steps
        jumps = column_jumps((b - a).mean(axis=2), smooth)  # jumps[:, x - 1]: from column x - 1 to x
        n = a.shape[1]

        def near(x: int) -> float:  # the largest jump within 1 pixel of x, per segment, averaged
            return float(np.nanmean(np.nanmax(jumps[:, x - 2 : x + 1], axis=1))) if 2 <= x < jumps.shape[1] else np.nan

        edges = borders(n, multiple)
        for e in edges:
            # Control: the same position in every other padding period, away from any border, so a
            # line repeated at the period (stripes) is subtracted and only the border's own step stays.
            same = [x for x in range(e % multiple, n - 2, multiple) if x >= 3 and all(abs(x - f) > 2 for f in edges)]
            diff = near(e) - np.nanmean([near(x) for x in same]) if same else np.nan
            if np.isfinite(diff):
                per_border.append(diff)
        by_column = np.nanmean(jumps, axis=0)  # by_column[x - 1]: into column x
        x = np.arange(1, n)
        by_column[(x < 3) | (x > n - 3)] = np.nan  # image edges: padding, not the model
        for e in edges:  # borders are the seam's; keep them out of the stripes
            by_column[np.abs(x - e) <= 2] = np.nan
        groups = [np.nanmean(by_column[x % multiple == k]) for k in range(multiple)]
        stripes.append(float(np.nanmax(groups) - np.nanmedian(groups)))
    return {"seam": float(np.mean(per_border)) if per_border else float("nan"),
            "worst_border": float(np.max(per_border)) if per_border else float("nan"),
            "stripes": float(np.nanmax(stripes))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="registry name or weights file of a GLSGN model")
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("--size", type=int, help="shrink photos to this long side first (default: the model's guide size)")
    parser.add_argument("--smooth", type=float, default=2.0, help="largest input step, in levels, of a smooth pixel")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from glsgn_core import tasks
    from glsgn_core.data.datasets import read_image, shrink_to
    from glsgn_core.image_io import from_float, to_float
    from glsgn_core.restorer import Restorer
    from glsgn_core.weights.registry import default_model, get_entry, is_registered
    from glsgn_core.weights import load_model

    task = load_model(args.model)[1]["task"]
    if tasks.get(task).upscales:
        sys.exit(f"seams.py: {args.model} upscales; the seam measure is for GLSGN restoration models")
    name = args.model if is_registered(args.model) else default_model(task)
    size = args.size if args.size is not None else (get_entry(name).guide if is_registered(name) else 0)
    images = [(p.name, shrink_to(read_image(p), size or None)) for p in args.photos]
    images.append(("synthetic sky", shrink_to(sky(), size or None)))
    largest = (max(i.shape[0] for _, i in images), max(i.shape[1] for _, i in images))
    # Whole: a working size as large as the largest image, so the patch grid is the image's own.
    restorer = Restorer.from_pretrained(args.model, device="cpu", guide=0, window=largest)
    multiple = restorer.model.pad_multiple
    rows = []
    for name, img in images:
        img = from_float(to_float(img), np.uint8)
        r = seams(img, restorer.restore(img), multiple, args.smooth)
        rows.append({"photo": name, "size": f"{img.shape[1]}x{img.shape[0]}"} | r)
        print(f"{name:36s} {rows[-1]['size']:>9s}  seam {r['seam']:+5.2f}  worst border {r['worst_border']:+5.2f}  "
              f"stripes {r['stripes']:+5.2f} levels", flush=True)
    photos = [r for r in rows if r["photo"] != "synthetic sky"]
    if photos:
        print(f"{'photos':36s} {'':>9s}  seam {np.nanmean([r['seam'] for r in photos]):+5.2f}  worst border "
              f"{np.nanmax([r['worst_border'] for r in photos]):+5.2f}  stripes {np.nanmean([r['stripes'] for r in photos]):+5.2f}"
              f" (worst {np.nanmax([r['stripes'] for r in photos]):+5.2f})")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "size": size, "rows": rows}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
