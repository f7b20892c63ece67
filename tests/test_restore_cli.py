"""`glsgn derain | dehaze | dereflect` end to end: real files, a real (tiny) weights file, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from glsgn_cli.app import app
from glsgn_core.image_io import read_image
from glsgn_core.models import create_model
from glsgn_core.weights import save_weights
from conftest import TINY
from weights_fixtures import entry_for, tiny_bytes, use_registry, weights_env  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny-derain.safetensors"
    save_weights(create_model("glsgn-lite", **TINY), path, task="derain", model_name="glsgn-lite")
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "shots"
    (root / "day" / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA").save(root / "day" / "b.png")
    Image.fromarray(rng.integers(0, 256, (80, 66, 3), dtype=np.uint8)).save(root / "day" / "sub" / "c.jpg", quality=92)
    Image.fromarray(rng.integers(0, 65536, (64, 72), dtype=np.uint16)).save(root / "grey16.png")
    return root


def invoke(*args: str):
    return CliRunner().invoke(app, [*map(str, args)])


def test_smoke_folder_mirrored_with_types_and_alpha_kept(weights, photos, tmp_path):
    out = tmp_path / "clean"
    result = invoke("derain", photos, "-o", out, "--weights", weights, "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "day/b.png", "day/sub/c.jpg", "grey16.png"]
    src, dst = read_image(photos / "day" / "b.png"), read_image(out / "day" / "b.png")
    np.testing.assert_array_equal(dst.alpha, src.alpha)  # alpha passed through untouched
    assert read_image(out / "grey16.png").pixels.dtype == np.uint16
    assert read_image(out / "grey16.png").pixels.shape == (64, 72, 1)
    assert not any(p.name.startswith(".") for p in out.rglob("*"))  # no temp files left


def test_json_lines_and_beside_input_naming(weights, photos):
    result = invoke("dehaze", photos / "a.png", "--weights", weights, "--device", "cpu", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    line, summary = result.stdout.strip().splitlines()  # JSON Lines: one object per file, then the summary
    record = json.loads(line)
    assert json.loads(summary)["summary"]["done"] == 1
    assert record["status"] == "done" and record["output"].endswith("a_dehaze.png") and record["error"] is None
    assert {"input", "output", "status", "seconds", "error"} <= record.keys()
    assert (photos / "a_dehaze.png").exists()


def test_batch_goes_on_past_bad_files_and_exits_1(weights, photos, tmp_path):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("RGB", (1, 1)).save(photos / "tiny.png")
    out = tmp_path / "o"
    result = invoke("derain", photos, "-o", out, "--weights", weights, "--device", "cpu", "--quiet")
    assert result.exit_code == 1
    errors = [l for l in result.stderr.splitlines() if l.startswith("glsgn: error:")]
    assert len(errors) == 2
    assert any("broken.png" in l for l in errors) and any("tiny.png" in l and "at least 64x64" in l for l in errors)
    assert (out / "a.png").exists() and (out / "grey16.png").exists()
    assert not (out / "broken.png").exists() and not (out / "tiny.png").exists()


def test_existing_outputs_skipped_unless_overwrite(weights, photos, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "a.png").write_bytes(b"mine")
    result = invoke("derain", photos / "a.png", "-o", out, "--weights", weights, "--device", "cpu")
    assert result.exit_code == 0 and "skipped" in result.stderr
    assert (out / "a.png").read_bytes() == b"mine"
    result = invoke("derain", photos / "a.png", "-o", out, "--weights", weights, "--device", "cpu", "--overwrite")
    assert result.exit_code == 0 and read_image(out / "a.png").pixels.shape == (70, 90, 3)


def test_output_equal_to_input_is_refused(weights, photos):
    before = (photos / "a.png").read_bytes()
    result = invoke("derain", photos / "a.png", "--suffix", "", "--weights", weights, "--device", "cpu", "--overwrite")
    assert result.exit_code == 1 and "would be replaced by its own output" in result.stderr
    assert (photos / "a.png").read_bytes() == before


def test_shards_partition_the_inputs(weights, photos, tmp_path):
    seen = []
    for k in (1, 2):
        result = invoke("derain", photos, "-o", tmp_path / "o", "--weights", weights, "--device", "cpu",
                        "--shard", f"{k}/2", "--json", "--quiet")
        assert result.exit_code == 0, result.output
        seen.append({json.loads(l)["input"] for l in result.stdout.splitlines()[:-1]})
    assert seen[0].isdisjoint(seen[1]) and len(seen[0] | seen[1]) == 4


@pytest.mark.parametrize(
    "args,message",
    [
        (["--shard", "3/2"], "shard"),
        (["--window", "big"], "window"),
        (["--device", "tpu"], "not a device"),
        (["--precision", "int4"], "precision"),
        (["--guide", "32"], "guide size 32"),
    ],
)
def test_exception_usage_errors_exit_2(weights, photos, args, message):
    result = invoke("derain", photos / "a.png", "--weights", weights, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_guide_restores_at_the_guide_size_and_keeps_the_full_size(weights, tmp_path):
    rng = np.random.default_rng(3)
    src = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 256, (128, 384, 3), dtype=np.uint8)).save(src)
    outs = {}
    for guide in ("0", "128"):
        outs[guide] = tmp_path / f"out-{guide}.png"
        result = invoke("dehaze", src, "-o", outs[guide], "--weights", weights, "--device", "cpu", "--guide", guide, "--quiet")
        assert result.exit_code == 0, result.output
    full, guided = (read_image(outs[g]).pixels for g in ("0", "128"))
    assert full.shape == guided.shape == (128, 384, 3)
    assert np.abs(full.astype(int) - guided.astype(int)).mean() > 1  # another path: the model ran on a 192x64 downscale (not below its 64-px minimum)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_exception_cuda_requested_without_cuda(weights, photos):
    result = invoke("derain", photos / "a.png", "--weights", weights, "--device", "cuda")
    assert result.exit_code == 2 and "CUDA is not available" in result.stderr
    result = invoke("derain", photos / "a.png", "-o", photos / "x.png", "--weights", weights, "--device", "auto")
    # The fallback is worth a word only to a CUDA build of torch; a CPU-only install runs on the CPU as asked.
    assert result.exit_code == 0 and ("running on the CPU" in result.stderr) == torch.backends.cuda.is_built()


def test_exception_missing_model_says_how_to_get_it(photos, weights_env, tiny_bytes, monkeypatch):
    # registered, but neither cached nor bundled, and downloads are off
    use_registry(monkeypatch, entry_for("glsgn-dereflect", tiny_bytes["derain"], task="dereflect"))
    monkeypatch.setenv("GLSGN_OFFLINE", "1")
    result = invoke("dereflect", photos / "a.png", "--model", "glsgn-dereflect")
    assert result.exit_code == 2
    assert "glsgn-dereflect" in result.stderr and "--weights" in result.stderr
    assert not (photos / "a_dereflect.png").exists()


def test_exception_missing_input(weights, tmp_path):
    result = invoke("derain", tmp_path / "nope.jpg", "--weights", weights)
    assert result.exit_code == 2 and "nope.jpg" in result.stderr


def test_help_is_instant_and_does_not_import_torch():
    code = "import sys; from glsgn_cli.app import app; import glsgn_cli.restore; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "glsgn_cli", "derain", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--shard" in out.stdout and "rain streaks" in out.stdout
