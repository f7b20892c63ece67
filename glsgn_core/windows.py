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

    Each window's weighted result is summed in float32 with what earlier windows left on its area,
    and the part no later window touches is passed to ``finish`` (float32 -> output samples, e.g.
    uint8; default: kept as float32) at once. What carries over is float32 only where windows
    overlap: the strip a window shares with the next one in its row, and the rows a row of windows
    shares with the next row. Finished rows wait in the output's own type until their row of windows
    is done, and are yielded in chunks. So the float working set is a window and one overlap band,
    and nothing scales with the image but one row of finished output.
    """
    finish = finish or (lambda rows: rows)
    h, w = image.shape[:2]
    rows, cols = spans(h, window[0], overlap, multiple), spans(w, window[1], overlap, multiple)
    row_w, col_w = feathers(rows, h, overlap // 2), feathers(cols, w, overlap // 2)
    s = scale
    carry: np.ndarray | None = None  # float sums for output rows [top, prev_bottom), every column
    total, done = len(rows) * len(cols), 0
    for i, ((top, bottom), wy) in enumerate(zip(rows, row_w)):
        next_top = rows[i + 1][0] if i + 1 < len(rows) else h  # rows from here on get more windows
        finished: np.ndarray | None = None  # output rows [top, next_top), in the output's type
        below: np.ndarray | None = None  # float sums for rows [next_top, bottom), for the next row
        left_over: np.ndarray | None = None  # float sums for columns [next left, right) of this row
        covered = 0  # columns up to here have taken their share of ``carry``
        for j, ((left, right), wx) in enumerate(zip(cols, col_w)):
            next_left = cols[j + 1][0] if j + 1 < len(cols) else w
            result = process(image[top:bottom, left:right], Window(top, left, bottom, right))
            acc = result * np.outer(np.repeat(wy, s), np.repeat(wx, s)).astype(np.float32)[..., None]
            acc = acc.astype(np.float32, copy=False)
            if left_over is not None:  # the previous window's share of this window's left strip
                acc[:, : left_over.shape[1]] += left_over
            if carry is not None and covered < right:  # the row above's share, once per column
                acc[: len(carry), (covered - left) * s :] += carry[:, covered * s : right * s]
            covered = right
            if finished is None:
                probe = finish(acc[:1, :1])  # the output's type and channels (grey results are averaged)
                finished = np.empty(((next_top - top) * s, w * s, probe.shape[2]), dtype=probe.dtype)
                below = np.zeros(((bottom - next_top) * s, w * s, acc.shape[2]), np.float32)
            done_cols = slice(left * s, next_left * s)
            finished[:, done_cols] = finish(acc[: (next_top - top) * s, : (next_left - left) * s])
            below[:, done_cols] = acc[(next_top - top) * s :, : (next_left - left) * s]
            left_over = acc[:, (next_left - left) * s :]
            done += 1
            if on_window is not None:
                on_window(done, total)
        assert finished is not None
        carry = below
        for r in range(0, len(finished), chunk_rows):
            yield top * s + r, finished[r : r + chunk_rows]
