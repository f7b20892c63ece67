"""Parameters, MACs and FLOPs of a configuration, counted by running it (FLOPs = 2 x MACs)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from glsgn_core.models import create_model

PATHWAY_NAMES = {"sg": "Sg", "locals.0": "S1", "locals.1": "S2", "locals.2": "S3"}


def parse_size(text: str) -> tuple[int, int]:
    """'3840x2160' -> (3840, 2160) as (width, height); one number is a square: '256' -> (256, 256)."""
    try:
        parts = [int(v) for v in text.lower().split("x")]
        w, h = parts * 2 if len(parts) == 1 else parts
    except ValueError:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 3840x2160) or one number for a square") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size {text!r} must be positive")
    return w, h


def measure(name: str, size: tuple[int, int], **overrides: Any) -> dict[str, Any]:
    """Count one forward pass of configuration ``name`` (with config ``overrides``, e.g. ``scale=4``)
    on a (width, height) RGB image.

    The model runs on the meta device, so no memory is allocated and 16K counts in a second.
    """
    model = create_model(name, **overrides).to("meta").eval()
    w, h = size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 3, h, w, device="meta"))
    by_module = counter.get_flop_counts()
    prefix = type(model).__name__

    def params(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    pathways = {}
    for attr, label in PATHWAY_NAMES.items():
        try:
            sub = model.get_submodule(attr)
        except AttributeError:
            continue
        flops = sum(by_module.get(f"{prefix}.{attr}", {}).values())
        pathways[label] = {"params": params(sub), "macs": flops // 2, "flops": flops}
    total = counter.get_total_flops()
    return {
        "name": name,
        "width": w,
        "height": h,
        "params": params(model),
        "macs": total // 2,
        "flops": total,
        "pathways": pathways,
    }
