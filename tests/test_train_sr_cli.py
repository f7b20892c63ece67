"""`glsgn train --task sr2|sr4` with GLA-Net end to end: falling loss, the bicubic baseline, export,
load and upscale; the SR defaults, and what an SR run refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glsgn_core.data.datasets import PairedFolder
from glsgn_core.models.glanet import GLANet
from glsgn_core.weights import load_model, read_metadata
from sr_fixtures import glsgn, photos, pil_bicubic, sr2_pairs  # noqa: F401  (fixtures)

TINY = ["--model-config", '{"embed_dim": 8, "depths": [2, 2], "num_heads": 2, "window_size": 4, "upsampler_dim": 8}',
        "--crop", "64x64", "--workers", "0", "--precision", "fp32", "--device", "cpu"]  # fmt: skip


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_smoke_sr2_loss_falls_and_beats_its_start(photos, sr2_pairs, tmp_path):
    run = tmp_path / "run"
    r = glsgn("train", "--out", run, "--task", "sr2", "--data", photos, "--val", sr2_pairs, "--steps", 60,
              "--batch", 2, "--log-every", 1, "--val-every", 60, "--lr", "2e-3", "--warmup", 0, *TINY)  # fmt: skip
    assert r.returncode == 0, r.stderr
    logged = [x for x in records(run) if "loss" in x]
    assert [x["step"] for x in logged] == list(range(1, 61)) and all("perceptual" not in x for x in logged)
    first, last = np.mean([x["loss"] for x in logged[:5]]), np.mean([x["loss"] for x in logged[-5:]])
    assert last < 0.8 * first, (first, last)
    val = [x for x in records(run) if "val_psnr" in x]
    assert [x["step"] for x in val] == [0, 60] and val[1]["val_psnr"] > val[0]["val_psnr"]
    # step 0 logs the bicubic baseline: the PSNR of PIL's bicubic upscale of each whole input
    baseline = []
    val_set = PairedFolder(sr2_pairs, crop=None, augment=False, seed=0, scale=2)  # what --val reads
    for item in (val_set[i] for i in range(len(val_set))):
        target = item["target"].permute(1, 2, 0).numpy().astype(np.float64)
        up = pil_bicubic(item["input"].permute(1, 2, 0).numpy(), target.shape[1::-1]).astype(np.float64)
        baseline.append(10 * np.log10(1 / np.mean((up - target) ** 2)))
    assert val[0]["val_input_psnr"] == pytest.approx(np.mean(baseline), abs=0.05)
    assert "input" in r.stderr and "val PSNR" in r.stderr

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["arch"] == "glanet" and state["model_name"] == "glanet-lite" and state["task"] == "sr2"
    assert state["config"]["scale"] == 2 and state["config"]["embed_dim"] == 8 and state["disc"] is None

    # export -> load -> upscale: the exported file rebuilds the trained model exactly
    exported = tmp_path / "x2.safetensors"
    r = glsgn("models", "export", run, "-o", exported)
    assert r.returncode == 0, r.stderr
    meta = read_metadata(exported)
    assert meta["arch"] == "glanet" and meta["task"] == "sr2" and json.loads(meta["config"])["scale"] == 2
    model, _ = load_model(str(exported))
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert isinstance(model, GLANet) and model.scale == 2
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, best["model"][key], rtol=0, atol=0)
    r = glsgn("upscale", sr2_pairs / "input", "-o", tmp_path / "up", "--scale", 2, "--weights", exported, "--device", "cpu", "-q")
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_smoke_sr_defaults_are_glanet_l1_and_lr_1e4(photos, tmp_path):
    run = tmp_path / "run"
    r = glsgn("train", "--out", run, "--task", "sr4", "--data", photos, "--steps", 1, "--batch", 1,
              "--crop", "64x64", "--workers", "0", "--precision", "fp32", "--device", "cpu")  # fmt: skip
    assert r.returncode == 0, r.stderr
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["model_name"] == "glanet-lite" and state["config"]["scale"] == 4
    recipe = state["recipe"]
    assert recipe["lr"] == 1e-4 and recipe["loss"]["perceptual"] == 0 and recipe["loss"]["adversarial"] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--perceptual-weight", "0.01"], "L1 alone"),
        (["--keep-weight", "3"], "--keep-weight 0"),
        (["--task", "derain", "--sr-degrade"], "--sr-degrade applies to sr2 and sr4"),
        (["--config", "glsgn-lite", "--model-config", "{}"], "needs an upscaler with scale 2"),
        (["--model-config", '{"embed_dim": 8, "num_heads": 2, "scale": 4}'], "needs an upscaler with scale 2"),
    ],
)
def test_exception_sr_runs_refuse_what_does_not_fit(photos, tmp_path, args, message):
    r = glsgn("train", "--out", tmp_path / "run", "--task", "sr2", "--data", photos, "--steps", 1,
              "--crop", "64x64", "--workers", "0", "--device", "cpu", *args)  # fmt: skip
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()

