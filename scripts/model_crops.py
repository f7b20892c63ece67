"""Before/after crops of a model's worst cases, to look at (issue 18): one PNG per case.

    python scripts/model_crops.py MODEL VAL_DIR FIGURES.json OUT_DIR [--size 320] [--guide N]

Give the same --guide as family_table.py was given (default: the same default it uses).

FIGURES.json is what ``scripts/family_table.py VAL_DIR MODEL --json`` wrote for the same model. For
every family of the model's task, the photo with the smallest gain is restored again and cropped
where the output differs most from the target (what went wrong there), and where the model changed
the photo most; for the clean photos, the one changed most (lowest PSNR against itself), cropped
where it changed most. Each PNG is input | output | target (clean photos: input | output |
amplified difference, x8 around mid-grey), at 1:1 pixels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def _panel(images: list[np.ndarray], score: np.ndarray, size: int, path: Path) -> None:
    """input | output | third image, cropped where ``score`` sums highest, side by side at 1:1."""
    from glsgn_core.evaluate import best_window

    size = min(size, *score.shape)
    t, l = best_window(score, size)
    crops = [np.clip(x[t : t + size, l : l + size], 0, 1) for x in images]
    gap = np.ones((crops[0].shape[0], 4, 3), np.float32)
    row = np.concatenate([c if i == 0 else np.concatenate([gap, c], 1) for i, c in enumerate(crops)], 1)
    Image.fromarray(np.rint(row * 255).astype(np.uint8)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("val", type=Path)
    parser.add_argument("figures", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--guide", type=int)
    args = parser.parse_args()

    import sys

    from glsgn_core.evaluate import read_rgb_float as _rgb
    from glsgn_core.restorer import Restorer

    sys.path.insert(0, str(Path(__file__).parent))
    from family_table import published_guide

    result = next(r for r in json.loads(args.figures.read_text()) if r["model"] == args.model)
    # As family_table.py ran it, so the crops show the output that was scored (0: full size).
    guide = args.guide if args.guide is not None else published_guide(args.model, result["task"])
    restore = Restorer.from_pretrained(args.model, device="cpu", guide=guide).restore
    args.out.mkdir(parents=True, exist_ok=True)
    for family, rows in result["families"].items():
        name = rows["worst"]["name"]
        folder = args.val / f"{result['task']}-{family}"
        inp = _rgb(next((folder / "input").glob(f"{name}.*")))
        tgt = _rgb(next((folder / "target").glob(f"{name}.*")))
        out = restore(inp)
        wrong = np.abs(out - tgt).mean(2) - np.abs(inp - tgt).mean(2)  # where the output is worse than its input
        for what, score in (("worse", wrong), ("changed", np.abs(out - inp).mean(2))):
            path = args.out / f"{result['task']}-{family}-{name}-{what}.png"
            _panel([inp, out, tgt], score, args.size, path)
            print(path)
    if result.get("clean"):
        name = result["clean"]["worst"]["name"]
        photo = _rgb(next((args.val / "clean").glob(f"{name}.*")))
        out = restore(photo)
        diff = 0.5 + 8 * (out - photo)
        path = args.out / f"{result['task']}-clean-{name}.png"
        _panel([photo, out, diff], np.abs(out - photo).mean(2), args.size, path)
        print(path)


if __name__ == "__main__":
    main()
