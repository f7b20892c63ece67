"""Process-wide settings for a program that restores photos (the CLI calls them; library users may),
and the one place where a device and a precision are chosen, for restoring and training alike.

torch is imported inside the resolvers only: the CLI's root callback imports this module, and
``glsgn --help`` must stay instant.


glibc's malloc gives freed memory back to the system as soon as the top of its heap is free, and
the next large tensor faults every page in again. A restoration allocates and frees blocks of
tens to hundreds of MB per layer, so on Linux most of the time went to the kernel: upscaling a
1280x800 photo x2 took 24.9 s wall, 22.5 s of it system time; with 1 GB kept it takes 10.7 s
(0.5 s system), and glsgn-derain on 3840x2400 (in windows) goes from 4.5 to 2.6 s, at the same
peak memory (2 threads; docs/BENCHMARKS.md). 256 MB did not help; 512 MB halved the system time.
Blocks above glibc's mmap ceiling (32 MB) are not affected: whole-image 4K runs gain nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from glsgn_core.errors import GlsgnError

if TYPE_CHECKING:
    import torch

_M_TOP_PAD = -2  # glibc's mallopt parameter: bytes kept at the top of the heap when trimming or growing
KEEP_BYTES = 1 << 30


def keep_freed_memory(nbytes: int = KEEP_BYTES, *, libc: str | None = None) -> bool:
    """Ask glibc's malloc to keep ``nbytes`` of freed heap for reuse instead of returning it at once.

    Returns True when the setting was applied, False where it does not apply (not Linux, not
    glibc, or ``mallopt`` refused); never raises. It only changes speed, not results.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        lib = ctypes.CDLL(libc or ctypes.util.find_library("c") or "libc.so.6")
        mallopt = lib.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_TOP_PAD, min(nbytes, 2**31 - 1)) == 1


HUGE_PAGES = "glibc.malloc.hugetlb=1"
RERUN_MARK = "_GLSGN_RERUN"  # set in the re-run: never a second one, whatever a wrapper does to GLIBC_TUNABLES


def huge_pages_env(environ: Mapping[str, str], *, libc: tuple[str, str] | None = None) -> dict[str, str] | None:
    """The environment to re-run this process in so that glibc's malloc backs large blocks with huge
    pages (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, glibc 2.35+), or None where it does not apply:
    not Linux, not glibc, too old, already set, or ``GLSGN_HUGE_PAGES=0``.

    Tensors of a 4K image are hundreds of MB; each is a fresh mmap, and faulting it in 4 KB pages cost
    more than some of the convolutions (a 4K forward pass: glsgn-cpu 3.73 -> 2.48 s; glsgn-full 8.62 -> 6.46 s,
    peak RSS 4.36 -> 4.04 GB; docs/BENCHMARKS.md). glibc reads its tunables only at start-up, hence
    the re-run. It changes speed, not results.
    """
    if not sys.platform.startswith("linux") or environ.get("GLSGN_HUGE_PAGES") == "0" or environ.get(RERUN_MARK):
        return None
    tunables = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return None
    name, version = libc if libc is not None else platform.libc_ver()
    try:
        if name != "glibc" or tuple(int(v) for v in version.split(".")[:2]) < (2, 35):
            return None
    except ValueError:
        return None
    return {**environ, RERUN_MARK: "1", "GLIBC_TUNABLES": f"{tunables}:{HUGE_PAGES}" if tunables else HUGE_PAGES}


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(spec: str) -> tuple[torch.device, str | None]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> (device, notice or None). Explicit CUDA without CUDA is an error."""
    import torch

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


def resolve_precision(spec: str, device: torch.device, *, training: bool) -> torch.dtype:
    """The autocast dtype for ``spec`` on ``device`` (``torch.float32``: no autocast).

    'auto' picks bf16 where it is native (CUDA devices that support it, CPUs with avx512_bf16 or
    AMX). Where it is not: fp32 for restoring, and on CUDA fp16 for training, whose loss scaling
    guards fp16's small range; a restoration has no such guard. bf16 keeps the bundled models
    within 0.04 dB of fp32 on our held-out photos (docs/BENCHMARKS.md). fp16 needs CUDA.
    """
    import torch

    if spec not in PRECISIONS:
        raise GlsgnError(f"--precision {spec!r} is not one of {', '.join(PRECISIONS)}")
    if spec == "auto":
        if device.type == "cuda":
            if torch.cuda.is_bf16_supported():
                return torch.bfloat16
            return torch.float16 if training else torch.float32
        return torch.bfloat16 if native_bf16() else torch.float32
    if spec == "fp16" and device.type != "cuda":
        raise GlsgnError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[spec]


def autocast(device: torch.device, dtype: torch.dtype):
    """Autocast to ``dtype`` on ``device``; a no-op context for fp32."""
    import contextlib

    import torch

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
