"""Single measurements, each meant to run in a fresh process so that its peak RSS is its own.

    python benchmarks/workers.py '{"kind": "restore", "model": "glsgn-full", "size": "3840x2160"}'

prints one JSON object on its last line. ``run.py`` drives these; each also works alone. Kinds:

- ``conv``: this machine's convolution throughput (FLOPs/s of a 3x3 conv per channel count), the
  yardstick for "fraction of the machine's limit".
- ``restore``: ``Restorer.restore`` on a smooth synthetic uint8 image: seconds, peak RSS.
- ``precision``: fp32 vs bf16 autocast vs ``channels_last`` on a real photo: seconds and the PSNR of
  each variant's output against fp32's.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HELDOUT = Path("/work/data/heldout")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def synthetic_image(w: int, h: int) -> np.ndarray:
    """A smooth photo-like uint8 image, built one row band at a time so a 16K frame costs only its own bytes."""
    out = np.empty((h, w, 3), dtype=np.uint8)
    xx = np.arange(w, dtype=np.float32)
    for top in range(0, h, 256):
        yy = np.arange(top, min(top + 256, h), dtype=np.float32)[:, None]
        band = np.stack(np.broadcast_arrays(xx / w, yy / h, 0.5 + 0.25 * np.sin(xx / 97) * np.cos(yy / 61)), -1)
        out[top : top + len(yy)] = (band * 255).astype(np.uint8)
    return out


def photo(w: int, h: int) -> tuple[np.ndarray, str]:
    """A held-out photo scaled to cover (w, h) and centre-cropped, float32 in [0, 1]."""
    from PIL import Image

    path = sorted(HELDOUT.glob("*.jpg"))[0]
    img = Image.open(path).convert("RGB")
    s = max(w / img.width, h / img.height)
    if s != 1:
        img = img.resize((round(img.width * s), round(img.height * s)), Image.BICUBIC)
    left, top = (img.width - w) // 2, (img.height - h) // 2
    img = img.crop((left, top, left + w, top + h))
    return np.asarray(img, dtype=np.float32) / 255.0, path.name


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device, min_runs: int = 1, min_seconds: float = 0.0, max_runs: int = 100) -> list[float]:
    """Seconds per call of ``fn``: at least ``min_runs`` calls, more until ``min_seconds`` have passed."""
    times: list[float] = []
    while len(times) < min_runs or (sum(times) < min_seconds and len(times) < max_runs):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


# ---------------------------------------------------------------------------------------------------
def conv(spec: dict[str, Any]) -> dict[str, Any]:
    """FLOPs/s of a C->C 3x3 convolution on a (1, C, S, S) input (S halved for C >= 128), fp32 (and bf16 autocast) in both
    memory formats. The best of these is the machine's attainable convolution throughput."""
    device = torch.device(spec.get("device", "cpu"))
    results = []
    for c in spec.get("channels", [96]):
        side = int(spec.get("side", 512)) // (2 if c >= 128 else 1)  # wide layers: a quarter of the area, similar FLOPs
        layer = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).to(device).eval()
        flops = 2 * c * c * 9 * side * side
        for fmt in ("contiguous", "channels_last"):
            mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
            layer = layer.to(memory_format=mf)
            x = torch.randn(1, c, side, side, device=device).contiguous(memory_format=mf)
            for precision in spec.get("precisions", ["fp32"]):
                dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
                ctx = torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32")
                with torch.inference_mode(), ctx:
                    _timed(lambda: layer(x), device, min_runs=2)  # oneDNN primitive creation, caches
                    times = _timed(lambda: layer(x), device, min_seconds=float(spec.get("seconds", 1.0)), min_runs=3)
                best = min(times)
                results.append({"channels": c, "side": side, "format": fmt, "precision": precision,
                                "seconds": best, "flops": flops, "flops_per_s": flops / best})  # fmt: skip
    return {"kind": "conv", "device": str(device), "threads": torch.get_num_threads(), "results": results}


PRECISION_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def _build(name: str) -> torch.nn.Module:
    from glsgn_core.models import create_model

    torch.manual_seed(0)
    return create_model(name).eval()  # the Restorer sets the memory format


