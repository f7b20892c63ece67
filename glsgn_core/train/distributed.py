"""One process or many: under ``torchrun`` (``WORLD_SIZE`` > 1) training runs as DDP, and these are
the few places where the processes must agree: who they are, the logged means, when to stop, and
when the run folder may be written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from glsgn_core.runtime import resolve_device


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str) -> DistInfo:
    """Single process, or DDP when launched by torchrun (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo(0, 1, resolve_device(device)[0])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)[0]
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), dev)


def _mean(sums: dict[str, float], n: int, dinfo: DistInfo) -> dict[str, float]:
    """Window means of the loss terms, averaged over ranks."""
    keys = sorted(sums)
    values = torch.tensor([sums[k] / n for k in keys], dtype=torch.float64)
    if dinfo.world > 1:
        dist.all_reduce(values)
        values /= dinfo.world
    return {k: float(v) for k, v in zip(keys, values)}


def _any_rank(flag: bool, dinfo: DistInfo) -> bool:
    """True on every rank when it is true on one, so all ranks stop at the same step."""
    if dinfo.world == 1:
        return flag
    t = torch.tensor([int(flag)], device=dinfo.device if dinfo.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _barrier(dinfo: DistInfo) -> None:
    if dinfo.world > 1:
        dist.barrier()


def close_distributed(dinfo: DistInfo) -> None:
    """The end of a run: rank 0 has finished writing before anyone exits."""
    if dinfo.world > 1:
        dist.barrier()
        dist.destroy_process_group()
