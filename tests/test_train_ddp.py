"""A real two-process DDP run on CPU (gloo) through torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from test_train import TINY, write_pairs


@pytest.mark.slow
def test_smoke_torchrun_two_processes_on_cpu(tmp_path) -> None:
    pairs = write_pairs(tmp_path / "pairs")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "glsgn_cli", "train", "--out", str(run), "--task", "dehaze", "--data", str(pairs), "--val", str(pairs),
           "--steps", "6", "--log-every", "2", "--val-every", "6", "--save-every", "3", "--ema", "0.9",
           "--perceptual-weight", "0", "--device", "cpu", *TINY]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    logged = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in logged] == [0, 2, 4, 6]  # rank 0 alone writes: no duplicates
    assert all(torch.isfinite(torch.tensor(x["loss"])) for x in logged[1:])
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 6 and state["data"]["world"] == 2
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
