"""Score the last checkpoint of training runs on whole validation photos, grouped by variant over seeds.

    python scripts/score_runs.py PAIRS RUN [RUN ...] [--json OUT]

Each RUN folder's ``checkpoints/last.pt`` (EMA weights when the run kept them) is restored by the
Restorer's defaults on every pair of PAIRS (``input/``, ``target/``: whole photos). Runs named
``VARIANT-sSEED`` are grouped: the table gives each seed's mean PSNR, the mean over seeds and the
spread (largest minus smallest), and the mean gain over the input.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", type=Path)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--json", type=Path)
    a = p.parse_args()

    from glsgn_core.evaluate import evaluate
    from glsgn_core.restorer import Restorer
    from glsgn_core.weights.files import export_checkpoint, load_weights_file

    scores: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in a.runs:
            weights = Path(tmp) / f"{run.name}.safetensors"
            export_checkpoint(run / "checkpoints" / "last.pt", weights)
            model, _ = load_weights_file(weights)
            restorer = Restorer(model, device="cpu")
            result = evaluate(lambda img: restorer.restore(img), a.pairs, with_ssim=True)
            variant, seed = (re.fullmatch(r"(.+)-s(\d+)", run.name) or re.fullmatch(r"(.+)()", run.name)).groups()
            scores.setdefault(variant, {})[seed] = {k: result[k] for k in ("psnr", "ssim", "input_psnr", "gain")}
            print(f"{run.name}: {result['psnr']:.2f} dB (input {result['input_psnr']:.2f}), SSIM {result['ssim']:.4f}", file=sys.stderr)
    print("| variant | PSNR per seed | mean | spread | gain over input | SSIM |")
    print("|---|---|---|---|---|---|")
    for variant, seeds in scores.items():
        psnr = [seeds[s]["psnr"] for s in sorted(seeds)]
        print(f"| {variant} | {' / '.join(f'{v:.2f}' for v in psnr)} | {statistics.mean(psnr):.2f} | {max(psnr) - min(psnr):.2f} | "
              f"{statistics.mean(seeds[s]['gain'] for s in seeds):+.2f} | {statistics.mean(seeds[s]['ssim'] for s in seeds):.4f} |")
    if a.json:
        a.json.write_text(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
