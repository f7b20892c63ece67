"""Pixels to and from the device, with only integer samples crossing the bus.

uint8 and uint16 pixels are uploaded as they are and scaled to [0, 1] on the device; on the way back
the model's output is clamped, (grey images) averaged, scaled, rounded and laid out as (H, W, C) on
the device, so a 4K uint8 photo crosses the bus as 25 MB each way instead of 100 MB of float32, and
the host does none of the per-sample work. (On an H100 glsgn-full restored a 4K photo in 0.21 s, 90x
its FLOP-bound time; the host-side conversions around the network alone take 0.25 s on the 2-core
CPU: docs/BENCHMARKS.md.)

Every conversion gives the same bits as the host's ``to_float`` / ``from_float``:
- divisions divide by a device tensor, never by a Python number: CUDA turns division by a host
  scalar into multiplication by its reciprocal, which differs in the last bit for 126 of the 256
  uint8 values (x / 255) and for a third of all grey means (x / 3);
- rounding is torch.round (half to even, as np.rint); the grey mean adds the channels left to
  right, as numpy's ``mean(axis=2)`` does;
- uint16 travels as int16 with the same bits (torch < 2.3 has no uint16, and later versions
  support it in few kernels); the conversions go through u - 32768, which int16 holds exactly.

On CUDA the Restorer's uploads and finished images go through pinned host buffers reused across
calls (``Staging``); on the CPU the tensors are the arrays themselves: nothing is copied or pinned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

SCALES = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
FINISHED = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))  # what ``device_finish`` gives


def _divide_(x: Tensor, divisor: float) -> Tensor:
    """``x /= divisor`` in place, rounded as IEEE division (as numpy does), on any device."""
    return x.div_(torch.full((), divisor, dtype=x.dtype, device=x.device))


def upload_view(pixels: np.ndarray) -> np.ndarray:
    """The array to send for integer ``pixels``: uint16 as int16 with the same bits."""
    return pixels.view(np.int16) if pixels.dtype == np.uint16 else pixels


def device_unit(x: Tensor, source: Any) -> Tensor:
    """Samples uploaded from ``upload_view`` of a ``source``-typed array -> float32 in [0, 1],
    bit-identical to ``to_float`` on the host."""
    source = np.dtype(source)
    if source == np.uint8:
        return _divide_(x.float(), 255)
    if source == np.uint16:  # int16 bits b of a uint16 u: b ^ 0x8000 is u - 32768 as a signed number
        return _divide_((x ^ -32768).float().add_(32768), 65535)
    raise TypeError(f"device_unit: unsupported dtype {source}")


def device_finish(y: Tensor, dtype: Any, *, gray: bool) -> Tensor:
    """Model output (1, 3, H, W) -> (H, W, C) samples of ``dtype``, C = 1 when ``gray``.

    Bit-identical to the host path ``from_float(rows.mean(axis=2, keepdims=True) if gray else rows,
    dtype)`` with ``rows = y.float().clamp(0, 1)[0].permute(1, 2, 0)``. uint16 comes back as int16
    with the same bits (``.numpy().view(np.uint16)``). C-contiguous.
    """
    dtype = np.dtype(dtype)
    if dtype not in FINISHED:
        raise TypeError(f"device_finish: unsupported dtype {dtype}")
    rows = y.float()
    rows = rows.clamp(0, 1) if rows is y else rows.clamp_(0, 1)  # never write into the model's tensor
    if gray:
        rows = _divide_(rows[:, 0:1] + rows[:, 1:2] + rows[:, 2:3], 3)
    if dtype != np.float32:
        # The values are in [0, 1] or NaN here, so from_float's clip after nan_to_num changes nothing.
        rows = rows.nan_to_num_(nan=0.0).mul_(SCALES[dtype]).round_()
        if dtype == np.uint8:
            rows = rows.to(torch.uint8)
        else:  # u - 32768 fits int16 exactly; flipping its sign bit gives u's bits (no cast that overflows)
            rows = rows.sub_(32768).to(torch.int16).bitwise_xor_(-32768)
    return rows[0].permute(1, 2, 0).contiguous()


class Staging:
    """Pinned host buffers for CUDA transfers, one per (direction, shape, dtype), reused across calls.

    Pinned memory lets the copy engine read and write host memory directly, and an upload from it
    can be ``non_blocking``. At most ``capacity`` buffers are kept (the oldest go first): windows
    of one image share a size, so two or three are in use at a time.
    """

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._buffers: dict[tuple, tuple[Tensor, Any]] = {}  # key -> (buffer, event of its last upload)

    def _buffer(self, key: tuple, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        if key not in self._buffers:
            while len(self._buffers) >= self.capacity:
                self._wait(self._buffers.pop(next(iter(self._buffers))))
            self._buffers[key] = (torch.empty(shape, dtype=dtype, pin_memory=True), None)
        buffer, pending = self._buffers[key]
        self._wait((buffer, pending))  # an upload still reading the buffer must end before it is rewritten
        return buffer

    @staticmethod
    def _wait(entry: tuple[Tensor, Any]) -> None:
        if entry[1] is not None:
            entry[1].synchronize()

    def upload(self, array: np.ndarray, device: torch.device) -> Tensor:
        """``array`` as a tensor on ``device`` (on the CPU: the array itself, not copied)."""
        source = torch.from_numpy(np.ascontiguousarray(array))
        if device.type != "cuda":
            return source
        key = ("up", tuple(source.shape), source.dtype)
        buffer = self._buffer(key, tuple(source.shape), source.dtype)
        buffer.copy_(source)
        x = buffer.to(device, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(device))
        self._buffers[key] = (buffer, event)
        return x

    def download(self, t: Tensor) -> np.ndarray:
        """``t`` as a numpy array the caller owns (on the CPU: a view of ``t``, not copied)."""
        if t.device.type != "cuda":
            return t.numpy()
        buffer = self._buffer(("down", tuple(t.shape), t.dtype), tuple(t.shape), t.dtype)
        buffer.copy_(t, non_blocking=True)
        torch.cuda.current_stream(t.device).synchronize()
        return buffer.numpy().copy()  # the buffer is reused by the next call of this size
