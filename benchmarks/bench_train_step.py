"""Seconds per training step of ``glsgn train`` (full recipe) on random data, on this machine.

    python benchmarks/bench_train_step.py --config glsgn-lite --crop 960x540 --batch 4 --steps 3

The VGG-19 weights do not change the cost, so a randomly initialised VGG is used when
``--vgg-weights`` is not given. The first step (allocation, oneDNN set-up) is reported apart.
``--peer nafnet-small`` times the same-FLOPs NAFNet of ``train_peer.py`` instead (in .venv-bench,
pixel loss only, whatever the weight flags say).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from glsgn_core.train.distributed import setup_distributed
from glsgn_core.train.loop import Trainer, TrainConfig
from glsgn_core.train.losses import LossWeights
from glsgn_core.train.vgg import VGG19Features


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="glsgn-lite")
    p.add_argument("--crop", default="960x540")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--perceptual-weight", type=float, default=0.01)
    p.add_argument("--adversarial-weight", type=float, default=0.01)
    p.add_argument("--vgg-weights", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--peer", choices=["nafnet-small"], help="time this peer network (benchmarks/train_peer.py)")
    a = p.parse_args()
    if a.peer:  # a peer trains with the pixel loss alone (train(model=...) refuses the others)
        a.perceptual_weight = a.adversarial_weight = 0.0
    w, h = (int(v) for v in a.crop.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        vgg = a.vgg_weights
        if vgg is None and a.perceptual_weight > 0:
            vgg = str(Path(tmp) / "vgg.pth")
            torch.save(VGG19Features().features.state_dict(), vgg)
        cfg = TrainConfig(
            out=tmp, task="derain", data=tmp, model=a.peer or a.config, batch=a.batch, crop=(w, h), precision=a.precision,
            loss=LossWeights(perceptual=a.perceptual_weight, adversarial=a.adversarial_weight), vgg_weights=vgg,
            device=a.device,
        )  # fmt: skip
        peer = None
        if a.peer:
            from train_peer import nafnet

            peer = nafnet()
        trainer = Trainer(cfg, setup_distributed(a.device), peer)
        x = torch.rand(a.batch, 3, h, w, device=trainer.device)
        y = torch.rand(a.batch, 3, h, w, device=trainer.device)
        times = []
        for _ in range(a.steps):
            t = time.perf_counter()
            trainer.train_step(x, y)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    rest = times[1:] or times
    print(
        f"{a.peer or a.config} {w}x{h} batch {a.batch} {a.precision} perceptual={a.perceptual_weight} "
        f"adversarial={a.adversarial_weight} on {trainer.device} ({torch.get_num_threads()} threads): "
        f"first step {times[0]:.2f} s, then {sum(rest) / len(rest):.2f} s/step"
    )


if __name__ == "__main__":
    main()
