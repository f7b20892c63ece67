"""One PNG per degradation family for docs/DATA.md: a crop of the degraded photo beside the clean one.

    python scripts/family_crops.py VAL_DIR OUT_DIR [--size 384]

VAL_DIR holds TASK-FAMILY/ paired folders (see scripts/family_table.py). The crop is taken, from the
first pair of each folder, where the degradation changed the photo most (on a coarse grid).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("val", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=384)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in args.val.iterdir() if (p / "input").is_dir()):
        first = sorted((folder / "input").iterdir())[0]
        degraded = np.asarray(Image.open(first).convert("RGB"))
        clean = np.asarray(Image.open(folder / "target" / first.name).convert("RGB"))
        change = np.abs(degraded.astype(np.int16) - clean).mean(axis=2)
        n, step = args.size, args.size // 2
        spots = [(y, x) for y in range(0, change.shape[0] - n + 1, step) for x in range(0, change.shape[1] - n + 1, step)]
        y, x = max(spots, key=lambda p: change[p[0] : p[0] + n, p[1] : p[1] + n].mean())
        gap = np.full((n, 8, 3), 255, np.uint8)
        side = np.concatenate([degraded[y : y + n, x : x + n], gap, clean[y : y + n, x : x + n]], axis=1)
        Image.fromarray(side).save(args.out / f"{folder.name}.png", optimize=True)
        print(args.out / f"{folder.name}.png")


if __name__ == "__main__":
    main()
