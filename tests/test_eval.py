"""`glsgn eval` and glsgn_core.evaluate: figures checked against scikit-image, the HTML report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from typer.testing import CliRunner

from conftest import TINY
from glsgn_cli.app import app
from glsgn_core.evaluate import evaluate
from glsgn_core.models import create_model
from glsgn_core.weights import save_weights


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    for side in ("input", "target"):
        (tmp_path / "pairs" / side).mkdir(parents=True)
    for i in range(2):
        clean = rng.integers(30, 220, (72, 96, 3)).astype(np.uint8)
        noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(clean).save(tmp_path / "pairs" / "target" / f"p{i}.png")
        Image.fromarray(noisy).save(tmp_path / "pairs" / "input" / f"p{i}.png")
    return tmp_path / "pairs"


def test_scores_match_scikit_image(pairs):
    def halfway(x):  # a stand-in restorer: blend towards mid-grey
        return 0.9 * x + 0.05

    result = evaluate(halfway, pairs)
    assert result["n"] == 2
    for rec in result["images"]:
        inp = np.asarray(Image.open(pairs / "input" / f"{rec['name']}.png")).astype(np.float64) / 255
        tgt = np.asarray(Image.open(pairs / "target" / f"{rec['name']}.png")).astype(np.float64) / 255
        out = halfway(inp.astype(np.float32)).astype(np.float64)
        kw = dict(data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert rec["psnr"] == pytest.approx(peak_signal_noise_ratio(tgt, out, data_range=1.0), abs=1e-3)
        assert rec["ssim"] == pytest.approx(structural_similarity(tgt, out, **kw), abs=1e-4)
        assert rec["input_psnr"] == pytest.approx(peak_signal_noise_ratio(tgt, inp, data_range=1.0), abs=1e-6)
    assert result["psnr"] == pytest.approx(np.mean([r["psnr"] for r in result["images"]]))


def test_cli_eval_json_and_report(pairs, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_weights(create_model("glsgn-lite", **TINY), weights, task="derain", model_name="glsgn-lite")
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["eval", "--weights", str(weights), "--data", str(pairs), "--json",
                                      "--report", str(report), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n"] == 2 and {"psnr", "ssim", "input_psnr", "input_ssim", "images"} <= data.keys()
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 6 and "ground truth" in page


@pytest.mark.parametrize("args", [[], ["--model", "a", "--weights", "b"]])
def test_exception_needs_exactly_one_model(pairs, args):
    result = CliRunner().invoke(app, ["eval", "--data", str(pairs), *args])
    assert result.exit_code == 2 and "exactly one" in result.stderr


def test_exception_unmatched_pairs(pairs, tmp_path):
    (pairs / "input" / "extra.png").write_bytes((pairs / "input" / "p0.png").read_bytes())
    with pytest.raises(Exception, match="extra"):
        evaluate(lambda x: x, pairs)


def test_worst_image_is_the_smallest_gain(pairs):
    # A restorer that hands p0 back and inverts p1 (told apart by their first pixel).
    p1 = np.asarray(Image.open(pairs / "input" / "p1.png")).astype(np.float32) / 255

    def ruin_p1(x):
        return 1.0 - x if np.array_equal(x[0, 0], p1[0, 0]) else x

    result = evaluate(ruin_p1, pairs)
    assert result["worst"]["name"] == "p1"
    assert result["worst"]["gain"] < -10.0
    assert result["gain"] == pytest.approx(result["psnr"] - result["input_psnr"])


def test_clean_photos_scored_against_their_own_input(pairs, tmp_path):
    from glsgn_core.evaluate import evaluate_clean

    folder = pairs / "target"
    identity = evaluate_clean(lambda x: x, folder)
    assert identity["n"] == 2 and identity["psnr"] == float("inf")
    dimmed = evaluate_clean(lambda x: 0.9 * x, folder)
    for rec in dimmed["images"]:
        photo = np.asarray(Image.open(folder / f"{rec['name']}.png")).astype(np.float64) / 255
        expected = peak_signal_noise_ratio(photo, (0.9 * photo.astype(np.float32)).astype(np.float64), data_range=1.0)
        assert rec["psnr"] == pytest.approx(expected, abs=1e-3)
    assert dimmed["worst"]["psnr"] == min(r["psnr"] for r in dimmed["images"])


def test_cli_eval_clean_and_worst_in_text_and_json(pairs, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_weights(create_model("glsgn-lite", **TINY), weights, task="derain", model_name="glsgn-lite")
    base = ["eval", "--weights", str(weights), "--device", "cpu", "--clean", str(pairs / "target")]
    text = CliRunner().invoke(app, [*base, "--data", str(pairs)])
    assert text.exit_code == 0, text.output
    assert "worst image: p" in text.stdout and "2 clean photos  output vs input" in text.stdout
    only_clean = CliRunner().invoke(app, [*base, "--json"])
    assert only_clean.exit_code == 0, only_clean.output
    data = json.loads(only_clean.stdout)
    assert data["clean"]["n"] == 2 and {"psnr", "worst", "images"} <= data["clean"].keys()


def test_without_ssim_same_psnr_and_no_ssim(pairs):
    full, fast = evaluate(lambda x: 0.9 * x, pairs), evaluate(lambda x: 0.9 * x, pairs, with_ssim=False)
    assert [r["psnr"] for r in fast["images"]] == [r["psnr"] for r in full["images"]]
    assert all(np.isnan(r["ssim"]) for r in fast["images"]) and not np.isnan(full["ssim"])
