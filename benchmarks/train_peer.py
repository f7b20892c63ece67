"""Train a same-budget peer (NAFNet, Chen et al. 2022) with glsgn's own loop and score it like ours.

Runs in the benchmark environment ``.venv-bench`` (spandrel, which needs torchvision, is never a
glsgn dependency; docs/BENCHMARKS.md). The network is spandrel's NAFNet at the size whose FLOPs per
megapixel match ``glsgn-cpu`` (26.6 against 26.2 GFLOPs/MP, counted at 512x512); the data, steps,
schedule, EMA, clipping and seed are whatever the flags say, so the peer gets exactly the recipe the
GLSGN run it is compared with had (``glsgn_core.train.train(..., model=...)``). The loss is the
pixel term on its one output; GLSGN's pathway terms have nothing to apply to.

    .venv-bench/bin/python benchmarks/train_peer.py train --out RUN --task derain --data PHOTOS \\
        --steps 4000 --until 2717 [--resume]
    .venv-bench/bin/python benchmarks/train_peer.py score RUN VAL [--json OUT.json]

``score`` loads the EMA weights of RUN/checkpoints/last.pt and prints scripts/family_table.py's table
for them (whole photos, no tiling: NAFNet pads itself to a multiple of 16).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
# NAFNet at glsgn-cpu's cost: the narrowest width and block counts of its published shape.
NAFNET_SMALL = dict(width=12, middle_blk_num=2, enc_blk_nums=[1, 1, 1, 2], dec_blk_nums=[1, 1, 1, 1])


def nafnet() -> torch.nn.Module:
    from spandrel.architectures.NAFNet import NAFNet

    return NAFNet(**NAFNET_SMALL)


def run_training(args: argparse.Namespace) -> None:
    from glsgn_core.data import make_dataset
    from glsgn_core.train import TrainConfig, train

    cfg = TrainConfig(
        out=str(args.out), task=args.task, data=str(args.data), model="nafnet-small", steps=args.steps, until=args.until,
        batch=args.batch, crop=(args.crop, args.crop), lr=args.lr, warmup=args.warmup, ema=args.ema, seed=args.seed,
        workers=args.workers, log_every=50, save_every=250, val_every=10**9, precision="fp32",
        exclude_families=args.exclude_family, loss={"perceptual": 0.0, "adversarial": 0.0},
    )  # fmt: skip
    if args.resume:  # the run's own recipe: a changed --steps or --lr would bend its schedule
        from glsgn_core.train import load_checkpoint

        recipe = load_checkpoint(args.out / "checkpoints" / "last.pt")["recipe"]
        cfg = TrainConfig.from_recipe(recipe, until=args.until, workers=args.workers)
    data = make_dataset(cfg.data, cfg.task, crop=cfg.crop, augment=True, seed=cfg.seed, exclude=cfg.exclude_families)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    torch.manual_seed(cfg.seed)
    start = time.perf_counter()
    result = train(cfg, data, resume=args.resume, model=nafnet(), should_stop=lambda: bool(stop))
    print(json.dumps({"step": result.step, "interrupted": result.interrupted, "seconds": round(time.perf_counter() - start, 1)}))


def run_scoring(args: argparse.Namespace) -> None:
    import numpy as np

    from glsgn_core.train import load_checkpoint

    sys.path.insert(0, str(ROOT / "scripts"))
    from family_table import score_restore, table

    state = load_checkpoint(args.run / "checkpoints" / "last.pt")
    model = nafnet()
    model.load_state_dict(state["ema"] or state["model"])
    model.eval()

    @torch.no_grad()
    def restore(image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        return model(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()

    result = score_restore(f"nafnet-small ({args.run.name}, step {state['step']})", state["task"], restore, args.val)
    print(table([result]), flush=True)
    if args.json:
        args.json.write_text(json.dumps([result], indent=1, default=float))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--task", default="derain")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--steps", type=int, default=4000)
    t.add_argument("--until", type=int)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--crop", type=int, default=256)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--ema", type=float, default=0.999)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=int, default=1)
    t.add_argument("--exclude-family", action="append", default=[])
    t.add_argument("--resume", action="store_true")
    s = sub.add_parser("score")
    s.add_argument("run", type=Path)
    s.add_argument("val", type=Path)
    s.add_argument("--json", type=Path)
    args = parser.parse_args()
    run_training(args) if args.command == "train" else run_scoring(args)


if __name__ == "__main__":
    main()
