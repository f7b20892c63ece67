"""The generator a run trains: built fresh from a registered configuration, or started from a
training checkpoint or from weights, and checked against the task's scale before any step; and the
exponential moving average of its weights that exports prefer.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from glsgn_core import tasks
from glsgn_core.errors import GlsgnError
from glsgn_core.train.checkpoint import load_checkpoint
from glsgn_core.weights.files import EXTERNAL, arch_of

if TYPE_CHECKING:
    from glsgn_core.train.loop import TrainConfig


def build_model(cfg: TrainConfig) -> tuple[nn.Module, str]:
    """The generator, fresh or initialised from ``cfg.init_from``; returns (model, its name).

    For SR tasks the task's factor is the model's ``scale``; a model of another factor is an error.
    """
    model, name = _build_model(cfg)
    wanted = tasks.get(cfg.task).scale
    scale = model.scale
    if scale != wanted:
        source = cfg.init_from or cfg.model
        if wanted > 1:
            need = f"an upscaler with scale {wanted} (e.g. --config glanet-lite)"
        else:
            need = "a restoration model (e.g. glsgn-lite)"
        raise GlsgnError(f"{source} has scale {scale}, but --task {cfg.task} needs {need}")
    return model, name


def _build_model(cfg: TrainConfig) -> tuple[nn.Module, str]:
    from glsgn_core.models import create_model

    if cfg.init_from is None:
        overrides = dict(cfg.model_overrides)
        task = tasks.get(cfg.task)
        if task.upscales and arch_of(cfg.model) == "glanet":
            overrides.setdefault("scale", task.scale)
        try:
            return create_model(cfg.model, **overrides), cfg.model
        except (TypeError, ValueError) as exc:
            raise GlsgnError(f"bad model override for {cfg.model}: {exc}") from None
    path = Path(cfg.init_from)
    if path.suffix == ".pt" and path.is_file():  # one of our training checkpoints
        state = load_checkpoint(path)
        if state.get("arch") == EXTERNAL:
            raise GlsgnError(f"--from {path}: a network trained with train(model=...); glsgn cannot rebuild it")
        model = create_model(state["model_name"], **state["config"])
        model.load_state_dict(state["ema"] or state["model"])
        return _overridden(model, state["model_name"], state["config"], cfg), state["model_name"]
    try:
        from glsgn_core.weights import load_model
    except ImportError:
        raise GlsgnError(f"--from {cfg.init_from}: pretrained weights need glsgn_core.weights.load_model") from None
    model, meta = load_model(cfg.init_from)
    # The configuration, which a later export must be able to rebuild.
    return _overridden(model, meta["model_name"], json.loads(meta["config"]), cfg), meta["model_name"]


def _overridden(model: nn.Module, name: str, config: dict, cfg: TrainConfig) -> nn.Module:
    """``model`` rebuilt with ``cfg.model_overrides`` over its stored ``config``, its weights kept.

    Fields that leave the weights' shapes alone (e.g. ``ssim_loss``) can change for a fine-tune;
    one that changes a shape is an error, not silently dropped.
    """
    from glsgn_core.models import create_model

    merged = {**config, **cfg.model_overrides}
    if merged == config:
        return model
    try:
        rebuilt = create_model(name, **merged)
    except (TypeError, ValueError) as exc:
        raise GlsgnError(f"bad model override for {name}: {exc}") from None
    try:
        rebuilt.load_state_dict(model.state_dict())
    except RuntimeError as exc:
        # torch's first line only says that loading failed; the next ones say which tensor and how.
        lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
        reason = next((x for x in lines if x.startswith(("size mismatch", "Missing", "Unexpected"))), lines[-1] if lines else "")
        raise GlsgnError(f"--model-config {json.dumps(cfg.model_overrides)} does not fit the network --from {cfg.init_from} "
                         f"holds ({reason.rstrip('.')}); only fields that keep its weights' shapes can change") from None
    return rebuilt.train(model.training)


class EMA:
    """Exponential moving average of a model's weights (decay ramps up over the first steps)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for ema, live in zip(self.module.state_dict().values(), model.state_dict().values()):
            if ema.dtype.is_floating_point:
                ema.lerp_(live.detach(), 1.0 - decay)
            else:
                ema.copy_(live)
