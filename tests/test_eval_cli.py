"""`glsgn eval`: text and JSON output, the HTML report, clean photos, usage errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from conftest import TINY
from eval_fixtures import pairs  # noqa: F401  (fixture)
from glsgn_cli.app import app
from glsgn_core.models import create_model
from glsgn_core.weights import save_weights


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



def test_cli_eval_carries_on_past_a_bad_pair(pairs, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_weights(create_model("glsgn-lite", **TINY), weights, task="derain", model_name="glsgn-lite")
    for side in ("input", "target"):  # a pair whose input is not an image at all
        (pairs / side / "zz.png").write_text("not a picture")
    base = ["eval", "--weights", str(weights), "--device", "cpu", "--data", str(pairs)]
    text = CliRunner().invoke(app, base)
    assert text.exit_code == 1, text.output
    assert [line for line in text.stderr.splitlines() if "error" in line] == [
        line for line in text.stderr.splitlines() if "zz.png" in line and line.startswith("glsgn: error:")]
    assert "1 file(s) could not be scored" in text.stderr and "2 images  restored" in text.stdout
    data = json.loads(CliRunner().invoke(app, [*base, "--json"]).stdout)
    assert data["n"] == 2 and [f["name"] for f in data["failed"]] == ["zz"]
    for side in ("input", "target"):  # readable, but too small for the model: the restorer refuses it
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(pairs / side / "zz.png")
    small = CliRunner().invoke(app, base)
    assert small.exit_code == 1 and f"glsgn: error: {pairs / 'input' / 'zz.png'}: image is 8x8 pixels" in small.stderr
    for p in (pairs / "input").iterdir():
        p.write_text("not a picture")
    none = CliRunner().invoke(app, base)
    assert none.exit_code == 1 and none.stderr.count("glsgn: error:") == 4 and "none of the 3 pairs could be scored" in none.stderr
