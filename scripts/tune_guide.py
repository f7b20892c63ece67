#!/usr/bin/env python3
"""Choose a model's guide size (``Restorer(guide=N)``, ``glsgn dehaze --guide N``) on a tuning set.

    python scripts/tune_guide.py WEIGHTS PAIRS [--sizes 256,320,480,640,960,1280] [--radius 0.1] [--no-full]

PAIRS is a paired folder (``input/``, ``target/``) of full-size photos, e.g. made from the *training*
photos with a fresh seed (``glsgn synth --task dehaze --clean data/train -o data/tune-dehaze --seed 303``):
the held-out photos stay untouched for the final figures. Prints PSNR per photo for the full-size run
and each guide size, then the means; the recipe takes the size with the best mean.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", help="registry name or weights file")
    parser.add_argument("pairs", help="paired folder with input/ and target/")
    parser.add_argument("--sizes", default="256,320,480,640,960,1280", help="guide sizes to try, comma-separated")
    parser.add_argument("--radius", type=float, help="box radius as a fraction of the small image's long side "
                        "(default: glsgn_core.guided.GUIDE_RADIUS)")
    parser.add_argument("--no-full", action="store_true", help="skip the full-size run (slow on big photos)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import glsgn_core.guided

    if args.radius is not None:
        glsgn_core.guided.GUIDE_RADIUS = args.radius  # read at call time by affine_fit

    from glsgn_core.data.datasets import match_pairs
    from glsgn_core.image_io import read_image, to_float
    from glsgn_core.metrics import psnr
    from glsgn_core.restorer import Restorer

    import torch

    sizes = [int(s) for s in args.sizes.split(",")]
    full = Restorer.from_pretrained(args.weights, device=args.device, guide=0)
    runs = {} if args.no_full else {"full": full}
    for size in sizes:
        runs[f"guide {size}"] = Restorer(full.model, device=args.device, guide=size)

    def score(a: np.ndarray, b: np.ndarray) -> float:
        t = lambda x: torch.from_numpy(to_float(x)).permute(2, 0, 1)
        return float(psnr(t(a), t(b)))

    table: dict[str, list[float]] = {"input": [], **{k: [] for k in runs}}
    seconds = {k: 0.0 for k in runs}
    print("photo".ljust(26) + "".join(k.rjust(11) for k in table))
    for name, inp, tgt in match_pairs(Path(args.pairs)):
        x, y = read_image(inp).pixels, read_image(tgt).pixels
        table["input"].append(score(x, y))
        for key, restorer in runs.items():
            start = time.perf_counter()
            table[key].append(score(restorer.restore(x), y))
            seconds[key] += time.perf_counter() - start
        print(name.ljust(26) + "".join(f"{v[-1]:11.2f}" for v in table.values()), flush=True)
    print("mean".ljust(26) + "".join(f"{np.mean(v):11.2f}" for v in table.values()))
    print("seconds".ljust(26) + " " * 11 + "".join(f"{seconds[k]:11.1f}" for k in runs))


if __name__ == "__main__":
    main()
