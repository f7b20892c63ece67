"""``train(..., model=...)``: a network of the caller's own (a peer architecture for a same-budget
comparison) trained by the same loop: it learns, its checkpoints say what they hold, and it resumes
exactly."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from glsgn_core.data import make_dataset
from glsgn_core.train import TrainConfig, train
from test_train_cli import pairs  # noqa: F401  (fixture)


class Peer(nn.Module):
    """Not a GLSGN: one residual convolution, no ``restore``, no ``config``, no pathways."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


def _cfg(out, data, **changes) -> TrainConfig:
    base = dict(out=str(out), task="dehaze", data=str(data), val=str(data), model="peer-conv", steps=30, batch=2,
                crop=(64, 64), lr=1e-2, warmup=1, workers=0, precision="fp32", log_every=1, val_every=30, ema=0.9)
    return TrainConfig(**{**base, **changes, "loss": {"perceptual": 0.0, "adversarial": 0.0}})


def _records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_smoke_an_external_network_learns_and_is_validated(pairs, tmp_path) -> None:
    cfg = _cfg(tmp_path / "run", pairs)
    sets = make_dataset(cfg.data, cfg.task, crop=cfg.crop, augment=True, seed=0), make_dataset(cfg.val, cfg.task, crop=None, augment=False)
    result = train(cfg, *sets, model=Peer())
    recs = _records(tmp_path / "run")
    losses = [r["loss"] for r in recs if "loss" in r]
    assert result.step == 30 and len(losses) == 30
    assert sum(losses[-5:]) < 0.6 * sum(losses[:5])  # hazy -> clean is one affine map: a conv learns it
    assert "ssim_loss" not in recs[-1] and recs[-1]["loss"] == pytest.approx(recs[-1]["l1"])
    assert recs[-1]["val_psnr"] > recs[0]["val_input_psnr"] + 3
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["arch"] == "external" and state["model_name"] == "peer-conv" and state["config"] == {}
    assert set(state["ema"]) == {"conv.weight", "conv.bias"}


def test_roundtrip_external_network_resumes_as_if_never_stopped(pairs, tmp_path) -> None:
    def run(out, **changes):
        cfg = _cfg(out, pairs, val=None, steps=6, **changes)
        return train(cfg, make_dataset(cfg.data, cfg.task, crop=cfg.crop, augment=True, seed=0), model=peer[out.name])

    peer = {"whole": Peer(), "split": Peer()}
    run(tmp_path / "whole")
    run(tmp_path / "split", until=3)
    peer["split"] = Peer()  # a fresh instance, as a new process would build
    cfg = _cfg(tmp_path / "split", pairs, val=None, steps=6)
    train(cfg, make_dataset(cfg.data, cfg.task, crop=cfg.crop, augment=True, seed=0), resume=True, model=peer["split"])
    a = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoints" / "last.pt", weights_only=True)
    assert b["step"] == 6
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=1e-6)
        torch.testing.assert_close(a["ema"][k], b["ema"][k], rtol=0, atol=1e-6)


def test_exception_external_runs_resume_only_as_external_runs(pairs, tmp_path) -> None:
    from glsgn_core.errors import GlsgnError
    from glsgn_core.weights import WeightsError, export_checkpoint

    cfg = _cfg(tmp_path / "run", pairs, val=None, steps=1)
    data = make_dataset(cfg.data, cfg.task, crop=cfg.crop, augment=True, seed=0)
    train(cfg, data, model=Peer())
    with pytest.raises(GlsgnError, match=r"train\(model=...\): resume it the same way"):
        train(_cfg(tmp_path / "run", pairs, val=None, steps=2, model="glsgn-lite"), data, resume=True)
    with pytest.raises(WeightsError, match="cannot rebuild"):
        export_checkpoint(tmp_path / "run", tmp_path / "peer.safetensors")
    with pytest.raises(GlsgnError, match="perceptual"):
        train(TrainConfig(**{**vars(_cfg(tmp_path / "other", pairs)), "loss": {"adversarial": 0.0}}), data, model=Peer())
    assert not (tmp_path / "peer.safetensors").exists()
