"""How ``glsgn train`` feeds batches: epochs, exact resume, and one set of workers for the whole run."""

from __future__ import annotations

import os

import pytest
import torch

from glsgn_core.train.data_order import batches
from glsgn_core.train.distributed import DistInfo
from glsgn_core.train.loop import TrainConfig

N = 5  # items per epoch: batch 2 leaves a padded last batch


class Items(torch.utils.data.Dataset):
    """Each item says which epoch and index it was asked for, and which process made it."""

    epoch = -1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return N

    def __getitem__(self, index: int) -> dict[str, int]:
        return {"epoch": self.epoch, "index": index, "pid": os.getpid()}


def take(n_batches: int, *, workers: int, start_step: int = 0, rank: int = 0, world: int = 1) -> list[dict]:
    cfg = TrainConfig(out="-", task="derain", data="-", batch=2, workers=workers, seed=3)
    it = batches(Items(), cfg, DistInfo(rank, world, torch.device("cpu")), start_step)
    return [next(it) for _ in range(n_batches)]


@pytest.mark.parametrize("workers", [0, 2])
def test_each_epoch_is_a_padded_permutation_in_whole_batches(workers) -> None:
    got = take(9, workers=workers)  # 3 batches per epoch: 5 items padded to 6
    for epoch in range(3):
        chunk = got[3 * epoch : 3 * epoch + 3]
        assert all((b["epoch"] == epoch).all() for b in chunk)
        indices = torch.cat([b["index"] for b in chunk]).tolist()
        assert sorted(set(indices)) == list(range(N)) and len(indices) == 6
    orders = [torch.cat([b["index"] for b in got[3 * e : 3 * e + 3]]).tolist() for e in range(3)]
    assert orders[0] != orders[1] or orders[1] != orders[2]  # reshuffled per epoch


def test_roundtrip_resume_mid_epoch_continues_the_same_stream() -> None:
    whole = take(8, workers=1)
    resumed = take(4, workers=1, start_step=4)
    for a, b in zip(whole[4:], resumed):
        assert a["epoch"].tolist() == b["epoch"].tolist() and a["index"].tolist() == b["index"].tolist()


def test_one_worker_process_serves_every_epoch() -> None:
    # A loader per epoch started new workers, which decoded every photo again (most of a step's time).
    got = take(12, workers=1)
    assert len({int(p) for b in got for p in b["pid"]}) == 1
    assert int(got[-1]["epoch"][0]) == 3


def test_ranks_split_each_epoch() -> None:
    # world 2 x batch 2: epoch 0 is 5 items padded to 8, dealt alternately to the two ranks
    r0, r1 = take(2, workers=0, rank=0, world=2), take(2, workers=0, rank=1, world=2)
    assert all((b["epoch"] == 0).all() for b in r0 + r1)
    dealt = [int(i) for a, b in zip(r0, r1) for pair in zip(a["index"], b["index"]) for i in pair]
    assert len(set(dealt[:N])) == N and set(dealt) == set(range(N))
