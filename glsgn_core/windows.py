"""Overlapping windows with feathered blending, for images larger than the working size.

Blending weights are separable: each window's weight is a product of a vertical and a horizontal
feather, and the normaliser of a product of per-axis sums is the product of per-axis normalisers.
So the weights are normalised along each axis independently, sum to exactly one everywhere, and no
full-size weight map is ever allocated: memory stays flat as images grow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np


@dataclass(frozen=True)
class Window:
    top: int
    left: int
    bottom: int
    right: int

    @property
    def size(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left


def spans(length: int, window: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """Cover [0, length) with the fewest windows of at most ``window`` pixels overlapping by at least
    ``overlap``.

    Windows are then shrunk to the smallest multiple of ``multiple`` that still covers the length
    with that overlap (so an 8K side takes 3 windows of ~2.7K, not 3 of 3.8K), and evenly spaced:
    the first starts at 0 and the last ends at ``length``.
    """
    if length <= window:
        return [(0, length)]
    window = max(window // multiple * multiple, multiple)
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be in [0, window={window})")
    n = math.ceil((length - overlap) / (window - overlap))
    needed = math.ceil((length + (n - 1) * overlap) / n)
    window = min(window, math.ceil(needed / multiple) * multiple)
    starts = np.linspace(0, length - window, n).round().astype(int)
    return [(int(s), int(s) + window) for s in starts]


def feathers(axis_spans: list[tuple[int, int]], length: int, feather: int) -> list[np.ndarray]:
    """Per-window 1D weights over each span, normalised so that they sum to 1 at every coordinate.

    A window's raw weight rises linearly over ``feather`` pixels from each edge it shares with the
    image's interior; edges on the image border keep full weight (nothing else covers them).
    """
    raw = []
    for start, end in axis_spans:
        x = np.arange(start, end, dtype=np.float64) + 0.5
        w = np.ones(end - start)
        if feather > 0:
            if start > 0:
                w = np.minimum(w, (x - start) / feather)
            if end < length:
                w = np.minimum(w, (end - x) / feather)
        raw.append(np.maximum(w, 1e-6))
    total = np.zeros(length)
    for (start, end), w in zip(axis_spans, raw):
        total[start:end] += w
    return [w / total[start:end] for (start, end), w in zip(axis_spans, raw)]


def run_windowed(
    image: np.ndarray,
    process: Callable[[np.ndarray, Window], np.ndarray],
    *,
    window: tuple[int, int],
    overlap: int,
    scale: int = 1,
    multiple: int = 1,
    finish: Callable[[np.ndarray], np.ndarray] | None = None,
    on_window: Callable[[int, int], None] | None = None,
    chunk_rows: int = 256,
) -> np.ndarray:
    """:func:`windowed_rows`, collected into one output array."""
    out: np.ndarray | None = None
    for top, rows in windowed_rows(image, process, window=window, overlap=overlap, scale=scale, multiple=multiple,
                                   finish=finish, on_window=on_window, chunk_rows=chunk_rows):
        if out is None:
            out = np.empty((image.shape[0] * scale, image.shape[1] * scale, rows.shape[2]), dtype=rows.dtype)
        out[top : top + len(rows)] = rows
    assert out is not None
    return out


def windowed_rows(
    image: np.ndarray,
    process: Callable[[np.ndarray, Window], np.ndarray],
    *,
    window: tuple[int, int],
    overlap: int,
    scale: int = 1,
    multiple: int = 1,
    finish: Callable[[np.ndarray], np.ndarray] | None = None,
    on_window: Callable[[int, int], None] | None = None,
    chunk_rows: int = 256,
) -> Iterator[tuple[int, np.ndarray]]:
    """Apply ``process`` to overlapping windows of an (H, W, C) image, blend the results, and yield the
    output top to bottom as ``(first_row, rows)`` chunks of at most ``chunk_rows`` rows.

    ``image`` is an array or anything with ``shape`` and 2-D slicing (``image[t:b, l:r]``), e.g. a
    file read a band at a time: only windows are ever read from it. ``window`` is (height, width);
    ``process(crop, window)`` returns the crop's result, ``scale`` times larger per side (1 for
    restoration, 2 or 4 for upscaling). Window sides are multiples of ``multiple`` unless a window
    spans the whole side.

    Results are summed in float32 one row of windows (a band) at a time. Rows that no later window
    touches are passed to ``finish`` (float32 rows -> output rows, e.g. conversion to uint8; default:
    kept as float32) and yielded. So the float working set is one band, never the whole image.
    """
    finish = finish or (lambda rows: rows)
    h, w = image.shape[:2]
    rows, cols = spans(h, window[0], overlap, multiple), spans(w, window[1], overlap, multiple)
    row_w, col_w = feathers(rows, h, overlap // 2), feathers(cols, w, overlap // 2)
    band: np.ndarray | None = None  # float sums over output rows [band_top, band_top + len(band))
    band_top = 0

    def flush(until: int) -> Iterator[tuple[int, np.ndarray]]:
        """Finish and yield the band's rows above output row ``until``, then move the rows below it
        (partial sums the next row of windows adds to) to the top of the band, in place."""
        nonlocal band_top
        assert band is not None
        for r in range(band_top, until, chunk_rows):
            end = min(r + chunk_rows, until)
            yield r, finish(band[r - band_top : end - band_top])
        keep = until - band_top
        band[: len(band) - keep] = band[keep:]
        band[len(band) - keep :] = 0
        band_top = until

    total, done = len(rows) * len(cols), 0
    for (top, bottom), wy in zip(rows, row_w):
        if band is not None:
            yield from flush(top * scale)  # rows above this row of windows are complete
        for (left, right), wx in zip(cols, col_w):
            win = Window(top, left, bottom, right)
            result = process(image[top:bottom, left:right], win)
            if band is None:  # as tall as the tallest row of windows, allocated once
                band = np.zeros((max(b - t for t, b in rows) * scale, w * scale, result.shape[2]), dtype=np.float32)
            weight = np.outer(np.repeat(wy, scale), np.repeat(wx, scale)).astype(np.float32)[..., None]
            band[: (bottom - top) * scale, left * scale : right * scale] += result * weight
            done += 1
            if on_window is not None:
                on_window(done, total)
    yield from flush(h * scale)
