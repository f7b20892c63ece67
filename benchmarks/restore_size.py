"""Time and peak memory of `Restorer.restore` as the image grows (CPU by default).

Each size runs in a fresh subprocess so that peak RSS (and peak CUDA memory) belong to that size
alone. Prints a table and, with --json, one JSON object per size.

    python benchmarks/restore_size.py --model glsgn-full --sizes 3840x2160 7680x4320
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(model_name: str, size: str, device: str, precision: str, threads: int) -> None:
    import numpy as np
    import torch

    from glsgn_core.models import create_model
    from glsgn_core.restorer import Restorer

    torch.set_num_threads(threads)
    w, h = (int(v) for v in size.split("x"))
    torch.manual_seed(0)
    restorer = Restorer(create_model(model_name), device=device, precision=precision)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)  # a smooth photo-like image, uint8 like a JPEG
    image = np.stack([xx / w, yy / h, 0.5 + 0.25 * np.sin(xx / 97) * np.cos(yy / 61)], -1)
    image = (image * 255).astype(np.uint8)
    del xx, yy
    if restorer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    restorer.restore(image)
    seconds = time.perf_counter() - start
    result = {
        "model": model_name, "size": size, "megapixels": w * h / 1e6, "seconds": round(seconds, 2),
        "mp_per_s": round(w * h / 1e6 / seconds, 3), "device": str(restorer.device), "precision": precision,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if restorer.device.type == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="glsgn-full")
    parser.add_argument("--sizes", nargs="+", default=["3840x2160", "7680x4320"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.model, args.child, args.device, args.precision, args.threads)
        return
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--model", args.model, "--child", size, "--device", args.device,
               "--precision", args.precision, "--threads", str(args.threads)]
        rows.append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1]))
        if args.json:
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    print(f"{'model':12} {'size':>11} {'MP':>6} {'seconds':>8} {'MP/s':>6} {'peak RSS MB':>11} {'time x':>6} {'mem x':>6}")
    for r in rows:
        print(f"{r['model']:12} {r['size']:>11} {r['megapixels']:6.1f} {r['seconds']:8.2f} {r['mp_per_s']:6.3f} "
              f"{r['peak_rss_mb']:11.0f} {r['seconds'] / base['seconds']:6.2f} {r['peak_rss_mb'] / base['peak_rss_mb']:6.2f}")


if __name__ == "__main__":
    main()
