"""glsgn_core.evaluate: figures checked against scikit-image (``glsgn eval`` itself: test_eval_cli.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from eval_fixtures import pairs  # noqa: F401  (fixture)
from glsgn_core.errors import GlsgnError
from glsgn_core.evaluate import NothingScored, evaluate


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
    assert identity["worst"]["shift"] == 0.0
    darker = evaluate_clean(lambda x: x - np.float32(10 / 255), folder)  # every sample 10 levels down
    assert all(r["shift"] == pytest.approx(-10.0, abs=1e-3) for r in darker["images"])
    assert darker["worst"]["shift"] == pytest.approx(-10.0, abs=1e-3)


def test_without_ssim_same_psnr_and_no_ssim(pairs):
    full, fast = evaluate(lambda x: 0.9 * x, pairs), evaluate(lambda x: 0.9 * x, pairs, with_ssim=False)
    assert [r["psnr"] for r in fast["images"]] == [r["psnr"] for r in full["images"]]
    assert all(np.isnan(r["ssim"]) for r in fast["images"]) and not np.isnan(full["ssim"])


def test_exceptions_unreadable_pair_is_listed_and_skipped(pairs):
    for side in ("input", "target"):
        (pairs / side / "zz.png").write_bytes(b"")
    seen = []
    result = evaluate(lambda x: x, pairs, on_failed=lambda name, error: seen.append(name))
    assert result["n"] == 2 and [f["name"] for f in result["failed"]] == ["zz"] == seen
    assert "zz.png" in result["failed"][0]["error"]
    with pytest.raises(GlsgnError, match="zz.png"):  # without on_failed, the first bad pair stops it
        evaluate(lambda x: x, pairs)
    for p in (pairs / "input").glob("p*.png"):
        p.write_bytes(b"")
    with pytest.raises(NothingScored, match="none of the 3 pairs"):
        evaluate(lambda x: x, pairs, on_failed=lambda name, error: None)


def test_exceptions_a_skipped_pair_is_named_even_when_the_restorer_does_not_name_it(pairs):
    p1 = np.asarray(Image.open(pairs / "input" / "p1.png")).astype(np.float32) / 255

    def refuse_p1(x):
        if np.allclose(x, p1):
            raise GlsgnError("image is too small for this model")
        return x

    result = evaluate(refuse_p1, pairs, on_failed=lambda name, error: None)
    assert result["failed"] == [{"name": "p1", "error": f"{pairs / 'input' / 'p1.png'}: image is too small for this model"}]
