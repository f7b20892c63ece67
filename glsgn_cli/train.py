from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from glsgn_cli._common import EXIT_FAILED, err_console, fail, notice, size_option, user_errors
from glsgn_core import tasks

# Settings a resumed run may change; every other recipe setting is fixed by the run's last.pt.
RESUMABLE_CHANGES = ("steps", "until", "workers", "device", "log_every", "save_every", "save_minutes", "val_every", "data", "val", "vgg_weights")


def train(
    ctx: typer.Context,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder: checkpoints/, metrics.jsonl. Must be new or empty unless --resume. Default for a new run: runs/TASK-DATE-TIME.", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option(help=f"{' | '.join(tasks.NAMES)} (super-resolution: clean photos, bicubic-downscaled inputs).")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Training data: a paired folder (input/, target/) or clean photos.")] = None,
    val: Annotated[Optional[Path], typer.Option(help="Paired folder for validation PSNR/SSIM and best.pt, scored on whole images (keep them small, e.g. `glsgn synth --crop 512x512`).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="Model configuration (see glsgn info --list). Default: glsgn-lite, glanet-lite for sr2/sr4.")] = None,
    model_config: Annotated[Optional[str], typer.Option(help='JSON object overriding config fields, e.g. \'{"widths": [4, 8, 16, 32, 64]}\'. With --from, only fields that keep the weights\' shapes, e.g. \'{"ssim_loss": 1}\'.')] = None,
    init_from: Annotated[Optional[str], typer.Option("--from", help="Fine-tune from pretrained weights: a registry name or a file.")] = None,
    steps: Annotated[int, typer.Option(help="Total optimisation steps (the LR schedule spans them).")] = 50_000,
    until: Annotated[Optional[int], typer.Option(min=1, help="Stop after this step, resumably (default: --steps).")] = None,
    batch: Annotated[int, typer.Option(help="Images per step, per process.")] = 4,
    crop: Annotated[str, typer.Option(help="Random crop WIDTHxHEIGHT, or one number for a square (of the target: the high-resolution crop for SR). Smaller photos are scaled up to fit it.")] = "960x540",
    lr: Annotated[Optional[float], typer.Option(help="Adam learning rate (betas 0.9, 0.999). Default: 2e-4, 1e-4 for sr2/sr4.")] = None,
    warmup: Annotated[int, typer.Option(help="Linear warm-up steps (at most a tenth of --steps), then cosine decay to lr/100.")] = 500,
    clip: Annotated[float, typer.Option(help="Clip the gradient norm to this; 0 turns clipping off.")] = 1.0,
    ema: Annotated[float, typer.Option(help="Keep an EMA of the weights with this decay (e.g. 0.999); 0: off.")] = 0.0,
    precision: Annotated[str, typer.Option(help="auto | fp32 | bf16 | fp16 (auto: bf16 where supported, fp16 on older GPUs).")] = "auto",
    l1_weight: Annotated[float, typer.Option(help="lambda1, multi-stage L1; 0 turns it off.")] = 1.0,
    perceptual_weight: Annotated[Optional[float], typer.Option(help="lambda2, multi-stage VGG-19 perceptual; 0 turns it off. Default: 0.01 when VGG-19 weights are at hand (--vgg-weights, or torchvision's copy in the torch hub cache), else 0 (and it says so); 0 for sr2/sr4.", show_default=False)] = None,
    adversarial_weight: Annotated[Optional[float], typer.Option(help="lambda3, spectral-norm discriminator; 0 turns it off. Default: 0.01, 0 for sr2/sr4.")] = None,
    pathway_weight: Annotated[float, typer.Option(help="alpha1 = alpha2: weight of each pathway's output.")] = 0.1,
    final_weight: Annotated[float, typer.Option(help="beta1 = beta2: weight of the synthesised output.")] = 0.5,
    keep_weight: Annotated[float, typer.Option(help="Weight of a coarse L1 (8-pixel block means) counted only where the degradation left the picture as it was: it penalises shifting a frame that had nothing to remove, e.g. lifting a veil that is not there. Restoring tasks only. 0: off.")] = 0.0,
    keep_tol: Annotated[float, typer.Option(help="Levels (of 255) a block mean may move and still count as untouched by the keep term.")] = 2.0,
    keep_scope: Annotated[str, typer.Option(help="Where the keep term counts: blocks | pairs. blocks: every block the degradation left alone; pairs: only pairs where no block moved by --keep-tol or more (clean pairs, and crops degraded that faintly everywhere: in derain's training pairs, none of 180 sampled), so the untouched parts of a degraded crop are left to the L1 (derain, docs/MODELS.md: at --keep-weight 20, more heavy rain removed than blocks at 10 with clean photos as good, less faint refraction).")] = "blocks",
    vgg_weights: Annotated[Optional[Path], typer.Option(help="VGG-19 ImageNet weights (torchvision vgg19-dcbb9e9d.pth or safetensors).")] = None,
    sr_degrade: Annotated[bool, typer.Option("--sr-degrade", help="sr2/sr4 from clean photos: mild blur, noise and JPEG on the bicubic inputs (validation stays plain bicubic).")] = False,
    max_side: Annotated[Optional[int], typer.Option(help="Clean photos only: shrink each photo (whole-factor area average) to this long side before cropping and degrading. Off by default: even for a model run with --guide, full-size photos at a random scale trained better (docs/DATA.md, Scale).")] = None,
    families: Annotated[Optional[str], typer.Option(help="Clean photos only: comma-separated degradation families to draw from (glsgn synth --list-families). Default: all of the task's.")] = None,
    exclude_family: Annotated[Optional[str], typer.Option(help="Clean photos only: comma-separated families to withhold (a leave-one-family-out run).")] = None,
    clean_share: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Clean photos only: share of pairs with nothing to remove, so the model learns to hand clean photos back. Default: 0.2.", show_default=False)] = None,
    decoy_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Clean photos, derain and dehaze: share of pairs whose photo first gets things that look like the degradation but belong to the scene, which the model must keep (derain: thin dark lines such as reeds and wires; dehaze: out-of-focus regions). 0: off.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for weights, data order and augmentation.")] = 0,
    workers: Annotated[int, typer.Option(min=0, help="Data-loading processes (0: load in the main process).")] = 2,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from checkpoints/last.pt.")] = False,
    log_every: Annotated[int, typer.Option(help="Steps between metrics.jsonl records.")] = 10,
    save_every: Annotated[int, typer.Option(help="Steps between checkpoints/last.pt saves.")] = 500,
    save_minutes: Annotated[float, typer.Option(help="Also save checkpoints/last.pt when this many minutes have passed since the last save, so a killed run loses little.")] = 5.0,
    val_every: Annotated[int, typer.Option(help="Steps between validations (each also writes a metrics record).")] = 1000,
) -> None:
    """Train GLSGN with the paper's losses, or GLA-Net (sr2/sr4) with L1; resumable, EMA, mixed precision, DDP.

    Ctrl-C saves checkpoints/last.pt and exits with status 130 (143 on SIGTERM); run again with --resume
    to continue. Exit 1: training stopped on a failure (e.g. a full disk); 2: a usage error.
    """
    from glsgn_core.train.loop import TrainConfig
    from glsgn_core.train.losses import LossWeights

    with user_errors():
        given = dict(ctx.params)
        if resume:
            if out is None:
                fail("--resume needs --out, the run folder to continue")
            cfg = _resumed_config(ctx, out, given)
        else:
            missing = [name for name, value in (("--task", task), ("--data", data)) if value is None]
            if missing:
                what = {"--task": f"--task (one of {', '.join(tasks.NAMES)})", "--data": "--data (a folder of photos, or of input/ and target/ pairs)"}
                fail(f"a new run needs {' and '.join(what[m] for m in missing)}; or --out RUN --resume to continue one")
            recipe = tasks.get(task)  # the task's training defaults (super-resolution: GLA-Net's)
            if out is None:
                import time

                out = Path("runs") / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"
                notice(f"run folder: {out} (--out sets it)")
            if out.exists() and not out.is_dir():
                fail(f"--out {out}: exists and is not a folder")
            if perceptual_weight is None:  # the paper's lambda2 where the recipe has one, if VGG-19 is at hand
                perceptual = _default_perceptual(vgg_weights) if recipe.perceptual > 0 else 0.0
            else:
                perceptual = perceptual_weight
            adversarial = adversarial_weight if adversarial_weight is not None else recipe.adversarial
            cfg = TrainConfig(
                out=str(out), task=task, data=str(data), val=_str(val), model=config or recipe.config,
                model_overrides=_json_object(model_config), init_from=init_from, steps=steps, until=until,
                batch=batch, crop=_crop(crop, data), lr=lr if lr is not None else recipe.lr, warmup=warmup,
                clip=clip, ema=ema, precision=precision,
                loss=LossWeights(l1_weight, perceptual, adversarial, pathway_weight, final_weight, keep_weight, keep_tol, keep_scope),
                vgg_weights=_str(vgg_weights), sr_degrade=sr_degrade, max_side=max_side, families=_names(families),
                exclude_families=_names(exclude_family) or [], clean_share=clean_share, decoy_share=decoy_share, seed=seed, workers=workers, device=device,
                log_every=log_every, save_every=save_every, save_minutes=save_minutes, val_every=val_every,
            )  # fmt: skip
        _run(cfg, resume)


def _default_perceptual(vgg_weights: Path | None) -> float:
    """0.01 (the paper's lambda2) when VGG-19 weights are at hand; else 0, said: a first run must not
    stop for a file no user has by default."""
    from glsgn_core.train.vgg import TORCHVISION_URL, default_vgg_path

    if vgg_weights is not None or default_vgg_path().is_file():
        return 0.01
    notice(f"no VGG-19 weights at {default_vgg_path()}: training without the perceptual loss; "
           f"to use it, download {TORCHVISION_URL} there or pass --vgg-weights FILE")
    return 0.0


def _crop(text: str, data: Path) -> tuple[int, int]:
    """--crop as (width, height), with a word when photos have to be scaled up to fit it."""
    cw, ch = size_option(text, "--crop", minimum=64)
    sizes = _photo_sizes(data)
    small = [s for s in sizes if s[0] < cw or s[1] < ch]
    if small:
        fits = max(64, min(min(s) for s in sizes) // 16 * 16)
        notice(f"{len(small)} of {len(sizes)} photos in {data} are smaller than --crop {cw}x{ch} and are scaled "
               f"up to fit it (slower steps, and upscaled detail to learn from); --crop {fits} fits them all")
    return cw, ch


def _photo_sizes(data: Path) -> list[tuple[int, int]]:
    """(width, height) of the training photos (the targets of a paired folder), from their headers."""
    from PIL import Image as PILImage

    from glsgn_core.data.datasets import list_images

    folder = data / "target" if (data / "input").is_dir() and (data / "target").is_dir() else data
    sizes = []
    try:
        paths = list_images(folder)
    except Exception:  # the dataset itself reports an unusable folder, with a better message
        return sizes
    for path in paths:
        try:
            with PILImage.open(path) as im:
                sizes.append(im.size)
        except Exception:
            continue
    return sizes


def _run(cfg, resume: bool) -> None:
    from glsgn_core.errors import WriteError
    from glsgn_core.train.loop import train as run_training

    train_set, val_set = _datasets(cfg)
    stop = {"requested": False, "signal": signal.SIGINT}

    def on_signal(signum: int, frame: Any) -> None:
        if stop["requested"]:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        stop["requested"], stop["signal"] = True, signum
        notice("stopping after this step and saving checkpoints/last.pt (Ctrl-C again to abort)")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = run_training(
            cfg, train_set, val_set, resume=resume, reporter=_reporter(), should_stop=lambda: stop["requested"]
        )
    except WriteError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if result.interrupted:  # a script must not take a stopped run for a finished one
        raise typer.Exit(128 + int(stop["signal"]))
    best = f"; best validation PSNR {result.best_psnr:.2f} dB" if result.best_psnr is not None else ""
    where = Path(cfg.out) / "checkpoints"
    if result.step < cfg.steps:  # --until: a pause, not the end
        notice(f"paused at step {result.step} of {cfg.steps}; checkpoints in {where}{best}; "
               f"continue with: glsgn train --out {shlex.quote(str(cfg.out))} --resume")
    else:
        notice(f"finished {result.step} steps; checkpoints in {where}{best}")


def _resumed_config(ctx: typer.Context, out: Path, given: dict[str, Any]):
    """The run's stored recipe, with the few settings a resumption may change taken from the command line."""
    from glsgn_core.train.checkpoint import load_checkpoint
    from glsgn_core.train.loop import TrainConfig

    last = out / "checkpoints" / "last.pt"
    if not last.is_file():
        fail(f"{last}: nothing to resume (no checkpoint); start a new run without --resume")
    # By the enum member's name: Typer may vendor click, so its ParameterSource class is not public.
    explicit = {k for k in given if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"} - {"out", "resume"}
    fixed = sorted(explicit - set(RESUMABLE_CHANGES))
    if fixed:
        may = ", ".join(f"--{k.replace('_', '-')}" for k in RESUMABLE_CHANGES)
        fail(f"--{fixed[0].replace('_', '-')} cannot be given when resuming (the run's recipe in {last} fixes it); "
             f"give --out and --resume, and optionally {may}")
    state = load_checkpoint(last)
    recipe = state["recipe"]
    if recipe.get("task") in tasks.RESTORATION and "families" not in recipe:
        notice(f"{last}: this run began before degradation families; it continues on today's engine "
               "(all families, the camera stage, clean pairs)")
    changes = {"until": None}  # a stop point belongs to one invocation, not to the run
    if recipe.get("init_from") is None and state.get("config"):
        # The network as the checkpoint holds it: a configuration's defaults may have changed since.
        changes["model_overrides"] = {**recipe.get("model_overrides", {}), **state["config"]}
    changes.update({k: _str(given[k]) if isinstance(given[k], Path) else given[k] for k in explicit})
    return TrainConfig.from_recipe(recipe, out=str(out), **changes)


def _datasets(cfg):
    from glsgn_core.data import make_dataset

    engine = {"families": cfg.families, "exclude": cfg.exclude_families}
    if cfg.clean_share is not None:
        engine["clean_share"] = cfg.clean_share
    if cfg.decoy_share:
        engine["decoy_share"] = cfg.decoy_share
    train_set = make_dataset(
        cfg.data, cfg.task, crop=cfg.crop, augment=True, seed=cfg.seed, lr_degrade=cfg.sr_degrade, max_side=cfg.max_side,
        **engine,
    )
    # Whole images: scores that do not depend on --seed or --crop, so runs can be compared.
    val_set = make_dataset(cfg.val, cfg.task, crop=None, augment=False, seed=cfg.seed) if cfg.val else None
    return train_set, val_set


def _reporter():
    return _LiveReporter() if err_console.is_terminal else _PlainReporter()


class _PlainReporter:
    """One line per metrics record: for logs and pipes."""

    def start(self, step: int, total: int) -> None:
        self.total = total

    def log(self, record: dict[str, Any]) -> None:
        err_console.print(_summary(record, getattr(self, "total", None)), markup=False)

    def message(self, text: str) -> None:
        notice(text)

    def close(self) -> None:
        pass


class _LiveReporter:
    """A rich live line: step, loss, it/s, ETA and the last validation PSNR."""

    def __init__(self) -> None:
        self.progress = None
        self.val = "-"

    def start(self, step: int, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("step"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[info]}"),
            TextColumn("ETA"), TimeRemainingColumn(), console=err_console, transient=False,
        )  # fmt: skip
        self.task = self.progress.add_task("train", total=total, completed=step, info="")
        self.progress.start()

    def log(self, record: dict[str, Any]) -> None:
        if "val_psnr" in record:
            self.val = f"{record['val_psnr']:.2f} dB"
        if self.progress is None:
            err_console.print(_summary(record, None), markup=False)
            return
        info = f"loss {record['loss']:.4f}  {1 / record['sec_per_step']:.2f} it/s  val {self.val}" if "loss" in record else ""
        self.progress.update(self.task, completed=record["step"], info=info)

    def message(self, text: str) -> None:
        (self.progress.console if self.progress else err_console).print(f"glsgn: {text}", markup=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _summary(record: dict[str, Any], total: int | None) -> str:
    parts = [f"step {record['step']}" + (f"/{total}" if total else "")]
    for key, fmt in (("loss", ".4f"), ("l1", ".4f"), ("perceptual", ".4f"), ("adversarial", ".3f"), ("lr", ".2e")):
        if key in record:
            parts.append(f"{key} {record[key]:{fmt}}")
    if "sec_per_step" in record:
        parts.append(f"{record['sec_per_step']:.2f} s/step")
    if "val_psnr" in record:
        parts.append(f"val PSNR {record['val_psnr']:.2f} dB SSIM {record['val_ssim']:.4f}")
    if "val_input_psnr" in record:  # step 0: the input's PSNR (bicubic upscale for SR), the baseline
        parts.append(f"(input {record['val_input_psnr']:.2f} dB)")
    return "  ".join(parts)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def _json_object(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--model-config is not valid JSON ({exc.msg} at character {exc.pos})")
    if not isinstance(value, dict):
        fail("--model-config must be a JSON object, e.g. '{\"widths\": [4, 8, 16, 32, 64]}'")
    return value


def _str(value: Path | str | None) -> str | None:
    return None if value is None else str(value)
