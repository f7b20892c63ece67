"""The order training data comes in: a pure function of (seed, epoch), so that the position in the
data is recoverable from the step number alone and a resumed run sees the batches an uninterrupted
one would have. Each process takes its own shard of each epoch's order, in whole batches.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch

from glsgn_core.train.distributed import DistInfo

if TYPE_CHECKING:
    from glsgn_core.train.loop import TrainConfig


def epoch_order(n: int, epoch: int, seed: int, per_round: int) -> list[int]:
    """A seeded permutation of ``range(n)``, repeated so whole rounds of ``world * batch`` fit."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    total = math.ceil(n / per_round) * per_round
    order: list[int] = []
    while len(order) < total:
        order += torch.randperm(n, generator=g).tolist()
    return order[:total]


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class _EpochItems(torch.utils.data.Dataset):
    """``items[(epoch, index)]`` is item ``index`` of ``epoch``: one loader, and so one set of worker
    processes keeping their decoded photos, serves every epoch. (A loader per epoch started fresh
    workers that decoded every photo again; with a few photos per epoch that was most of a step.)"""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


class _EpochKeys(torch.utils.data.Sampler):
    """Endless ``(epoch, index)`` keys for one process, from step ``start_step`` on.

    Each epoch's shard holds whole batches, so no batch straddles two epochs.
    """

    def __init__(self, n: int, cfg: TrainConfig, dinfo: DistInfo, start_step: int) -> None:
        self.n, self.cfg, self.dinfo, self.start_step = n, cfg, dinfo, start_step

    def __iter__(self) -> Iterator[tuple[int, int]]:
        per_round = self.dinfo.world * self.cfg.batch
        epoch, skip = divmod(self.start_step, math.ceil(self.n / per_round))
        while True:
            shard = epoch_order(self.n, epoch, self.cfg.seed, per_round)[self.dinfo.rank :: self.dinfo.world]
            yield from ((epoch, i) for i in shard[skip * self.cfg.batch :])
            epoch, skip = epoch + 1, 0


def batches(dataset, cfg: TrainConfig, dinfo: DistInfo, start_step: int) -> Iterator[dict[str, Any]]:
    """Endless batches for this process, starting exactly where step ``start_step`` would be."""
    loader = torch.utils.data.DataLoader(
        _EpochItems(dataset),
        batch_size=cfg.batch,
        sampler=_EpochKeys(len(dataset), cfg, dinfo, start_step),
        num_workers=cfg.workers,
        worker_init_fn=_seed_worker,
        generator=torch.Generator().manual_seed(cfg.seed),  # worker seeds; the data depends on (seed, epoch, index) only
        pin_memory=dinfo.device.type == "cuda",
    )
    yield from loader
