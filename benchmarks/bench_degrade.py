"""Seconds per synthetic pair, for every degradation family, at 1920x1080 and at the 256x256 training crop.

    .venv/bin/python benchmarks/bench_degrade.py [PHOTO] [--threads N]

A training step of glsgn-lite (batch 4 of 256x256) takes about 0.5 s on one core; the loader's
worker makes its 4 pairs beside it, so each pair at 256x256 must stay well under 0.1 s.

Uses a real photo when given (e.g. /work/data/train/plasma-Path.jpg), else a smooth random image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from glsgn_core.data.camera import camera
from glsgn_core.data.degrade import FAMILIES, degrade


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
    for w, h in [(1920, 1080), (256, 256)]:
        img = np.asarray(source.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0
        pool = [img[::-1]]
        for task, families in FAMILIES.items():
            for family in families:
                times = []
                for seed in range(args.repeat):
                    start = time.perf_counter()
                    rng = np.random.default_rng(seed)
                    camera(degrade(task, img, rng, family=family.name, pool=pool), img, rng)
                    times.append(time.perf_counter() - start)
                median, worst = np.median(times), max(times)
                print(f"{w}x{h} {task:9s} {family.name:10s} median {median:6.3f} s  max {worst:6.3f} s"
                      f"  (family + camera stage, {args.threads} thread(s))")


if __name__ == "__main__":
    main()
