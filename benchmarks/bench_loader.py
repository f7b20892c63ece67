"""Training batches per second from the data pipeline alone (no model), as ``glsgn train`` feeds them.

    python benchmarks/bench_loader.py DATA --task derain --batch 4 --workers 1 --steps 60

Photos are decoded, shrunk, cropped and degraded on the fly; this measures how fast that keeps up,
over enough steps to cross several epochs (an epoch is one item per photo).
"""

from __future__ import annotations

import argparse
import time

import torch

from glsgn_core.data.datasets import make_dataset
from glsgn_core.train.data_order import batches
from glsgn_core.train.distributed import DistInfo
from glsgn_core.train.loop import TrainConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--task", default="derain")
    p.add_argument("--crop", default="256x256")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--max-side", type=int, default=None)
    a = p.parse_args()
    w, h = (int(v) for v in a.crop.split("x"))
    cfg = TrainConfig(out="-", task=a.task, data=a.data, batch=a.batch, workers=a.workers, crop=(w, h))
    dataset = make_dataset(a.data, a.task, crop=(w, h), augment=True, seed=0, max_side=a.max_side)
    it = batches(dataset, cfg, DistInfo(0, 1, torch.device("cpu")), 0)
    t0 = time.perf_counter()
    next(it)  # workers start, first photos decoded
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(a.steps):
        next(it)
    dt = (time.perf_counter() - t0) / a.steps
    epochs = a.steps * a.batch / len(dataset)
    print(f"{a.task} batch {a.batch} crop {a.crop} workers {a.workers}, {len(dataset)} photos: first batch {first:.2f} s, "
          f"then {dt:.3f} s/batch ({1 / dt:.1f} batches/s) over {a.steps} batches ({epochs:.1f} epochs)")


if __name__ == "__main__":
    main()
