"""Peer restoration networks with random weights, built through spandrel, timed like ``workers.py``.

Runs in the benchmark-only environment ``.venv-bench`` (spandrel needs torchvision, which glsgn never
depends on):

    .venv-bench/bin/python benchmarks/peers.py '{"peer": "restormer", "size": "512x512"}'

prints one JSON object on its last line: seconds, peak RSS, FLOPs. Each peer is built with its
authors' published configuration for the task closest to ours, its random state dict is handed to
spandrel's ``ModelLoader`` (which must recognise the architecture), and the resulting descriptor runs
the whole image at once, padding it to the model's size requirements, as the authors' test scripts do.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import numpy as np
import torch

from workers import _timed, current_rss_mb, parse_size, peak_rss_mb, repeats, synthetic_image


def _restormer() -> torch.nn.Module:
    from spandrel_extra_arches.architectures.Restormer import Restormer

    # Zamir et al. 2022, the configuration of every released single-image model (deraining included).
    return Restormer(dim=48, num_blocks=[4, 6, 6, 8], num_refinement_blocks=4, heads=[1, 2, 4, 8],
                     ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias")  # fmt: skip


def _mprnet() -> torch.nn.Module:
    from spandrel_extra_arches.architectures.MPRNet import MPRNet

    # Zamir et al. 2021, the deraining model (the deblurring one is wider: n_feat=96).
    return MPRNet(n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16, num_cab=8, kernel_size=3, reduction=4, bias=False)


def _nafnet() -> torch.nn.Module:
    from spandrel.architectures.NAFNet import NAFNet

    # Chen et al. 2022, NAFNet-SIDD-width32.
    return NAFNet(width=32, middle_blk_num=12, enc_blk_nums=[2, 2, 4, 8], dec_blk_nums=[2, 2, 2, 2])


def _scunet() -> torch.nn.Module:
    from spandrel.architectures.SCUNet import SCUNet

    # Zhang et al. 2023, the released colour models.
    return SCUNet(config=[4, 4, 4, 4, 4, 4, 4], dim=64)


PEERS: dict[str, tuple[str, Callable[[], torch.nn.Module]]] = {  # name: (spandrel architecture id, builder)
    "restormer": ("Restormer", _restormer),
    "mprnet": ("MPRNet", _mprnet),
    "nafnet-w32": ("NAFNet", _nafnet),
    "scunet": ("SCUNet", _scunet),
}


def load_peer(name: str):
    """A spandrel ``ImageModelDescriptor`` for peer ``name`` with random (seeded) weights."""
    import spandrel
    import spandrel_extra_arches

    spandrel_extra_arches.install(ignore_duplicates=True)
    arch_id, build = PEERS[name]
    torch.manual_seed(0)
    descriptor = spandrel.ModelLoader("cpu").load_from_state_dict(build().state_dict())
    if descriptor.architecture.id != arch_id:
        raise RuntimeError(f"spandrel detected {descriptor.architecture.id}, expected {arch_id}")
    return descriptor.eval()


def count_flops(name: str, w: int, h: int) -> int:
    """FLOPs of one forward pass, counted on the meta device (no memory, no time). The size is rounded
    up to a multiple of 64, which every peer's padding multiple divides, so the count is of what runs."""
    from torch.utils.flop_counter import FlopCounterMode

    model = PEERS[name][1]().to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 3, -(-h // 64) * 64, -(-w // 64) * 64, device="meta"))
    return counter.get_total_flops()


def run(spec: dict[str, Any]) -> dict[str, Any]:
    name, (w, h) = spec["peer"], parse_size(spec["size"])
    descriptor = load_peer(name)
    descriptor(torch.rand(1, 3, 128, 128))  # one-off start-up costs (thread pool, lazy init) stay out of the timing
    x = torch.from_numpy(synthetic_image(w, h).astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
    rss_before = current_rss_mb()
    times = _timed(lambda: descriptor(x), torch.device("cpu"), **repeats(spec, 20.0))
    try:
        flops: int | None = count_flops(name, w, h)
    except Exception as exc:  # a peer that cannot run on meta still gets its time reported
        print(f"{name}: FLOPs not counted on the meta device: {exc}", file=sys.stderr)
        flops = None
    return {
        "kind": "peer", "model": name, "architecture": PEERS[name][0], "size": spec["size"],
        "megapixels": w * h / 1e6, "params": sum(p.numel() for p in descriptor.model.parameters()),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "seconds": min(times[1:] or times),
        "first_seconds": times[0], "runs": len(times), "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb(), "flops": flops,
    }  # fmt: skip


def main() -> None:
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(int(spec.get("threads", torch.get_num_threads())))
    print(json.dumps(run(spec)), flush=True)


if __name__ == "__main__":
    main()
