"""The training loop: one readable function, :func:`train`, driven by a :class:`TrainConfig`.

Everything a step depends on (weights, optimiser moments, schedule, EMA, discriminator, loss scaler,
random states, and the position in the data) is either in ``last.pt`` or recomputed from the step
number, so ``resume=True`` continues an interrupted run as if it had never stopped. The pieces around
the loop live beside it: the run folder and its rules (:mod:`.run_folder`), the data order that makes
the position recoverable from the step alone (:mod:`.data_order`), the generator and its EMA
(:mod:`.generator`), and what processes agree on under ``torchrun`` (:mod:`.distributed`).

Super-resolution (``sr2``, ``sr4``) trains an upscaler such as GLA-Net with the same loop: its output
is one image, the loss is L1 alone, and validation also reports the bicubic baseline at step 0.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the same function runs as DDP: every process takes its own
shard of each epoch's order, ``batch`` is per process, and only rank 0 writes files or reports.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from glsgn_core import tasks
from glsgn_core.data.datasets import bicubic_resize
from glsgn_core.errors import GlsgnError
from glsgn_core.runtime import PRECISIONS, autocast, resolve_precision
from glsgn_core.train.checkpoint import _plain, capture_rng, load_checkpoint, restore_rng
from glsgn_core.train.data_order import batches
from glsgn_core.train.discriminator import PatchDiscriminator
from glsgn_core.train.distributed import DistInfo, _any_rank, _barrier, _mean, close_distributed, setup_distributed
from glsgn_core.train.generator import EMA, build_model
from glsgn_core.train.losses import (
    KEEP_SCOPES,
    LossWeights,
    PerceptualDistance,
    coarse_keep,
    discriminator_hinge,
    generator_adversarial,
    l1,
    multi_stage,
)
from glsgn_core.train.run_folder import RunFolder
from glsgn_core.weights.files import EXTERNAL, arch_of


@dataclass
class TrainConfig:
    """Everything that defines a run. Stored in every checkpoint as ``recipe``."""

    out: str
    task: str
    data: str
    val: str | None = None
    model: str = "glsgn-lite"  # registered configuration name
    model_overrides: dict[str, Any] = field(default_factory=dict)  # config fields, e.g. {"widths": [...]}
    init_from: str | None = None  # pretrained weights: a registry name or a path
    steps: int = 50_000
    batch: int = 4  # per process
    crop: tuple[int, int] = (960, 540)  # (width, height)
    lr: float = 2e-4
    warmup: int = 500  # linear warm-up steps (at most a tenth of the run), then cosine decay
    min_lr_ratio: float = 0.01  # the cosine ends at lr * min_lr_ratio
    clip: float = 1.0  # max global gradient norm; 0 disables clipping
    ema: float = 0.0  # EMA decay of the weights, e.g. 0.999; 0 disables
    precision: str = "auto"
    loss: LossWeights = field(default_factory=LossWeights)
    vgg_weights: str | None = None
    sr_degrade: bool = False  # SR from clean photos: mild blur/noise/JPEG on the bicubic input
    max_side: int | None = None  # clean photos shrunk to this long side first (off: full size trained better, docs/DATA.md)
    families: list[str] | None = None  # degradation families drawn from (clean photos; default all)
    exclude_families: list[str] = field(default_factory=list)  # withheld, e.g. for a leave-one-out run
    clean_share: float | None = None  # pairs with nothing to remove; None: the engine's default
    decoy_share: float = 0.0  # pairs whose clean photo first gets the task's decoy (data.degrade.DECOYS)
    seed: int = 0
    # Operational settings: may differ between a run and its resumption.
    workers: int = 2
    device: str = "auto"
    log_every: int = 10
    save_every: int = 500
    save_minutes: float = 5.0  # also save last.pt when this much wall time has passed since the last save
    val_every: int = 1000
    until: int | None = None  # stop (resumably) after this step; the schedule still spans ``steps``

    def __post_init__(self) -> None:
        task = tasks.get(self.task)  # an unknown task is an error here
        if self.precision not in PRECISIONS:
            raise GlsgnError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.steps < 1 or self.batch < 1:
            raise GlsgnError("--steps and --batch must be at least 1")
        if isinstance(self.loss, dict):
            self.loss = LossWeights(**self.loss)
        self.crop = tuple(self.crop)
        if self.max_side is not None and self.max_side < 64:
            raise GlsgnError(f"--max-side {self.max_side}: need at least 64 px")
        if self.sr_degrade and not task.upscales:
            upscaling = " and ".join(t.name for t in tasks.TASKS if t.upscales)
            raise GlsgnError(f"--sr-degrade applies to {upscaling}, not {self.task}")
        if self.loss.keep_scope not in KEEP_SCOPES:
            raise GlsgnError(f"--keep-scope {self.loss.keep_scope}: need one of {', '.join(KEEP_SCOPES)}")
        if self.loss.keep_tol <= 0:
            raise GlsgnError(f"--keep-tol {self.loss.keep_tol:g}: need a positive number of levels")
        if task.losses == "l1" and (self.loss.perceptual > 0 or self.loss.adversarial > 0 or self.loss.keep > 0):
            raise GlsgnError(
                f"{self.task} trains with L1 alone; set --perceptual-weight 0, --adversarial-weight 0 and "
                "--keep-weight 0 (their defaults for SR)"
            )

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any], **changes: Any) -> TrainConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in recipe.items() if k in fields}, **changes})


@dataclass
class TrainResult:
    step: int
    interrupted: bool
    best_psnr: float | None
    last_val_psnr: float | None


class Reporter(Protocol):
    """How the loop talks to a user (rank 0 only). The CLI supplies a rich or a plain one."""

    def start(self, step: int, total: int) -> None: ...
    def log(self, record: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class _Silent:
    def start(self, step: int, total: int) -> None: ...
    def log(self, record: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


def warmup_cosine(steps: int, warmup: int, floor: float) -> Callable[[int], float]:
    """LR factor: linear from ~0 to 1 over ``warmup`` steps, then a half cosine from 1 down to ``floor``."""
    warmup = min(warmup, steps // 10)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, steps - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


# ----------------------------------------------------------------------------------------------
# The run


class Trainer:
    """Holds the pieces of a run; :func:`train` is the entry point."""

    def __init__(self, cfg: TrainConfig, dinfo: DistInfo, model: nn.Module | None = None) -> None:
        self.cfg, self.dinfo, self.device = cfg, dinfo, dinfo.device
        self.losses = tasks.get(cfg.task).losses
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        # A network of the caller's own (e.g. a peer architecture) is named by cfg.model and trained as is.
        self.external = model is not None
        self.model, self.model_name = (model, cfg.model) if self.external else build_model(cfg)
        self.model.to(self.device).train()
        self.ema = EMA(self.model, cfg.ema) if cfg.ema > 0 else None
        w = cfg.loss
        self.perceptual = None
        if w.perceptual > 0:
            from glsgn_core.train.vgg import load_vgg19

            self.perceptual = PerceptualDistance(load_vgg19(cfg.vgg_weights)).to(self.device)
        self.disc = PatchDiscriminator(in_chans=2 * 3).to(self.device) if w.adversarial > 0 else None

        self.amp_dtype = resolve_precision(cfg.precision, self.device, training=True)
        scaling = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=scaling)
        self.disc_scaler = torch.amp.GradScaler(self.device.type, enabled=scaling)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(cfg.steps, cfg.warmup, cfg.min_lr_ratio)
        )
        self.disc_optimizer = (
            torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=(0.9, 0.999)) if self.disc else None
        )
        self.ddp_model, self.ddp_disc = self.model, self.disc
        if dinfo.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
            if self.disc is not None:
                self.ddp_disc = nn.parallel.DistributedDataParallel(self.disc, device_ids=ids)
        self.step = 0
        self.best_psnr: float | None = None

    def autocast(self):
        return autocast(self.device, self.amp_dtype)

    # -- one optimisation step ---------------------------------------------------------------
    def train_step(self, degraded: Tensor, target: Tensor) -> dict[str, Tensor]:
        w = self.cfg.loss
        with self.autocast():
            out = self.ddp_model(degraded)
        terms: dict[str, Tensor] = {}
        if self.losses == "l1":  # an upscaler: one image, L1 alone (GLA-Net's objective)
            terms["l1"] = l1(out.float(), target)
            terms["loss"] = w.pixel * terms["l1"]
            terms["grad_norm"] = self._apply(terms["loss"], self.optimizer, self.scaler, self.model)
            return self._advance(terms)
        if self.external:  # one image, scored by the terms that apply to it (no pathways)
            image, pathways = out.float(), []
        else:
            image, pathways = out.image.float(), [p.float() for p in out.pathways]
        loss = image.new_zeros(())
        if w.pixel > 0:
            terms["l1"] = multi_stage(l1, image, pathways, target, pathway_weight=w.pathway, final_weight=w.final)
            loss = loss + w.pixel * terms["l1"]
        if w.keep > 0:
            terms["keep"] = coarse_keep(image, degraded, target, tol=w.keep_tol / 255, pairs_only=w.keep_scope == "pairs")
            loss = loss + w.keep * terms["keep"]
        ssim_weight = 0.0 if self.external else self.model.config.ssim_loss  # Table V's GLSGN_SSIM trains with it
        if ssim_weight:
            from glsgn_core.metrics import ssim

            terms["ssim_loss"] = 1.0 - ssim(image, target).mean().float()  # 1 - SSIM, computed in float64
            loss = loss + ssim_weight * terms["ssim_loss"]
        if self.perceptual is not None:
            with self.autocast():
                terms["perceptual"] = multi_stage(
                    self.perceptual, image, pathways, target, pathway_weight=w.pathway, final_weight=w.final
                )
            loss = loss + w.perceptual * terms["perceptual"]
        if self.disc is not None:
            self.disc.requires_grad_(False)  # the generator's step must not touch D's gradients
            with self.autocast():
                terms["adversarial"] = generator_adversarial(self.disc(degraded, image))
            self.disc.requires_grad_(True)
            loss = loss + w.adversarial * terms["adversarial"]
        terms["loss"] = loss
        terms["grad_norm"] = self._apply(loss, self.optimizer, self.scaler, self.model)
        if self.disc is not None:
            with self.autocast():
                scores = self.ddp_disc(torch.cat([degraded, degraded]), torch.cat([target, image.detach()]))
            real, fake = scores.chunk(2)
            terms["d_loss"] = discriminator_hinge(real, fake)
            self._apply(terms["d_loss"], self.disc_optimizer, self.disc_scaler, self.disc)
        return self._advance(terms)

    def _advance(self, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        """After the optimiser steps: the schedule, the step count and the EMA; detached terms back."""
        self.scheduler.step()
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.model, self.step)
        return {k: v.detach() for k, v in terms.items()}

    def _apply(self, loss: Tensor, optimizer, scaler, module: nn.Module) -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        norm = nn.utils.clip_grad_norm_(module.parameters(), self.cfg.clip if self.cfg.clip > 0 else float("inf"))
        scaler.step(optimizer)
        scaler.update()
        return norm

    # -- validation --------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, dataset, *, baseline: bool = False) -> dict[str, float]:
        """Mean PSNR / SSIM of the EMA (or live) model over ``dataset``, one image at a time.

        ``baseline`` adds ``val_input_psnr``: the input's PSNR, or for SR its bicubic upscale's, so
        a run shows its gain over doing nothing (or over bicubic).
        """
        from glsgn_core.metrics import psnr, ssim

        model = self.ema.module if self.ema is not None else self.model
        was_training = model.training
        model.eval()
        sums = {"val_psnr": 0.0, "val_ssim": 0.0, "val_input_psnr": 0.0}
        for i in range(len(dataset)):
            item = dataset[i]
            x = item["input"][None].to(self.device)
            y = item["target"][None].to(self.device)
            with self.autocast():
                restored = (model(x) if self.external else model.restore(x)).float().clamp(0, 1)
            sums["val_psnr"] += float(psnr(restored, y)[0])
            sums["val_ssim"] += float(ssim(restored, y)[0])
            if baseline:
                sums["val_input_psnr"] += float(psnr(_upscaled_like(x, y), y)[0])
        model.train(was_training)
        if not baseline:
            del sums["val_input_psnr"]
        return {k: v / len(dataset) for k, v in sums.items()}

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        cfg = self.cfg
        per_round = self.dinfo.world * cfg.batch
        return {
            "arch": EXTERNAL if self.external else arch_of(self.model_name),
            "model_name": self.model_name,
            "config": {} if self.external else dataclasses.asdict(self.model.config),
            "task": cfg.task,
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "recipe": _plain(dataclasses.asdict(cfg)),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "disc": self.disc.state_dict() if self.disc is not None else None,
            "disc_optimizer": self.disc_optimizer.state_dict() if self.disc_optimizer is not None else None,
            "scaler": {"generator": self.scaler.state_dict(), "disc": self.disc_scaler.state_dict()},
            "rng": capture_rng(),
            "data": {"world": self.dinfo.world, "per_round": per_round},
            "best_psnr": self.best_psnr,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"] if state["ema"] is not None else state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.disc is not None and state["disc"] is not None:
            self.disc.load_state_dict(state["disc"])
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])
        self.scaler.load_state_dict(state["scaler"]["generator"])
        self.disc_scaler.load_state_dict(state["scaler"]["disc"])
        self.step = int(state["step"])
        self.best_psnr = state["best_psnr"]


def train(
    cfg: TrainConfig,
    train_set,
    val_set=None,
    *,
    resume: bool = False,
    reporter: Reporter | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    model: nn.Module | None = None,
) -> TrainResult:
    """Train (or, with ``resume``, continue) the run in ``cfg.out``. ``should_stop`` is polled each step
    (e.g. set by a Ctrl-C handler); when it turns true, ``last.pt`` is saved and the run returns.

    ``model``: train this network instead of building ``cfg.model`` (which then only names it), with
    the same data, schedule, EMA and checkpoints; e.g. a peer architecture for a same-budget
    comparison. Its forward maps a degraded batch of any size to the restored batch; the loss is the
    task's pixel term on that one image (``loss.pixel * loss.final * L1``: GLSGN's term for B_out,
    with no pathways beside it). Perceptual and adversarial terms, ``init_from`` and
    ``model_overrides`` do not apply and are refused. Pass the same network again to resume.
    Checkpoints hold its weights (``arch`` "external") but cannot rebuild it, so ``glsgn models
    export`` and ``--from`` refuse them."""
    dinfo = setup_distributed(cfg.device)
    reporter = reporter if (reporter is not None and dinfo.main) else _Silent()
    folder = RunFolder(cfg.out, reporter, main=dinfo.main)
    restart = folder.check(resume=resume)
    if len(train_set) == 0:
        raise GlsgnError(f"{cfg.data}: no training images")
    _barrier(dinfo)  # every rank has checked the folder before rank 0 writes to it

    if model is not None and (cfg.loss.perceptual > 0 or cfg.loss.adversarial > 0 or cfg.init_from or cfg.model_overrides):
        raise GlsgnError("train(model=...) trains the given network with the pixel loss alone: set the perceptual and "
                         "adversarial weights to 0, and no init_from or model_overrides")
    state = load_checkpoint(folder.last) if resume else None
    if state is not None and (state.get("arch") == EXTERNAL) != (model is not None):
        raise GlsgnError(
            f"{folder.last} holds a network trained with train(model=...): resume it the same way"
            if model is None else f"{folder.last} holds a {state['model_name']} run; resume it without model="
        )
    trainer = Trainer(cfg, dinfo, model)
    if resume:
        trainer.load_state(state)
        if dinfo.main:
            restore_rng(state["rng"])
        folder.resumed(trainer.step)
        reporter.message(f"resumed {folder.path} at step {trainer.step}")
    if not resume or not dinfo.main:  # other ranks' streams are reseeded, not restored
        offset = trainer.step * 7919 if resume else 0
        torch.manual_seed(cfg.seed + 1 + dinfo.rank + offset)
        np.random.seed((cfg.seed + 1 + dinfo.rank + offset) % 2**32)
        random.seed(cfg.seed + 1 + dinfo.rank + offset)
    folder.open(trainer.state, resume=resume, restart=restart)

    last_val: float | None = None
    if val_set is not None and not resume and dinfo.main:  # the starting point, for comparison
        scores = trainer.validate(val_set, baseline=True)
        last_val = scores["val_psnr"]
        folder.log({"step": 0, **scores})

    until = min(cfg.until or cfg.steps, cfg.steps)
    reporter.start(trainer.step, cfg.steps)
    data = batches(train_set, cfg, dinfo, trainer.step)
    window: dict[str, float] = {}
    n_window, t_window = 0, time.perf_counter()
    interrupted = False
    try:
        while trainer.step < until:
            batch = next(data)
            terms = trainer.train_step(
                batch["input"].to(trainer.device, non_blocking=True), batch["target"].to(trainer.device, non_blocking=True)
            )
            for k, v in terms.items():
                window[k] = window.get(k, 0.0) + float(v)
            n_window += 1
            step = trainer.step
            validate = val_set is not None and (step % cfg.val_every == 0 or step == cfg.steps)
            if step % cfg.log_every == 0 or step == until or validate:
                elapsed = time.perf_counter() - t_window
                record = {"step": step, **_mean(window, n_window, dinfo)}
                record.update(lr=trainer.optimizer.param_groups[0]["lr"], sec_per_step=elapsed / n_window)
                if validate and dinfo.main:
                    record.update(trainer.validate(val_set))
                    last_val = record["val_psnr"]
                    if trainer.best_psnr is None or last_val > trainer.best_psnr:
                        trainer.best_psnr = last_val
                        folder.save_best(trainer.state)
                folder.log(record)
                window, n_window, t_window = {}, 0, time.perf_counter()
            if _any_rank(should_stop(), dinfo):
                interrupted = True
                break
            folder.save_if_due(trainer.state, step, every=cfg.save_every, minutes=cfg.save_minutes)
        folder.save_last(trainer.state)
    finally:
        reporter.close()
    close_distributed(dinfo)
    if interrupted:
        reporter.message(f"interrupted at step {trainer.step}; saved {folder.last}; continue with --resume")
    return TrainResult(trainer.step, interrupted, trainer.best_psnr, last_val)


# ----------------------------------------------------------------------------------------------
# Small utilities


def _upscaled_like(x: Tensor, y: Tensor) -> Tensor:
    """``x`` itself, or (SR) its bicubic upscale to ``y``'s size with the filter the data uses (PIL's)."""
    if x.shape[-2:] == y.shape[-2:]:
        return x
    image = x[0].permute(1, 2, 0).float().cpu().numpy()
    big = bicubic_resize(image, (y.shape[-1], y.shape[-2]))
    return torch.from_numpy(big).permute(2, 0, 1)[None].to(y.device, y.dtype)
