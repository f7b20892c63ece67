"""`glsgn upscale --scale 2|4` end to end: real files, tiny random GLA-Net weights files, exit codes.

The pipeline it shares with the restore commands (shards, skipping, atomic writes) is covered in
test_restore_cli.py, and windowed upscaling in test_restorer.py; this file checks what upscaling adds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms
from typer.testing import CliRunner

from glsgn_cli.app import app
from glsgn_core.image_io import read_image
from glsgn_core.models import create_model
from glsgn_core.weights import save_weights

# The smallest GLA-Net with every mechanism (window attention, shifts, Inception, dense fusion).
TINY_GLANET = dict(embed_dim=8, depths=(2, 2), num_heads=2, window_size=4, upsampler_dim=8)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("w")
    paths = {}
    for scale in (2, 4):
        torch.manual_seed(scale)
        paths[scale] = folder / f"tiny-x{scale}.safetensors"
        model = create_model("glanet-lite", **TINY_GLANET, scale=scale)
        save_weights(model, paths[scale], task=f"sr{scale}", model_name="glanet-lite")
    return paths


@pytest.fixture
def photos(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "shots"
    (root / "day").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (21, 34, 3), dtype=np.uint8)).save(root / "a.png")
    rgba = rng.integers(0, 256, (16, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[:, 12:, 3] = 255  # transparent left half, opaque right half
    Image.fromarray(rgba, "RGBA").save(root / "day" / "b.png")
    exif = Image.Exif()
    exif[0x010F] = "GlsgnCam"
    jpeg = rng.integers(0, 256, (18, 20, 3), dtype=np.uint8)
    Image.fromarray(jpeg).save(root / "day" / "c.jpg", quality=92, exif=exif.tobytes(), icc_profile=SRGB, dpi=(300, 300))
    Image.fromarray(rng.integers(0, 65536, (17, 19), dtype=np.uint16)).save(root / "grey16.png")
    return root


def invoke(*args) -> object:
    return CliRunner().invoke(app, [*map(str, args)])


def test_smoke_folder_mirrored_every_file_upscaled_x2(weights, photos, tmp_path):
    out = tmp_path / "big"
    result = invoke("upscale", photos, "--scale", 2, "-o", out, "--weights", weights[2], "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "day/b.png", "day/c.jpg", "grey16.png"]
    for name in written:
        src, dst = read_image(photos / name), read_image(out / name)
        assert (dst.height, dst.width) == (2 * src.height, 2 * src.width), name
        assert dst.pixels.dtype == src.pixels.dtype and dst.channels == src.channels, name


def test_alpha_upscaled_on_its_own_and_16_bit_kept_x4(weights, photos, tmp_path):
    out = tmp_path / "big"
    result = invoke("upscale", photos, "-s", 4, "-o", out, "--weights", weights[4], "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    alpha = read_image(out / "day" / "b.png").alpha
    assert alpha.shape == (64, 96)
    # The colour model never sees alpha: away from the edge it is exactly what the file had.
    assert (alpha[:, :40] == 0).all() and (alpha[:, 56:] == 255).all()
    grey = read_image(out / "grey16.png").pixels
    assert grey.dtype == np.uint16 and grey.shape == (68, 76, 1)
    assert len(np.unique(grey)) > 256  # 16-bit precision, not 8-bit values stretched


def test_exif_icc_kept_and_dpi_scaled(weights, photos, tmp_path):
    out = tmp_path / "c.jpg"
    result = invoke("upscale", photos / "day" / "c.jpg", "--scale", 2, "-o", out, "--weights", weights[2],
                    "--device", "cpu", "--quality", 90)  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size == (40, 36)
        assert im.info.get("icc_profile") == SRGB and im.getexif()[0x010F] == "GlsgnCam"
        assert im.info["dpi"] == pytest.approx((600, 600), abs=1)  # the printed size is unchanged


def test_json_lines_and_default_suffix_per_scale(weights, photos):
    for scale in (2, 4):
        result = invoke("upscale", photos / "a.png", "--scale", scale, "--weights", weights[scale],
                        "--device", "cpu", "--json", "--quiet")  # fmt: skip
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout.splitlines()[0])
        assert record["status"] == "done" and record["output"].endswith(f"a_x{scale}.png")
        assert read_image(photos / f"a_x{scale}.png").pixels.shape == (21 * scale, 34 * scale, 3)


def test_exception_weights_of_another_scale_name_both(weights, photos):
    result = invoke("upscale", photos / "a.png", "--scale", 2, "--weights", weights[4], "--device", "cpu")
    assert result.exit_code == 2
    assert "x4" in result.stderr and "--scale 2" in result.stderr and str(weights[4]) in result.stderr
    assert not (photos / "a_x2.png").exists()


def test_exception_restore_command_refuses_an_upscaler(weights, photos):
    result = invoke("derain", photos / "a.png", "--weights", weights[2], "--device", "cpu")
    assert result.exit_code == 2 and "upscales x2" in result.stderr
    assert not (photos / "a_derain.png").exists()


def test_exception_restoration_weights_refused_by_upscale(photos, tmp_path):
    path = tmp_path / "derain.safetensors"
    glsgn = create_model("glsgn-lite", widths=(4, 8, 8, 8, 8), enc_blocks=(1, 0, 0, 0), dec_blocks=(1, 1, 0, 0), mid_blocks=1)
    save_weights(glsgn, path, task="derain", model_name="glsgn-lite")
    result = invoke("upscale", photos / "a.png", "--scale", 4, "--weights", path, "--device", "cpu")
    assert result.exit_code == 2 and "x1" in result.stderr and "--scale 4" in result.stderr


@pytest.mark.parametrize("scale", ["3", "1", "x2"])
def test_exception_scale_must_be_2_or_4(weights, photos, scale):
    result = invoke("upscale", photos / "a.png", "--scale", scale, "--weights", weights[2])
    assert result.exit_code == 2 and "scale" in result.stderr


@pytest.mark.parametrize("scale", [2, 4])
def test_smoke_bundled_default_model_upscales_offline(photos, tmp_path, monkeypatch, scale):
    monkeypatch.setenv("GLSGN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GLSGN_OFFLINE", "1")
    out = tmp_path / f"a_x{scale}.png"
    result = invoke("upscale", photos / "a.png", "--scale", scale, "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    small, big = Image.open(photos / "a.png"), Image.open(out)
    assert big.size == (small.width * scale, small.height * scale)


def test_exception_missing_default_model_says_how_to_get_it(photos, tmp_path, monkeypatch):
    from glsgn_core.weights import registry

    monkeypatch.setattr(registry, "REGISTRY", tuple(e for e in registry.REGISTRY if not e.name.startswith("glanet")))
    monkeypatch.setenv("GLSGN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GLSGN_OFFLINE", "1")
    result = invoke("upscale", photos / "a.png", "--scale", 4)
    assert result.exit_code == 2
    assert "glanet-x4" in result.stderr and "--weights" in result.stderr
    assert not (photos / "a_x4.png").exists()


def test_exception_image_smaller_than_the_model_window_fails_alone(weights, photos, tmp_path):
    Image.new("RGB", (3, 40)).save(photos / "sliver.png")
    out = tmp_path / "o"
    result = invoke("upscale", photos, "--scale", 2, "-o", out, "--weights", weights[2], "--device", "cpu", "--quiet")
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("glsgn: error:")]
    assert "sliver.png" in error and "at least 4x4" in error
    assert (out / "a.png").exists() and not (out / "sliver.png").exists()


def test_help_is_instant_and_does_not_import_torch():
    code = "import sys; from glsgn_cli.app import app; import glsgn_cli.upscale; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "glsgn_cli", "upscale", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--scale" in out.stdout and "--shard" in out.stdout and "GLA-Net" in out.stdout


def test_exception_bad_scale_fails_before_the_weights_are_looked_at(photos, tmp_path):
    result = invoke("upscale", photos / "a.png", "--scale", 3, "--weights", tmp_path / "missing.safetensors")
    assert result.exit_code == 2 and "--scale 3: upscale works at scale 2 or 4" in result.stderr
    assert "missing" not in result.stderr
