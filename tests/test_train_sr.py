"""Super-resolution data and evaluation: SR inputs are the bicubic downscale of their targets, paired
crops stay aligned, and eval scores SR pairs against bicubic (``glsgn train`` for SR: test_train_sr_cli.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from glsgn_core.data.datasets import PairedFolder, SyntheticPairs
from glsgn_core.metrics import psnr
from glsgn_core.restorer import Restorer
from sr_fixtures import photos, pil_bicubic, sr2_pairs  # noqa: F401  (fixtures)


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


# ------------------------------------------------------------------------------------------- eval


def test_smoke_eval_scores_sr_pairs_against_bicubic(sr2_pairs, tmp_path, device):
    from glsgn_core.evaluate import evaluate
    from glsgn_core.models import create_model

    torch.manual_seed(0)
    model = create_model("glanet-lite", embed_dim=8, depths=(2,), num_heads=2, window_size=4, upsampler_dim=8, scale=2)
    result = evaluate(Restorer(model, device=str(device)).restore, sr2_pairs)
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
