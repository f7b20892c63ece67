"""Score models on every degradation family of their task and on clean photos (GUIDE.md section 7).

    python scripts/family_table.py VAL_DIR MODEL [MODEL ...] [--json OUT.json] [--device cpu] [--guide N]

VAL_DIR holds one paired folder per family, named TASK-FAMILY (``glsgn synth --task TASK --family
FAMILY --seed 202`` on held-out photos), and optionally ``clean/`` (the same photos, nothing to
remove; the seed-303 and seed-404 sets have none, so their tables have no clean row). A
MODEL is a registry name or a weights file; its task comes from its metadata. Prints, per model,
one row per family (mean gain over the input, worst photo's gain) and the clean-photo PSNR of the
output against its input (mean, worst), as a Markdown table. A weights file runs as its task's
published model does (e.g. at that model's guide size); ``--guide N`` sets the size (0: full size).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def score(model: str, val: Path, device: str, guide: int | None = None) -> dict:
    from glsgn_core.restorer import Restorer
    from glsgn_core.weights import load_model

    task = load_model(model)[1]["task"]
    # A weights file runs as the task's published model does (e.g. dehaze at a guide size of 640).
    if guide is None:
        guide = published_guide(model, task)
    restorer = Restorer.from_pretrained(model, device=device, guide=guide)
    return score_restore(model, task, restorer.restore, val)


def published_guide(model: str, task: str) -> int | None:
    """The guide size ``model`` runs at by default: its registry row's for a registry name (None
    lets the Restorer read it), else the task's published model's (e.g. 640 for a dehaze file)."""
    from glsgn_core.weights.registry import default_model, get_entry, is_registered

    if is_registered(model):
        return None
    return get_entry(default_model(task)).guide if is_registered(default_model(task)) else None


def score_restore(name: str, task: str, restore, val: Path) -> dict:
    """:func:`score` for any ``restore`` (float32 RGB in [0, 1] -> same), e.g. a peer network's."""
    from glsgn_core.data.degrade import family_names
    from glsgn_core.evaluate import evaluate, evaluate_clean

    rows = {}
    for family in family_names(task):
        folder = val / f"{task}-{family}"
        if folder.is_dir():
            print(f"{name}: {folder.name}", file=sys.stderr, flush=True)
            rows[family] = evaluate(restore, folder, with_ssim=False)
    clean = evaluate_clean(restore, val / "clean", with_ssim=False) if (val / "clean").is_dir() else None
    if not rows and clean is None:
        # An empty table with exit code 0 reads as "scored" in a script's log; say what is missing.
        raise FileNotFoundError(f"{val}: no {task}-FAMILY folder and no clean/ folder to score {name} on")
    return {"model": name, "task": task, "families": rows, "clean": clean}


def table(results: list[dict]) -> str:
    lines = ["| model | family | input dB | output dB | gain | worst photo gain |", "|---|---|---|---|---|---|"]
    for r in results:
        for family, f in r["families"].items():
            w = f["worst"]
            lines.append(f"| {r['model']} | {family} | {f['input_psnr']:.2f} | {f['psnr']:.2f} | {f['gain']:+.2f} | "
                         f"{w['gain']:+.2f} ({w['name']}) |")
        if r["clean"]:
            c = r["clean"]
            lines.append(f"| {r['model']} | clean photos (output vs input) | | {c['psnr']:.2f} | | worst {c['worst']['psnr']:.2f} "
                         f"({c['worst']['name']}, mean shift {c['worst'].get('shift', float('nan')):+.1f} levels) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("val", type=Path)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--guide", type=int, help="restore at this long side, guided to full size (0: full size)")
    args = parser.parse_args()
    try:
        results = [score(m, args.val, args.device, args.guide) for m in args.models]
    except FileNotFoundError as e:
        sys.exit(f"family_table: {e}")
    print(table(results), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
