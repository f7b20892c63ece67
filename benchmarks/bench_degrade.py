"""Seconds per synthetic degradation at the training crop (960x540) and at 4K (3840x2160).

    .venv/bin/python benchmarks/bench_degrade.py [PHOTO] [--threads N]

Uses a real photo when given (e.g. /work/data/train/plasma-Path.jpg), else a smooth random image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from glsgn_core.data.degrade import TASKS, degrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.photo:
        source = Image.open(args.photo).convert("RGB")
    else:
        source = Image.fromarray((np.random.default_rng(0).random((54, 96, 3)) * 255).astype(np.uint8))
    for w, h in [(960, 540), (3840, 2160)]:
        img = np.asarray(source.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0
        pool = [img[::-1]]
        for task in TASKS:
            times = []
            for seed in range(args.repeat):
                start = time.perf_counter()
                degrade(task, img, np.random.default_rng(seed), pool=pool)
                times.append(time.perf_counter() - start)
            median, worst = np.median(times), max(times)
            print(f"{w}x{h} {task:10s} median {median:6.3f} s  max {worst:6.3f} s  ({args.threads} thread(s))")


if __name__ == "__main__":
    main()
