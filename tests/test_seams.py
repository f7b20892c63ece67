"""benchmarks/seams.py: the seam and stripes figures find what was drawn, and nothing else."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location("seams", Path(__file__).parents[1] / "benchmarks" / "seams.py")
seams = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seams)

SKY = seams.sky(540, 960)  # padding period 64: S1 borders at columns 240, 480, 720 and rows 144, 288, 432


def measure(change) -> dict[str, float]:
    out = SKY.astype(np.int16)
    change(out)
    return seams.seams(SKY, np.clip(out, 0, 255).astype(np.uint8), 64, 2.0)


def test_borders_are_quarters_of_the_padded_side():
    assert seams.borders(960, 64) == [240, 480, 720]
    assert seams.borders(540, 64) == [144, 288, 432]  # padded to 576


def test_identity_has_no_seam_and_no_stripes():
    assert measure(lambda o: None) == {"seam": 0.0, "worst_border": 0.0, "stripes": 0.0}


@pytest.mark.parametrize("levels", [1, 3])
def test_a_step_on_a_border_reads_as_its_height(levels):
    def step(o):
        o[:, 480:] += levels

    r = measure(step)
    assert r["worst_border"] == pytest.approx(levels, abs=0.05)
    assert r["seam"] == pytest.approx(levels / 6, abs=0.05)  # one border of six (three each way)


def test_a_step_off_the_grid_is_no_seam():
    def step(o):
        o[:, 500:] += 3

    assert measure(step)["worst_border"] == pytest.approx(0.0, abs=0.05)


def test_a_line_on_a_row_border():
    def line(o):
        o[288] += 2

    assert measure(line)["worst_border"] == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("period", [64, 32])
def test_stripes_at_the_padding_period_or_a_divisor(period):
    def stripes(o):
        o[:, period - 1 :: period] += 2

    r = measure(stripes)
    assert r["stripes"] == pytest.approx(2.0, abs=0.05)
    assert measure(lambda o: None)["stripes"] == 0.0


def test_stripes_on_a_border_position_are_no_seam():
    """Lines every 64 px that also fall on the borders' position: stripes, not seams."""

    def stripes(o):
        o[:, 240 % 64 :: 64] += 2  # columns 48, 112, ..., 240, ...: border 240 among them

    r = measure(stripes)
    assert r["stripes"] == pytest.approx(2.0, abs=0.05)
    assert r["worst_border"] == pytest.approx(0.0, abs=0.05)
    assert r["seam"] == pytest.approx(0.0, abs=0.05)


def test_seams_stay_out_of_the_stripes():
    def steps(o):
        for x in (240, 480, 720):
            o[:, x:] += 5

    r = measure(steps)
    assert r["worst_border"] == pytest.approx(5.0, abs=0.05)
    assert r["stripes"] == pytest.approx(0.0, abs=0.05)


def test_texture_is_left_out():
    """Where the input is busy (steps above --smooth), nothing is measured there."""
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 256, SKY.shape).astype(np.uint8)
    out = busy.astype(np.int16)
    out[:, 480:] += 3
    r = seams.seams(busy, np.clip(out, 0, 255).astype(np.uint8), 64, 2.0)
    assert np.isnan(r["seam"]) and np.isnan(r["worst_border"])
