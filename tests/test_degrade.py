"""Synthetic degradations: reproducible, in range, and degrading in the way each physical model says."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from photo_fixtures import photo_float

from glsgn_core.data.degrade import TASKS, _filter, add_haze, add_rain, add_reflection, degrade
from glsgn_core.metrics import psnr


def _run(task: str, img: np.ndarray, seed: int, **kw) -> np.ndarray:
    return degrade(task, img, np.random.default_rng(seed), pool=[photo_float(3, (200, 150))], **kw)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(psnr(torch.from_numpy(a.transpose(2, 0, 1)), torch.from_numpy(b.transpose(2, 0, 1))))


@pytest.mark.parametrize("task", TASKS)
def test_determinism_same_seed_same_image(task):
    img = photo_float(0)
    a, b, c = _run(task, img, 5), _run(task, img, 5), _run(task, img, 6)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("size", [(101, 67), (160, 120), (17, 250)])
def test_shapes_dtype_range(task, size):
    img = photo_float(1, size)
    out = _run(task, img, 0)
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.shares_memory(out, img)


# Thick fog is a legitimate draw, and faint reflections are common on real glass.
BANDS = {"derain": (10.0, 35.0), "dehaze": (7.0, 30.0), "dereflect": (15.0, 38.0)}


@pytest.mark.parametrize("task", TASKS)
def test_psnr_plausible_band_over_seeds(task):
    """Every draw degrades visibly without destroying the photo, and the strength varies."""
    img = photo_float(0, (384, 256))
    low, high = BANDS[task]
    values = [_psnr(_run(task, img, seed), img) for seed in range(8)]
    assert all(low < v < high for v in values), values
    assert max(values) - min(values) > 3.0, "the degradation strength should vary between draws"


def _detail(grey: np.ndarray) -> float:
    gy, gx = np.gradient(grey)
    return float(np.hypot(gx, gy).mean())


def test_haze_lowers_local_contrast():
    """Haze scales local detail by t < 1 and lifts the dark pixels towards the airlight."""
    img = photo_float(1, (192, 128))
    grey = img.mean(axis=-1)
    for seed in range(8):
        hazy = add_haze(img, np.random.default_rng(seed)).mean(axis=-1)
        assert _detail(hazy) < 0.9 * _detail(grey)
        assert np.percentile(hazy, 5) > np.percentile(grey, 5)


def _streak_angle(diff: np.ndarray) -> float:
    """Dominant orientation (degrees from vertical) of the structure in ``diff``.

    Structure tensor from the power spectrum (exact, isotropic derivatives): the image varies
    least along the streaks, so that is the eigenvector with the smallest eigenvalue.
    """
    power = np.abs(np.fft.fft2(diff - diff.mean())) ** 2
    fy = np.fft.fftfreq(diff.shape[0])[:, None]
    fx = np.fft.fftfreq(diff.shape[1])[None, :]
    sxx, sxy, syy = (power * fx * fx).sum(), (power * fx * fy).sum(), (power * fy * fy).sum()
    j = np.array([[sxx, sxy], [sxy, syy]])
    ux, uy = np.linalg.eigh(j)[1][:, 0]
    return (math.degrees(math.atan2(ux, uy)) + 90.0) % 180.0 - 90.0


@pytest.mark.parametrize("angle", [-25.0, 0.0, 20.0])
def test_rain_bright_streaks_along_the_chosen_angle(angle):
    flat = np.full((256, 256, 3), 0.3, np.float32)
    for seed in range(3):
        rainy = add_rain(flat, np.random.default_rng(seed), angle=angle, ref_size=1080)
        diff = (rainy - flat).mean(axis=-1)
        assert diff.mean() > 0.0 and np.percentile(diff, 99.5) > 0.08, "rain adds bright structure"
        assert abs(_streak_angle(diff) - angle) < 8.0  # layers and streaks scatter a few degrees


def test_rain_streaks_scale_with_the_whole_photo_size():
    """A crop of a 4K photo (ref_size 2160) gets longer streaks than a 256-pixel photo."""
    flat = np.full((256, 256, 3), 0.2, np.float32)

    def vertical_correlation(ref: int, seed: int) -> float:
        d = (add_rain(flat, np.random.default_rng(seed), angle=0.0, ref_size=ref) - flat).mean(axis=-1)
        d = d - d.mean()
        return float((d[:-12] * d[12:]).mean() / (d * d).mean())

    for seed in range(3):
        assert vertical_correlation(2160, seed) > vertical_correlation(256, seed) + 0.1


def test_reflection_physical_model():
    img = photo_float(2, (160, 120))
    black = np.zeros_like(img)
    for seed in range(4):
        out = add_reflection(img, black, np.random.default_rng(seed))
        ratio = out[img > 0.05] / img[img > 0.05]
        # nothing to reflect: only the glass transmission (a constant factor) remains
        assert 0.87 < ratio.min() and ratio.max() < 1.0 + 1e-5 and np.ptp(ratio) < 0.02
        bright = add_reflection(img, photo_float(0, (160, 120)), np.random.default_rng(seed))
        assert bright.mean() > out.mean() + 0.02


def test_reflection_other_photo_of_any_size():
    img = photo_float(1, (96, 64))
    for other_size in [(30, 20), (96, 64), (400, 300)]:
        out = add_reflection(img, photo_float(0, other_size), np.random.default_rng(1))
        assert out.shape == img.shape


@pytest.mark.parametrize("size, pad", [(13, 10), (5, 40), (64, 3)])
def test_fourier_filter_pads_planes_smaller_than_the_padding(size, pad):
    # A 256-px training crop of a 4096-px photo draws blurs up to ~45 px, so its blurred reflection
    # is computed at ~11-13 px, where the FFT padding is longer than the plane (this once stopped a
    # training run). An all-pass transfer must give the plane back whatever the padding.
    planes = np.random.default_rng(0).random((3, size, size + 2), dtype=np.float32)
    out = _filter(planes, lambda fy, fx: torch.ones_like(fy * fx), pad=pad)
    np.testing.assert_allclose(out, planes, atol=1e-5)


def test_dereflect_without_pool_uses_the_photo_itself():
    img = photo_float(0)
    out = degrade("dereflect", img, np.random.default_rng(0))
    assert out.shape == img.shape and np.abs(out - img).mean() > 0.01


def test_exception_unknown_task():
    with pytest.raises(ValueError, match="derain, dehaze, dereflect"):
        degrade("desnow", photo_float(0), np.random.default_rng(0))


# --------------------------------------------------------------------------- families and the camera stage

from glsgn_core.data.camera import camera  # noqa: E402
from glsgn_core.data.degrade import FAMILIES, select_families, synthesize  # noqa: E402
from glsgn_core.data.haze import scene_defocus  # noqa: E402
from glsgn_core.data.rain import scene_lines  # noqa: E402

ALL_FAMILIES = [(task, f.name) for task, fams in FAMILIES.items() for f in fams]


def test_smoke_three_independent_families_per_task():
    for task, fams in FAMILIES.items():
        assert len(fams) >= 3 and len({f.render for f in fams}) == len(fams), task


@pytest.mark.parametrize("task, family", ALL_FAMILIES)
def test_family_shapes_range_determinism_and_band(task, family):
    img = photo_float(0, (384, 256))
    run = lambda seed: degrade(task, img, np.random.default_rng(seed), family=family, pool=[photo_float(3, (200, 150))])  # noqa: E731
    a, b = run(1), run(1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0
    values = [_psnr(run(seed), img) for seed in range(6)]
    low, high = BANDS[task]
    assert all(low < v < high + 8.0 for v in values), values  # a family may be gentler than the mix


def test_families_of_one_task_differ_on_the_same_draws():
    img = photo_float(1, (256, 192))
    for task, fams in FAMILIES.items():
        outs = [degrade(task, img, np.random.default_rng(0), family=f.name, pool=[photo_float(3)]) for f in fams]
        for i in range(len(outs)):
            for j in range(i + 1, len(outs)):
                assert np.abs(outs[i] - outs[j]).mean() > 0.003, (task, fams[i].name, fams[j].name)


def test_exception_select_families_names_the_known_ones():
    with pytest.raises(ValueError, match="streaks, depth, refraction"):
        select_families("derain", ["snow"])
    with pytest.raises(ValueError, match="no dehaze family left"):
        select_families("dehaze", exclude=["smooth", "regions", "patchy"])
    assert [f.name for f in select_families("dereflect", exclude=["ghosted"])] == ["blurred", "fresnel"]


def test_camera_stage_shared_by_input_and_target_and_identity_kept():
    clean = photo_float(2, (96, 64))
    degraded = np.clip(clean + 0.2, 0.0, 1.0)
    for seed in range(12):
        inp, tgt = camera(clean, clean, np.random.default_rng(seed), identity=True)
        np.testing.assert_array_equal(inp, tgt)
        inp, tgt = camera(degraded, clean, np.random.default_rng(seed))
        assert inp.shape == tgt.shape == clean.shape and inp.dtype == tgt.dtype == np.float32
    # the outputs are always new arrays, never the caller's images or each other
    for seed in range(40):
        inp, tgt = camera(clean, clean, np.random.default_rng(seed), identity=True)
        assert not np.shares_memory(inp, clean) and not np.shares_memory(tgt, clean) and not np.shares_memory(inp, tgt)
    # exposure/gamma/blur/noise are drawn, not always applied (each about half the time)
    changed = [not np.array_equal(camera(clean, clean, np.random.default_rng(s))[1], clean) for s in range(60)]
    assert 0 < sum(changed) < 60


def test_synthesize_clean_share_and_families():
    img = photo_float(0, (64, 48))
    pairs = [synthesize("derain", img, np.random.default_rng(s), clean_share=0.5) for s in range(40)]
    clean = [p for p in pairs if not p.family]
    assert 8 < len(clean) < 32 and all(np.array_equal(p.input, p.target) for p in clean)
    only = select_families("derain", ["depth"])
    assert {synthesize("derain", img, np.random.default_rng(s), families=only, clean_share=0.0).family for s in range(5)} == {"depth"}


def test_camera_stage_never_makes_nan_from_a_resize_overshoot():
    """A bicubic resize leaves samples a hair below 0; the gamma step used to turn them into NaN
    targets (seen as NaN L1 in dehaze training logs, step 1250 of session 7's run), and the noise
    step, whose variance follows the signal, did the same for deeper overshoots (session 10)."""
    clean = np.full((16, 16, 3), 0.5, np.float32)
    clean[3, 4] = -1e-6
    clean[5, 6] = -0.05  # bicubic ringing at a sharp dark edge
    gammas = noises = 0
    for seed in range(80):
        rng = np.random.default_rng(seed)
        expose, gam, soft, noisy, _ = rng.random(5)
        _gain, _gamma, _sigma = rng.random(3)
        shot, read = np.exp(rng.uniform(np.log([1e-5, 1e-6]), np.log([4e-4, 1e-4])))  # camera()'s draws, in order
        gammas += expose >= 0.5 and gam < 0.5  # gamma without the clipping exposure step first
        # noise on the unblurred overshoot with a negative variance: the old code's NaN
        noises += expose >= 0.5 and gam >= 0.5 and soft >= 0.3 and noisy < 0.5 and shot * 0.05 > read
        inp, tgt = camera(clean, clean, np.random.default_rng(seed))
        assert np.isfinite(inp).all() and np.isfinite(tgt).all(), seed
    assert gammas > 0 and noises > 0, "no seed took the branch under test; the test checks nothing"


def test_scene_lines_only_darken_and_grow_in_patches():
    """Decoys for derain are darker than the scene behind them (rain is lighter), thin, and cover part of the frame."""
    img = photo_float(0, (256, 192))
    for seed in range(6):
        out = scene_lines(img, np.random.default_rng(seed))
        assert out.shape == img.shape and out.dtype == np.float32
        assert (out <= img + 1e-6).all(), "a scene line lightened a pixel"
        changed = (img - out).max(axis=2) > 2 / 255
        assert 0.001 < changed.mean() < 0.6, changed.mean()
    np.testing.assert_array_equal(scene_lines(img, np.random.default_rng(3)), scene_lines(img, np.random.default_rng(3)))


def test_scene_defocus_softens_without_moving_colour_towards_an_airlight():
    """Decoys for dehaze blur part of the photo (or all of it) and add no veil: a local average
    keeps each region's colour, where haze pulls every pixel towards one bright airlight."""
    img = photo_float(0, (256, 192))
    for seed in range(24):
        out = scene_defocus(img, np.random.default_rng(seed), ref_size=1080)  # a 1080p photo's crop
        assert out.shape == img.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0, seed
        # softer: less fine detail (the mean squared difference of neighbours) than the photo
        assert np.square(np.diff(out, axis=1)).mean() < 0.8 * np.square(np.diff(img, axis=1)).mean(), seed
        # no veil: the frame's colour stays where it was (a local average moves light, adds none;
        # the thinnest of 180 hazes drawn on this photo moved it by 0.0156, blur at most by 0.0101)
        np.testing.assert_allclose(out.mean(axis=(0, 1)), img.mean(axis=(0, 1)), atol=0.0125)
    np.testing.assert_array_equal(scene_defocus(img, np.random.default_rng(3)), scene_defocus(img, np.random.default_rng(3)))


def test_synthesize_decoys_are_in_input_and_target_and_leave_the_stream_alone():
    img = photo_float(0, (96, 64))

    def draws_left(task: str, **kw) -> dict:  # the generator's state after a clean pair (no family draws)
        rng = np.random.default_rng(7)
        synthesize(task, img, rng, clean_share=1.0, use_camera=False, **kw)
        return rng.bit_generator.state

    before = np.random.default_rng(7)  # synthesize's own four draws, as they were before decoys
    before.integers(3), before.random(), before.random(), before.uniform(0.2, 1.0)
    assert draws_left("derain") == draws_left("derain", decoy_share=0.0) == before.bit_generator.state
    assert draws_left("dereflect", decoy_share=1.0) == before.bit_generator.state  # no decoy for reflections: nothing drawn
    assert draws_left("derain", decoy_share=0.3) != before.bit_generator.state  # one seed for the decoy's generator
    on = [synthesize("derain", img, np.random.default_rng(s), decoy_share=1.0, clean_share=0.5, use_camera=False) for s in range(12)]
    assert all((p.target <= img + 1e-6).all() and not np.array_equal(p.target, img) for p in on)  # the lines are in the target
    assert any(not p.family and np.array_equal(p.input, p.target) for p in on)  # a clean pair keeps its lines on both sides
    # dehaze's decoy (defocus) is drawn the same way: one seed from the stream, the target softened
    assert draws_left("dehaze", decoy_share=0.3) != before.bit_generator.state
    soft = [synthesize("dehaze", img, np.random.default_rng(s), decoy_share=1.0, clean_share=1.0, use_camera=False) for s in range(4)]
    assert all(np.array_equal(p.input, p.target) and np.square(np.diff(p.target, axis=1)).mean() < np.square(np.diff(img, axis=1)).mean() for p in soft)
