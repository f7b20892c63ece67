"""Run a restoration model on a whole photo of any size: devices, precision, windows.

The model is anything that implements ``glsgn_core.models.base.RestorationModel``; the Restorer
reads nothing else from it. Up to the working size (default 3840x2160, either orientation) the model
runs on the whole image. Above it, overlapping windows each run the full model and are blended with
feathered weights; a model that needs the whole image while it restores a window (GLSGN's global
pathway) implements ``WindowContext`` and is given the whole image downscaled, once. Only windows
(and the small whole-image view) are moved to the device, uint8 windows as uint8; the image itself
stays in host memory in its own dtype.

With ``guide=N`` the model runs once on the photo downscaled to at most N pixels on its long side, and
the result is carried to full size by a guided filter (``glsgn_core.guided``): for degradations that
are smooth affine maps of the photo (haze), where the model does best seeing the whole scene at the
scale it was trained at.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from glsgn_core import tasks
from glsgn_core.errors import GlsgnError
from glsgn_core.guided import affine_fit, affine_rows
from glsgn_core.image_io import from_float, to_float
from glsgn_core.models.base import RestorationModel, WindowContext
from glsgn_core.runtime import autocast, resolve_device, resolve_precision
from glsgn_core.transfer import FINISHED, Staging, device_finish, device_unit, upload_view
from glsgn_core.windows import Window, spans, windowed_rows

DEFAULT_WINDOW = (2160, 3840)  # (height, width) of the working size
DEFAULT_OVERLAP = 64


def area_downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks of an (H, W, C) array, one strip at a time (flat memory).

    Edge blocks are completed by repeating the last row/column, so the result covers
    ``ceil(H / factor) * factor`` image rows; float32 in [0, 1].
    """
    h, w, c = image.shape
    hh, ww = -(-h // factor), -(-w // factor)
    out = np.empty((hh, ww, c), dtype=np.float32)
    for r in range(hh):
        strip = _unit(image[r * factor : (r + 1) * factor]).mean(axis=0)
        strip = np.pad(strip, ((0, ww * factor - w), (0, 0)), mode="edge")
        out[r] = strip.reshape(ww, factor, c).mean(axis=1)
    return out


def _unit(image: np.ndarray) -> np.ndarray:
    """Samples as float32 in [0, 1], the model's input range (float images may exceed it)."""
    if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
        raise GlsgnError(f"unsupported pixel type {image.dtype}; expected uint8, uint16 or float")
    x = to_float(image)
    return np.clip(x, 0.0, 1.0) if image.dtype.kind == "f" else x


class Restorer:
    """A model bound to a device and precision, restoring whole photos of any size.

    >>> restorer = Restorer.for_task("derain")                   # doctest: +SKIP
    >>> clean = restorer.restore(rainy_uint8_array)             # doctest: +SKIP
    """

    def __init__(
        self,
        model: RestorationModel,
        *,
        device: str = "auto",
        precision: str = "auto",
        window: tuple[int, int] = DEFAULT_WINDOW,
        overlap: int = DEFAULT_OVERLAP,
        channels_last: bool = True,
        compile: bool = False,
        guide: int | None = None,
    ) -> None:
        """``model``: a module that implements :class:`~glsgn_core.models.base.RestorationModel`.
        ``channels_last``: run the model in channels-last layout (False: contiguous NCHW).
        ``compile``: run it through ``torch.compile`` (each new input size pays a compilation).
        ``guide``: restore larger images at this long side and carry the result to full size with a
        guided filter (None or 0: restore at full size)."""
        if not isinstance(model, RestorationModel):
            raise TypeError(f"{type(model).__name__} does not implement RestorationModel (min_size, pad_multiple, scale, restore)")
        self.device, notice = resolve_device(device)
        self.notices: list[str] = [notice] if notice else []
        self.dtype = resolve_precision(precision, self.device, training=False)
        if min(window) < 64 or overlap < 0 or overlap > min(window) // 2:
            raise GlsgnError(f"window {window[1]}x{window[0]} with overlap {overlap}: need >= 64 px and an overlap of at most half a window")
        if min(window) < model.min_size:
            raise GlsgnError(f"window {window[1]}x{window[0]} is smaller than the model's minimum input")
        # Channels-last layout is what oneDNN (CPUs) and tensor cores (CUDA) convolve fastest: on the
        # idle 2-core benchmark, glsgn-full at 4K ran 1.43x faster in fp32 and 1.39x in bf16 with it.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.eval().to(self.device, memory_format=self.memory_format)
        self._forward = torch.compile(self.model.restore) if compile else self.model.restore
        self.window, self.overlap = window, overlap
        self.scale: int = model.scale  # upscalers return scale x larger images
        if guide and not 64 <= guide <= min(window):
            raise GlsgnError(f"guide size {guide}: need 64 to {min(window)} px (the working size's short side), or 0 for off")
        if guide and self.scale != 1:
            raise GlsgnError("a guide size applies to restoration models, not to upscalers")
        self.guide = guide or None
        self.metadata: dict = {}

    @classmethod
    def for_task(cls, task: str, *, scale: int | None = None, weights: str | None = None, **kwargs) -> Restorer:
        """The restorer for a task of :mod:`glsgn_core.tasks`: ``for_task("derain")``,
        ``for_task("upscale", scale=4)``. ``weights``: a registry name, file or URL instead of the
        task's default model.

        The task and scale are checked before anything is loaded, and the weights' own scale is
        checked from their metadata before their tensors are read.
        """
        chosen = tasks.get(task, scale)
        return cls.from_pretrained(weights or chosen.weights, task=chosen, **kwargs)

    @classmethod
    def from_pretrained(cls, spec: str, *, task: tasks.Task | None = None, **kwargs) -> Restorer:
        """``spec``: a registry name (e.g. ``glsgn-derain``), a weights file or a URL. ``task``: a
        :class:`glsgn_core.tasks.Task` whose scale the weights must have."""
        from glsgn_core.weights import declared_scale, load_weights_file, read_metadata, resolve
        from glsgn_core.weights.registry import get_entry, is_registered

        path = resolve(spec)
        if task is not None:
            _check_scale(task, spec, declared_scale(read_metadata(path)))
        model, metadata = load_weights_file(path)
        if kwargs.get("guide") is None and is_registered(spec):
            kwargs["guide"] = get_entry(spec).guide  # how the published model is meant to run
        restorer = cls(model, **kwargs)
        restorer.metadata = metadata
        return restorer

    # ------------------------------------------------------------------------------------------
    def restore(self, image: np.ndarray, on_window: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Restore an (H, W), (H, W, 1) or (H, W, 3) uint8, uint16 or float image; same shape and dtype
        out (``scale`` times larger per side for an upscaling model)."""
        squeeze = getattr(image, "ndim", 3) == 2
        out: np.ndarray | None = None
        for top, rows in self.restore_rows(image, on_window):
            if out is None and top == 0 and len(rows) == image.shape[0] * self.scale:
                out = rows  # restored whole: no copy
                break
            if out is None:
                out = np.empty((image.shape[0] * self.scale, image.shape[1] * self.scale, rows.shape[2]), rows.dtype)
            out[top : top + len(rows)] = rows
        assert out is not None
        return out[..., 0] if squeeze else out

    def restore_rows(self, image: np.ndarray, on_window: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """:meth:`restore`, yielding the result top to bottom as ``(first_row, rows)`` chunks of
        (n, W, C) rows, so that a writer can store them as they come.

        ``image`` is an array as for :meth:`restore`, or a band view of a file
        (:func:`glsgn_core.image_io.open_bands`: an object with an (H, W, C) ``shape``, a ``dtype`` and
        2-D slicing). Images up to the working size are read whole; larger ones a window at a time,
        so that neither the image nor the result is ever held whole.
        """
        if getattr(image, "ndim", 3) == 2:
            image = image[..., None]
        if len(image.shape) != 3 or image.shape[2] not in (1, 3):
            raise GlsgnError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {image.shape}")
        if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
            raise GlsgnError(f"unsupported pixel type {image.dtype}; expected uint8, uint16 or float")
        h, w = image.shape[:2]
        least = self.model.min_size
        if min(h, w) < least:
            raise GlsgnError(f"image is {w}x{h} pixels; this model needs at least {least}x{least}")
        return self._rows(image, on_window)  # checked above, before the first row is asked for

    def _rows(self, image, on_window) -> Iterator[tuple[int, np.ndarray]]:
        h, w = image.shape[:2]
        gray = image.shape[2] == 1

        def finish(rows: np.ndarray) -> np.ndarray:
            rows = rows.mean(axis=2, keepdims=True) if gray else rows
            if image.dtype.kind == "f" and image.dtype != np.float32:  # float16/float64 in: the same out
                return rows.astype(image.dtype)
            return from_float(rows, image.dtype)

        strategy, factor, win = self._strategy(h, w)
        if strategy == "guided":
            yield from self._restore_guided(image, factor, finish)
        elif strategy == "whole":
            whole = image[0:h, 0:w]
            # uint8/uint16/float32 are finished on the device: only they cross the bus back
            yield 0, self._run(whole, out_dtype=image.dtype) if image.dtype in FINISHED else finish(self._run(whole))
        else:
            yield from self._restore_windowed(image, win, finish, on_window)

    def runs_whole(self, h: int, w: int) -> bool:
        """Whether an h x w image goes through the model in one piece (and so is read whole)."""
        return self._strategy(h, w)[0] == "whole"

    def _strategy(self, h: int, w: int) -> tuple[str, int, tuple[int, int]]:
        """The three strategies, chosen here and nowhere else: ("guided", downscale factor, _),
        ("whole", 1, _) or ("windows", 1, window size)."""
        work, win = self._working_size(h, w)
        # Guided: downscale by a whole factor to fit the guide size, never below the model's minimum.
        factor = min(-(-max(h, w) // self.guide), min(h, w) // self.model.min_size) if self.guide else 1
        if factor > 1:
            return "guided", factor, win
        if h <= work[0] and w <= work[1]:
            return "whole", 1, win
        return "windows", 1, win

    def _restore_guided(self, image: np.ndarray, factor: int, finish: Callable[[np.ndarray], np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        small = area_downscale(image, factor)
        restored = self._run(small)
        if small.shape[2] == 1:  # the model saw the grey plane three times; fit it against all three
            small = np.repeat(small, 3, axis=2)
        a, b = affine_fit(small, restored)
        return affine_rows(image, a, b, factor, unit=_unit, finish=finish)

    def _restore_windowed(self, image: np.ndarray, win: tuple[int, int], finish, on_window) -> Iterator[tuple[int, np.ndarray]]:
        contexts: Callable[[Window], object] | None = None
        if isinstance(self.model, WindowContext):  # e.g. GLSGN's global pathway sees the whole image
            with torch.inference_mode(), autocast(self.device, self.dtype):
                contexts = self.model.window_context(image.shape[:2], win, lambda f: self._to_device(area_downscale(image, f)))
        return windowed_rows(
            image,
            lambda crop, box: self._run(crop, contexts(box) if contexts is not None else None),
            window=win,
            overlap=self.overlap,
            scale=self.scale,
            multiple=self.model.pad_multiple,
            finish=finish,
            on_window=on_window,
        )

    def _working_size(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """The working size in the image's orientation, and the largest window above it.

        Windows are at most what the plan gives an image of twice the working size (about 0.68 of it
        per side; 2624x1472 for 3840x2160 and glsgn's padding multiple), and multiples of the model's
        padding multiple, so that windows inside the image need no padding. The cap keeps peak memory
        flat: planning the fewest windows of the whole working size makes the window size, and the
        model's memory with it, a sawtooth of the image size (2624x1472 at 8K, 3136x1792 at 16K).
        """
        long_side, short_side = max(self.window), min(self.window)
        wh, ww = (short_side, long_side) if w >= h else (long_side, short_side)
        m = self.model.pad_multiple

        def cap(side: int) -> int:
            start, end = spans(2 * side, side, self.overlap, m)[0]
            return max(end - start, m)

        return (wh, ww), (cap(wh), cap(ww))

    @functools.cached_property
    def _staging(self) -> Staging:
        return Staging()

    def _to_device(self, pixels: np.ndarray) -> Tensor:
        """(H, W, C) pixels -> (1, 3, H, W) float32 in [0, 1] on the device, in the model's layout.

        The one host-to-device conversion: uint8 and uint16 pixels travel as they are (a quarter and
        a half of the bytes of float32) and are scaled on the device (``glsgn_core.transfer``, exactly
        as ``to_float``); float pixels are clipped to [0, 1] on the host first. On the CPU, uint16 is
        converted by numpy: 3x faster than torch there (41 against 125 ms at 4K), and no bus to cross.
        """
        if pixels.dtype == np.uint8 or (pixels.dtype == np.uint16 and self.device.type != "cpu"):
            x = device_unit(self._staging.upload(upload_view(pixels), self.device), pixels.dtype)
        else:
            x = self._staging.upload(_unit(pixels), self.device)
        x = x.permute(2, 0, 1)[None]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return x.contiguous(memory_format=self.memory_format)

    def _run(self, pixels: np.ndarray, context: object | None = None, *, out_dtype: Any = None) -> np.ndarray:
        """Run the model on (H, W, C) pixels.

        Without ``out_dtype``: (H', W', 3) float32 clamped to [0, 1] (what windows are blended from).
        With it: the finished image, (H', W', C) samples of ``out_dtype``, the same bits as
        ``from_float`` of that float output (of its channel mean for grey pixels), converted on the
        device so that only those samples cross the bus.
        """
        with torch.inference_mode():
            with autocast(self.device, self.dtype):
                x = self._to_device(pixels)
                y = self._forward(x) if context is None else self._forward(x, context)
            gray = pixels.shape[2] == 1
            if out_dtype is not None and np.dtype(out_dtype) in FINISHED:
                out = self._staging.download(device_finish(y, out_dtype, gray=gray))
                return out.view(np.uint16) if np.dtype(out_dtype) == np.uint16 else out
            rows = y.float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()  # windows: blended on the host
        if out_dtype is None:
            return rows
        return from_float(rows.mean(axis=2, keepdims=True) if gray else rows, out_dtype)  # from_float's own rules


def _check_scale(task: tasks.Task, spec: str, scale: int) -> None:
    """Refuse weights whose output size is not the task's (e.g. x4 weights for ``--scale 2``)."""
    if scale == task.scale:
        return
    if not task.upscales:
        raise GlsgnError(f"{spec}: the model upscales x{scale}; {task.name} needs a model trained for {task.name} (use `glsgn upscale` for this one)")
    does = f"upscales x{scale}" if scale > 1 else "does not upscale (x1)"
    raise GlsgnError(f"{spec}: the model {does}, but --scale {task.scale} was asked; use weights trained for x{task.scale}"
                     + (f" or --scale {scale}" if scale > 1 else ""))  # fmt: skip
