"""Super-resolution end to end: SR data, `glsgn train --task sr2|sr4` with GLA-Net, export, load, eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glsgn_core.data.datasets import PairedFolder, SyntheticPairs
from glsgn_core.metrics import psnr
from glsgn_core.models.glanet import GLANet
from glsgn_core.restorer import Restorer
from glsgn_core.weights import load_model, read_metadata

TINY = ["--model-config", '{"embed_dim": 8, "depths": [2, 2], "num_heads": 2, "window_size": 4, "upsampler_dim": 8}',
        "--crop", "64x64", "--workers", "0", "--precision", "fp32", "--device", "cpu"]  # fmt: skip


def write_photos(root: Path, n: int = 4, size: int = 96) -> Path:
    """Smooth 'photos' with soft stripes: what a random init gets wrong, a few steps can learn."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    for i in range(n):
        c = rng.uniform(0.3, 0.7, 3)
        stripes = 0.2 * np.sin(2 * np.pi * (5 + i) * (xx + 0.3 * yy))
        image = np.stack([c[0] + stripes, c[1] + 0.2 * np.cos(9 * yy + i), c[2] + stripes * xx], -1).clip(0, 1)
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(root / f"p{i}.png")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("data") / "clean")


def glsgn(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "glsgn_cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def sr2_pairs(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("val") / "sr2"
    r = glsgn("synth", "--task", "sr2", "--clean", photos, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def pil_bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The reference the data is documented to use: PIL's BICUBIC, one float plane at a time."""
    planes = [Image.fromarray(image[..., c].astype(np.float32), "F").resize(size, Image.BICUBIC) for c in range(3)]
    return np.stack([np.asarray(p) for p in planes], axis=-1).clip(0, 1)


# ------------------------------------------------------------------------------------------ data


@pytest.mark.parametrize("task,scale", [("sr2", 2), ("sr4", 4)])
def test_shapes_synthetic_sr_input_is_the_bicubic_downscale_of_the_crop(photos, task, scale):
    data = SyntheticPairs(photos, task, crop=(64, 48), seed=3)
    for i in range(len(data)):
        item = data[i]
        assert item["target"].shape == (3, 48, 64) and item["input"].shape == (3, 48 // scale, 64 // scale)
        target = item["target"].permute(1, 2, 0).numpy()
        expected = pil_bicubic(target, (64 // scale, 48 // scale))
        assert np.abs(item["input"].permute(1, 2, 0).numpy() - expected).max() <= 2 / 255


def test_shapes_paired_sr_crops_stay_aligned(sr2_pairs):
    data = PairedFolder(sr2_pairs, crop=(64, 64), augment=True, seed=5, scale=2)
    for epoch in range(3):
        data.set_epoch(epoch)
        for i in range(len(data)):
            item = data[i]
            assert item["input"].shape == (3, 32, 32) and item["target"].shape == (3, 64, 64)
            small = pil_bicubic(item["target"].permute(1, 2, 0).numpy(), (32, 32))
            inner = np.abs(item["input"].permute(1, 2, 0).numpy() - small)[3:-3, 3:-3]  # away from the crop's edge
            assert inner.max() <= 3 / 255, (epoch, i)


def test_sr_degrade_is_mild_reproducible_and_leaves_targets_alone(photos):
    plain = SyntheticPairs(photos, "sr2", crop=(64, 64), seed=2, length=16)
    rough = SyntheticPairs(photos, "sr2", crop=(64, 64), seed=2, length=16, lr_degrade=True)
    changed = 0
    for i in range(len(plain)):
        a, b = plain[i], rough[i]
        torch.testing.assert_close(a["target"], b["target"], rtol=0, atol=0)
        torch.testing.assert_close(b["input"], rough[i]["input"], rtol=0, atol=0)
        diff = (a["input"] - b["input"]).abs().mean().item()
        assert diff < 0.03, i  # mild: a few levels on average, not a different picture
        changed += diff > 1e-4
    assert changed >= 12  # three coin flips: all three come up "off" 1 time in 8


def test_exception_paired_sr_target_must_be_scale_times_the_input(tmp_path):
    for side, size in (("input", (40, 30)), ("target", (64, 64))):
        (tmp_path / side).mkdir()
        Image.new("RGB", size).save(tmp_path / side / "a.png")
    with pytest.raises(Exception, match=r"a\.png: size 40x30 .*exactly 2 times"):
        PairedFolder(tmp_path, crop=None, scale=2)[0]


def test_exception_sr_crop_must_divide_by_the_scale(photos):
    with pytest.raises(Exception, match="multiple of the SR scale 4"):
        SyntheticPairs(photos, "sr4", crop=(66, 64))


# --------------------------------------------------------------------------------------- training


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


# ------------------------------------------------------------------------------------------- eval


def test_smoke_eval_scores_sr_pairs_against_bicubic(sr2_pairs, tmp_path):
    from glsgn_core.evaluate import evaluate
    from glsgn_core.models import create_model

    torch.manual_seed(0)
    model = create_model("glanet-lite", embed_dim=8, depths=(2,), num_heads=2, window_size=4, upsampler_dim=8, scale=2)
    result = evaluate(Restorer(model, device="cpu").restore, sr2_pairs)
    name = sorted((sr2_pairs / "target").glob("*.png"))[0].name
    target = np.asarray(Image.open(sr2_pairs / "target" / name), dtype=np.float32) / 255
    small = np.asarray(Image.open(sr2_pairs / "input" / name), dtype=np.float32) / 255
    up = torch.from_numpy(pil_bicubic(small, target.shape[1::-1])).permute(2, 0, 1)[None].double()
    expected = float(psnr(up, torch.from_numpy(target).permute(2, 0, 1)[None].double()))
    assert result["n"] == 4 and result["images"][0]["input_psnr"] == pytest.approx(expected, abs=0.05)
    planes = [Image.fromarray(small[..., c], "F").resize(target.shape[1::-1], Image.LANCZOS) for c in range(3)]
    lanczos = torch.from_numpy(np.stack([np.asarray(p) for p in planes], -1).clip(0, 1)).permute(2, 0, 1)[None].double()
    expected = float(psnr(lanczos, torch.from_numpy(target).permute(2, 0, 1)[None].double()))
    assert result["images"][0]["lanczos_psnr"] == pytest.approx(expected, abs=0.05)
    assert result["lanczos_psnr"] == pytest.approx(np.mean([i["lanczos_psnr"] for i in result["images"]]))