def repeats(spec: dict[str, Any], min_seconds: float = 15.0) -> dict[str, Any]:
    """Run once, and again until ``min_seconds`` have passed (at most 5 runs); with more than one run the
    first counts as a warm-up (oneDNN primitive creation) and the fastest of the others is reported."""
    return {"min_runs": int(spec.get("min_runs", 1)), "min_seconds": float(spec.get("min_seconds", min_seconds)), "max_runs": 5}


def restore(spec: dict[str, Any]) -> dict[str, Any]:
    """Seconds and peak memory of ``Restorer.restore`` at one size (runs as in :func:`repeats`)."""
    from glsgn_core.restorer import Restorer

    w, h = parse_size(spec["size"])
    restorer = Restorer(_build(spec["model"]), device=spec.get("device", "cpu"), precision=spec.get("precision", "fp32"),
                        channels_last=spec.get("channels_last", True))  # fmt: skip
    restorer.restore(synthetic_image(128, 128))  # one-off start-up costs (thread pool, lazy init) stay out of the timing
    image = synthetic_image(w, h)
    rss_before = current_rss_mb()
    if restorer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    windows = [0]

    def on_window(done: int, total: int) -> None:
        windows[0] = total

    times = _timed(lambda: restorer.restore(image, on_window=on_window), restorer.device, **repeats(spec))
    timed = times[1:] or times
    result = {
        "kind": "restore", "model": spec["model"], "size": spec["size"], "megapixels": w * h / 1e6,
        "device": str(restorer.device), "precision": PRECISION_NAMES[restorer.dtype],
        "channels_last": restorer.memory_format == torch.channels_last, "threads": torch.get_num_threads(),
        "seconds": min(timed), "first_seconds": times[0], "runs": len(times), "windows": windows[0] or 1,
        "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb(),
    }  # fmt: skip
    if restorer.device.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["device_name"] = torch.cuda.get_device_name(restorer.device)
    return result


VARIANTS = {  # name: (precision, channels_last)
    "fp32": ("fp32", False),
    "bf16": ("bf16", False),
    "fp32+channels_last": ("fp32", True),
    "bf16+channels_last": ("bf16", True),
}


def precision(spec: dict[str, Any]) -> dict[str, Any]:
    """Each variant restores the same real photo with the same random weights; seconds after a warm-up
    (then as in :func:`repeats`), and PSNR of its output against the fp32 output."""
    from glsgn_core.metrics import psnr
    from glsgn_core.restorer import Restorer

    w, h = parse_size(spec["size"])
    image, photo_name = photo(w, h)
    reference = None
    rows = []
    for variant in spec.get("variants", list(VARIANTS)):
        prec, cl = VARIANTS[variant]
        restorer = Restorer(_build(spec["model"]), device=spec.get("device", "cpu"), precision=prec, channels_last=cl)
        out: list[np.ndarray] = []
        times = _timed(lambda: out.append(restorer.restore(image)), restorer.device, **{**repeats(spec, 10.0), "min_runs": 2})
        if reference is None:
            reference = out[-1]
        db = float(psnr(torch.from_numpy(out[-1]).permute(2, 0, 1), torch.from_numpy(reference).permute(2, 0, 1)))
        rows.append({"variant": variant, "seconds": min(times[1:] or times),
                     "psnr_vs_fp32_db": round(db, 3) if np.isfinite(db) else "identical"})
        del restorer, out
    return {"kind": "precision", "model": spec["model"], "size": spec["size"], "photo": photo_name,
            "device": spec.get("device", "cpu"), "threads": torch.get_num_threads(), "variants": rows}  # fmt: skip


KINDS = {"conv": conv, "restore": restore, "precision": precision}


def main() -> None:
    from glsgn_core.runtime import keep_freed_memory

    spec = json.loads(sys.argv[1])
    keep_freed_memory()  # as the command line does (docs/BENCHMARKS.md, "The allocator")
    torch.set_num_threads(int(spec.get("threads", torch.get_num_threads())))
    print(json.dumps(KINDS[spec["kind"]](spec)), flush=True)


if __name__ == "__main__":
    main()
