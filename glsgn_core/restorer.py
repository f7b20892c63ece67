"""Run a restoration model on a whole photo of any size: devices, precision, windows.

Up to the working size (default 3840x2160, either orientation) the model's 16/4/1 hierarchy runs on
the whole image. Above it, overlapping windows each run the full hierarchy, the global pathway runs
once on the whole image downscaled to a quarter of the working size, every window takes its crop of
that global view, and windows are blended with feathered weights. Only windows (and the small global
view) are moved to the device; the image itself stays in host memory in its own dtype.

With ``guide=N`` the model runs once on the photo downscaled to at most N pixels on its long side, and
the result is carried to full size by a guided filter (``glsgn_core.guided``): for degradations that
are smooth affine maps of the photo (haze), where the model does best seeing the whole scene at the
scale it was trained at.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glsgn_core.errors import GlsgnError
from glsgn_core.guided import affine_fit, apply_affine
from glsgn_core.image_io import from_float, to_float
from glsgn_core.windows import Window, run_windowed

TASKS = ("derain", "dehaze", "dereflect")
DEFAULT_WINDOW = (2160, 3840)  # (height, width) of the working size
DEFAULT_OVERLAP = 64
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(spec: str) -> tuple[torch.device, str | None]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> (device, notice or None). Explicit CUDA without CUDA is an error."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda"), None
        if not torch.backends.cuda.is_built():  # a CPU-only torch: the CPU is what was installed
            return torch.device("cpu"), None
        return torch.device("cpu"), "no CUDA device available, running on the CPU"
    if spec == "cpu":
        return torch.device("cpu"), None
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise GlsgnError(
                f"--device {spec}: CUDA is not available (no GPU visible or a CPU-only torch build); "
                "use --device cpu or auto, or install a CUDA build of torch"
            )
        try:
            dev = torch.device(spec)
        except RuntimeError:
            raise GlsgnError(f"--device {spec!r} is not a device; use auto, cpu, cuda or cuda:N") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise GlsgnError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev, None
    raise GlsgnError(f"--device {spec!r} is not a device; use auto, cpu, cuda or cuda:N")


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bf16 natively (avx512_bf16 or AMX), from /proc/cpuinfo's flags.

    Other CPUs emulate bf16 and run slower than fp32, so 'auto' keeps fp32 there.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(spec: str, device: torch.device) -> torch.dtype:
    """'auto' picks bf16 where it is native (CUDA devices that support it, CPUs with avx512_bf16 or
    AMX) and fp32 elsewhere. bf16 keeps the bundled models within 0.04 dB of fp32 on our held-out
    photos (docs/BENCHMARKS.md)."""
    if spec not in PRECISIONS:
        raise GlsgnError(f"--precision {spec!r} is not one of {', '.join(PRECISIONS)}")
    if spec == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if native_bf16() else torch.float32
    if spec == "fp16" and device.type != "cuda":
        raise GlsgnError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[spec]


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

    >>> restorer = Restorer.from_pretrained("glsgn-derain")      # doctest: +SKIP
    >>> clean = restorer.restore(rainy_uint8_array)             # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str = "auto",
        precision: str = "auto",
        window: tuple[int, int] = DEFAULT_WINDOW,
        overlap: int = DEFAULT_OVERLAP,
        channels_last: bool = True,
        compile: bool = False,
        guide: int | None = None,
    ) -> None:
        """``channels_last``: run the model in channels-last layout (False: contiguous NCHW).
        ``compile``: run it through ``torch.compile`` (each new input size pays a compilation).
        ``guide``: restore larger images at this long side and carry the result to full size with a
        guided filter (None or 0: restore at full size)."""
        self.device, notice = resolve_device(device)
        self.notices: list[str] = [notice] if notice else []
        self.dtype = resolve_precision(precision, self.device)
        if min(window) < 64 or overlap < 0 or overlap > min(window) // 2:
            raise GlsgnError(f"window {window[1]}x{window[0]} with overlap {overlap}: need >= 64 px and an overlap of at most half a window")
        if min(window) < getattr(model, "min_size", 1):
            raise GlsgnError(f"window {window[1]}x{window[0]} is smaller than the model's minimum input")
        # Channels-last layout is what oneDNN (CPUs) and tensor cores (CUDA) convolve fastest: on the
        # idle 2-core benchmark, glsgn-full at 4K ran 1.43x faster in fp32 and 1.39x in bf16 with it.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.eval().to(self.device, memory_format=self.memory_format)
        self._forward = torch.compile(self.model) if compile else self.model
        self.window, self.overlap = window, overlap
        self.scale: int = getattr(model, "scale", 1)  # upscalers return scale x larger images
        if guide and not 64 <= guide <= min(window):
            raise GlsgnError(f"guide size {guide}: need 64 to {min(window)} px (the working size's short side), or 0 for off")
        if guide and self.scale != 1:
            raise GlsgnError("a guide size applies to restoration models, not to upscalers")
        self.guide = guide or None
        self.metadata: dict = {}

    @classmethod
    def from_pretrained(cls, spec: str, **kwargs) -> Restorer:
        """``spec``: a registry name (e.g. ``glsgn-derain``), a weights file or a URL."""
        from glsgn_core.weights import load_model
        from glsgn_core.weights.registry import get_entry, is_registered

        model, metadata = load_model(spec)
        if kwargs.get("guide") is None and is_registered(spec):
            kwargs["guide"] = get_entry(spec).guide  # how the published model is meant to run
        restorer = cls(model, **kwargs)
        restorer.metadata = metadata
        return restorer

    # ------------------------------------------------------------------------------------------
    def restore(self, image: np.ndarray, on_window: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Restore an (H, W), (H, W, 1) or (H, W, 3) uint8, uint16 or float image; same shape and dtype
        out (``scale`` times larger per side for an upscaling model)."""
        squeeze = image.ndim == 2
        if squeeze:
            image = image[..., None]
        if image.ndim != 3 or image.shape[2] not in (1, 3):
            raise GlsgnError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {image.shape}")
        h, w = image.shape[:2]
        least = getattr(self.model, "min_size", 64)
        if min(h, w) < least:
            raise GlsgnError(f"image is {w}x{h} pixels; this model needs at least {least}x{least}")
        gray = image.shape[2] == 1

        def finish(rows: np.ndarray) -> np.ndarray:
            return from_float(rows.mean(axis=2, keepdims=True) if gray else rows, image.dtype)

        work, win = self._working_size(h, w)
        # Guided: downscale by a whole factor to fit the guide size, never below the model's minimum.
        factor = min(-(-max(h, w) // self.guide), min(h, w) // least) if self.guide else 1
        if factor > 1:
            out = self._restore_guided(image, factor, finish)
        elif h <= work[0] and w <= work[1]:
            out = finish(self._run(_unit(image)))
        else:
            # A model without a global pathway (e.g. an upscaler) runs its windows independently.
            context = self._global_view(image, win) if hasattr(self.model, "global_pass") else None
            out = run_windowed(
                image,
                lambda crop, box: self._run(_unit(crop), context, box),
                window=win,
                overlap=self.overlap,
                scale=self.scale,
                multiple=getattr(self.model, "pad_multiple", 1),
                finish=finish,
                on_window=on_window,
            )
        return out[..., 0] if squeeze else out

    def _restore_guided(self, image: np.ndarray, factor: int, finish: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        small = area_downscale(image, factor)
        restored = self._run(small)
        if small.shape[2] == 1:  # the model saw the grey plane three times; fit it against all three
            small = np.repeat(small, 3, axis=2)
        a, b = affine_fit(small, restored)
        return apply_affine(image, a, b, factor, unit=_unit, finish=finish)

    def _working_size(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """The working size in the image's orientation, and the window size: the working size rounded
        down to the model's padding multiple, so that windows inside the image need no padding."""
        long_side, short_side = max(self.window), min(self.window)
        wh, ww = (short_side, long_side) if w >= h else (long_side, short_side)
        m = getattr(self.model, "pad_multiple", 1)
        return (wh, ww), (max(wh // m * m, m), max(ww // m * m, m))

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _run(self, crop: np.ndarray, context=None, box: Window | None = None) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].to(self.device)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = x.contiguous(memory_format=self.memory_format)
        with torch.inference_mode(), self._autocast():
            if context is None:
                y = self._forward(x)
            else:
                y = self._forward(x, context=self._crop_context(context, box, x.shape[-2:]))
            y = getattr(y, "image", y)  # GLSGN returns every pathway's output; only the image is kept
            return y.float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()

    def _global_view(self, image: np.ndarray, win: tuple[int, int]):
        """Run the global pathway once on the whole image, downscaled to fit a quarter window."""
        h, w = image.shape[:2]
        factor = max(-(-h * 4 // win[0]), -(-w * 4 // win[1]), 1)
        small = area_downscale(image, factor)
        x = torch.from_numpy(small).permute(2, 0, 1)[None].to(self.device)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = x.contiguous(memory_format=self.memory_format)
        with torch.inference_mode(), self._autocast():
            out = self.model.global_pass(x)
        # The global view covers ceil(H / factor) * factor image rows (and likewise columns).
        return out, (small.shape[0] * factor, small.shape[1] * factor)

    def _crop_context(self, context, box: Window, size: tuple[int, int]):
        """The global view's maps over this window's padded extent, at a quarter of its padded size."""
        (view, extent) = context
        m = self.model.pad_multiple
        hp, wp = -(-size[0] // m) * m, -(-size[1] // m) * m
        qh, qw = hp // 4, wp // 4
        ys = box.top + (torch.arange(qh, device=self.device) + 0.5) * 4
        xs = box.left + (torch.arange(qw, device=self.device) + 0.5) * 4
        gy, gx = torch.meshgrid(2 * ys / extent[0] - 1, 2 * xs / extent[1] - 1, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)[None]

        def sample(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            return F.grid_sample(t, grid.to(t.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)

        return type(view)(
            image=sample(view.image),
            features=sample(view.features),
            attention=None,  # the global pathway's own encoder attention is not passed on
            mask=sample(view.mask),
            decoded_attention=sample(view.decoded_attention),
        )
