"""Peak memory and time of `glsgn derain` on huge TIFFs, read and written a band at a time.

For each size, a tiled TIFF of a smooth synthetic photo is written (itself a band at a time), then
`glsgn derain IN.tif -o OUT.tif` runs in a fresh process with the default (bundled) model, and its
wall time and peak RSS (``wait4``'s ``ru_maxrss``, the process's own) are printed, with each
size's ratio to the first.

    python benchmarks/gigapixel.py --sizes 7680x4320 15360x8640 40000x25000 --json benchmarks/results/gigapixel.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_tiff(path: Path, width: int, height: int, tile: int = 256) -> None:
    """A smooth RGB test photo (gradients, ripples, faint texture) as a zlib tiled TIFF, tile by tile."""
    import numpy as np
    import tifffile

    rng = np.random.default_rng(0)
    texture = rng.integers(-3, 4, (tile, tile, 3), dtype=np.int16)

    def tiles():  # separable, so that a gigapixel image takes seconds to make, not the pattern's sines
        for top in range(0, height, tile):
            y = np.arange(top, top + tile, dtype=np.float32)[:, None]
            for left in range(0, width, tile):
                x = np.arange(left, left + tile, dtype=np.float32)[None, :]
                rgb = np.stack(np.broadcast_arrays(x / width, y / height, 0.5 + 0.25 * np.sin(x / 97) * np.cos(y / 61)), -1)
                yield np.clip(rgb * 255 + texture, 0, 255).astype(np.uint8)

    tifffile.imwrite(path, tiles(), shape=(height, width, 3), dtype="uint8", tile=(tile, tile), photometric="rgb",
                     compression="zlib", compressionargs={"level": 1}, predictor=True, bigtiff=width * height * 3 > 2**32 - 2**25)


def run(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit status of one command in its own process."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty child cannot fill it and stall
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        if proc.returncode:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace"))
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["7680x4320", "15360x8640"])
    parser.add_argument("--task", default="derain")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more glsgn options, e.g. --precision fp32")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--keep", type=Path, help="write the test images here (and keep them) instead of a temp folder")
    args = parser.parse_args()
    glsgn = shutil.which("glsgn") or str(Path(sys.executable).with_name("glsgn"))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="glsgn-giga-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            src, out = folder / f"in-{size}.tif", folder / f"out-{size}.tif"
            if not src.exists():
                t = time.perf_counter()
                write_tiff(src, w, h)
                print(f"wrote {src} ({src.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
            out.unlink(missing_ok=True)
            seconds, rss, code = run([glsgn, args.task, str(src), "-o", str(out), "--quiet", "--overwrite", *args.extra])
            row = {"task": args.task, "size": size, "megapixels": round(w * h / 1e6, 1), "seconds": round(seconds, 1),
                   "peak_rss_mb": round(rss), "exit": code, "load_before": os.getloadavg()[0],
                   "output_mb": round(out.stat().st_size / 1e6) if out.exists() else None}
            rows.append(row)
            print(json.dumps(row), flush=True)
            out.unlink(missing_ok=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    base = rows[0]
    print(f"{'size':>12} {'MP':>7} {'seconds':>8} {'peak RSS MB':>11} {'time x':>7} {'memory x':>8}")
    for r in rows:
        print(f"{r['size']:>12} {r['megapixels']:7.1f} {r['seconds']:8.1f} {r['peak_rss_mb']:11} "
              f"{r['seconds'] / base['seconds']:7.2f} {r['peak_rss_mb'] / base['peak_rss_mb']:8.2f}")
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
