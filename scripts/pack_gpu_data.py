"""Pack training photos and validation pairs small enough to travel to a GPU machine (issue 18).

    python scripts/pack_gpu_data.py SRC_TRAIN_DIR VAL_DIR OUT_DIR [--max-side 1600] [--val-side 1024]
                                    [--budget-mb 56] [--limit N]

The device machine has no network and takes at most 64 MiB of ignored files along ("carry"), so
the photos go shrunk: OUT_DIR/train/ holds every clean photo of SRC_TRAIN_DIR at a long side of at
most --max-side (JPEG, quality 92); OUT_DIR/val/ holds, for each paired family folder
VAL_DIR/TASK-FAMILY/{input,target}/, the pairs shrunk to --val-side (PNG, input and target alike),
and VAL_DIR/clean/ shrunk the same way. Pairs still being written (a half file, a missing
target) are skipped with a warning. Exits non-zero when the pack exceeds --budget-mb.
OUT_DIR/PACK.json records the sources and sizes. --limit keeps N images per folder (smoke runs).
Put OUT_DIR under an ignored path (e.g. data/gpu) and carry it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from PIL import Image

SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))


def shrunk(path: Path, side: int) -> Image.Image:
    im = Image.open(path)
    w, h = im.size
    scale = min(1.0, side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if im.format == "JPEG" and scale < 1:
        im.draft("RGB", size)  # decode at a reduced DCT scale (never below size): big JPEGs load fast
    im = im.convert("RGB")  # grey and RGBA photos become RGB, as the training loader reads them
    if im.size != size:
        im = im.resize(size, Image.LANCZOS)
    return im


def pack_train(src: Path, out: Path, side: int, limit: int | None) -> int:
    out.mkdir(parents=True)
    n = 0
    for path in images(src)[:limit]:
        try:
            shrunk(path, side).save(out / f"{path.stem}.jpg", quality=92)
            n += 1
        except OSError as e:
            print(f"warning: skipped {path}: {e}", file=sys.stderr)
    return n


def pack_val(val: Path, out: Path, side: int, limit: int | None) -> dict[str, int]:
    counts = {}
    for folder in sorted(p for p in val.iterdir() if p.is_dir()):
        if folder.name == "clean":
            dest = out / "clean"
            dest.mkdir(parents=True)
            kept = 0
            for path in images(folder)[:limit]:
                try:
                    shrunk(path, side).save(dest / f"{path.stem}.png")
                    kept += 1
                except OSError as e:
                    print(f"warning: skipped {path}: {e}", file=sys.stderr)
            counts["clean"] = kept
            continue
        if not ((folder / "input").is_dir() and (folder / "target").is_dir()):
            continue
        targets = {p.name: p for p in images(folder / "target")}
        kept = 0
        for inp in images(folder / "input"):
            if limit is not None and kept >= limit:
                break
            tgt = targets.get(inp.name)
            if tgt is None:
                print(f"warning: skipped {inp}: no target yet", file=sys.stderr)
                continue
            try:
                pair = shrunk(inp, side), shrunk(tgt, side)
            except OSError as e:  # a file still being written
                print(f"warning: skipped {inp}: {e}", file=sys.stderr)
                continue
            if pair[0].size != pair[1].size:
                print(f"warning: skipped {inp}: input and target sizes differ", file=sys.stderr)
                continue
            for kind, im in zip(("input", "target"), pair):
                (out / folder.name / kind).mkdir(parents=True, exist_ok=True)
                im.save(out / folder.name / kind / f"{inp.stem}.png")
            kept += 1
        if kept:
            counts[folder.name] = kept
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path, help="folder of clean training photos")
    parser.add_argument("val", type=Path, help="folder of TASK-FAMILY/{input,target} pairs and clean/")
    parser.add_argument("out", type=Path)
    parser.add_argument("--max-side", type=int, default=1600, help="long side of the training photos")
    parser.add_argument("--val-side", type=int, default=1024, help="long side of the validation images")
    parser.add_argument("--budget-mb", type=float, default=56.0, help="fail when the pack is larger (MiB)")
    parser.add_argument("--limit", type=int, help="at most this many images per folder")
    args = parser.parse_args()

    for folder in (args.train, args.val):
        if not folder.is_dir():
            sys.exit(f"pack_gpu_data: {folder}: no such folder")
    # Re-packing replaces an earlier pack, but never a folder this script did not write.
    if args.out.exists() and any(args.out.iterdir()):
        if not (args.out / "PACK.json").is_file():
            sys.exit(f"pack_gpu_data: {args.out} is not empty and holds no PACK.json; choose a new folder")
        for name in ("train", "val", "PACK.json"):
            target = args.out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)

    n_train = pack_train(args.train, args.out / "train", args.max_side, args.limit)
    counts = pack_val(args.val, args.out / "val", args.val_side, args.limit)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    mb = size / 2**20
    manifest = {"train": str(args.train), "val": str(args.val), "max_side": args.max_side,
                "val_side": args.val_side, "train_photos": n_train, "val_folders": counts, "mib": round(mb, 2)}
    (args.out / "PACK.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{args.out}: {n_train} training photos, validation {counts}, {mb:.1f} MiB")
    if mb > args.budget_mb:
        sys.exit(f"pack_gpu_data: {args.out} is {mb:.1f} MiB, over the {args.budget_mb:g} MiB budget "
                 f"(lower --max-side or --val-side, or pack fewer validation folders)")


if __name__ == "__main__":
    main()
