"""Process-wide settings for a program that restores photos (the CLI calls them; library users may).

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
import sys

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
