"""``glsgn synth`` end to end on a few tiny photos written by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from photo_fixtures import photo
from typer.testing import CliRunner

from glsgn_cli.app import app
from glsgn_core.data.datasets import PairedFolder


def glsgn(*args: str):
    return CliRunner().invoke(app, ["synth", *map(str, args)])


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    folder = tmp_path / "clean"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(photo(0, (64, 48))).save(folder / "one.png")
    Image.fromarray(photo(1, (56, 40))).save(folder / "sub" / "two.png")
    Image.fromarray(photo(2, (48, 48))).save(folder / "three.jpg", quality=95)
    return folder


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_roundtrip_writes_whole_photo_pairs(clean, tmp_path):
    out = tmp_path / "pairs"
    result = glsgn("--task", "dehaze", "--clean", clean, "-o", out, "--seed", "3")
    assert result.exit_code == 0, result.output
    names = ["one.png", "sub/two.png", "three.png"]
    assert sorted(_snapshot(out)) == sorted([f"input/{n}" for n in names] + [f"target/{n}" for n in names])
    # the target is the clean photo itself, the input the same size and hazier
    np.testing.assert_array_equal(_pixels(out / "target" / "one.png"), photo(0, (64, 48)))
    np.testing.assert_array_equal(_pixels(out / "target" / "three.png"), np.asarray(Image.open(clean / "three.jpg")))
    for n in names:
        inp, tgt = _pixels(out / "input" / n), _pixels(out / "target" / n)
        assert inp.shape == tgt.shape and inp.dtype == np.uint8
        assert np.abs(inp.astype(int) - tgt).mean() > 3
    # the pairs load as a paired data set
    assert len(PairedFolder(out, crop=None)) == 3


def test_max_side_writes_shrunk_pairs(clean, tmp_path):
    from glsgn_core.data.datasets import shrink_to

    out = tmp_path / "pairs"
    result = glsgn("--task", "dereflect", "--clean", clean, "-o", out, "--max-side", "64", "--seed", "1")
    assert result.exit_code == 0, result.output
    # one.png (64x48) already fits; two.png (56x40) too; nothing is enlarged
    np.testing.assert_array_equal(_pixels(out / "target" / "one.png"), photo(0, (64, 48)))
    big = tmp_path / "big"
    big.mkdir()
    Image.fromarray(photo(0, (256, 192))).save(big / "one.png")
    Image.fromarray(photo(1, (200, 130))).save(big / "two.png")
    out = tmp_path / "shrunk"
    result = glsgn("--task", "dereflect", "--clean", big, "-o", out, "--max-side", "64")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(_pixels(out / "target" / "one.png"), shrink_to(photo(0, (256, 192)), 64))
    assert _pixels(out / "input" / "two.png").shape == (33, 50, 3)  # factor 4, edge rows completed


def test_determinism_same_seed_same_bytes(clean, tmp_path):
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert glsgn("-t", "dereflect", "-c", clean, "-o", tmp_path / name, "--seed", seed).exit_code == 0
        runs[name] = _snapshot(tmp_path / name)
    assert runs["a"] == runs["b"]
    assert runs["a"]["input/one.png"] != runs["c"]["input/one.png"]
    assert runs["a"]["target/one.png"] == runs["c"]["target/one.png"]


def test_n_larger_than_photos_cycles_with_new_degradations_and_crop(clean, tmp_path):
    out = tmp_path / "pairs"
    result = glsgn("-t", "derain", "-c", clean, "-o", out, "--n", 5, "--crop", "32x24")
    assert result.exit_code == 0, result.output
    inputs = sorted(p.relative_to(out / "input").as_posix() for p in (out / "input").rglob("*.png"))
    assert inputs == ["one-1.png", "one.png", "sub/two-1.png", "sub/two.png", "three.png"]
    for p in (out / "target").rglob("*.png"):
        assert _pixels(p).shape == (24, 32, 3)
    assert not (_pixels(out / "input" / "one.png") == _pixels(out / "input" / "one-1.png")).all()


def test_exception_refuses_to_overwrite(clean, tmp_path):
    out = tmp_path / "pairs"
    assert glsgn("-t", "derain", "-c", clean, "-o", out).exit_code == 0
    before = _snapshot(out)
    result = glsgn("-t", "derain", "-c", clean, "-o", out, "--seed", 9)
    assert result.exit_code == 2
    assert "already exists" in result.output and "--overwrite" in result.output
    assert _snapshot(out) == before
    assert glsgn("-t", "derain", "-c", clean, "-o", out, "--seed", 9, "--overwrite").exit_code == 0
    after = _snapshot(out)
    assert after.keys() == before.keys() and after["input/one.png"] != before["input/one.png"]


def test_exception_unreadable_photo_others_still_written(clean, tmp_path):
    (clean / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "pairs"
    result = glsgn("-t", "dehaze", "-c", clean, "-o", out)
    assert result.exit_code == 1
    assert "broken.jpg" in result.output and "corrupt" in result.output
    assert (out / "input" / "one.png").exists() and not (out / "input" / "broken.png").exists()
    assert not list(out.rglob(".*")), "no temporary files left behind"
    again = glsgn("-t", "dehaze", "-c", clean, "-o", tmp_path / "eight", "--n", 8)  # --n cycles: broken.jpg twice
    assert again.exit_code == 1 and again.output.count("broken.jpg") == 1
    assert "wrote 6 of 8 dehaze pairs" in again.output and "2 failed" in again.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--crop", "32by24"], "expected WIDTHxHEIGHT"),
        (["--crop", "8x8"], "at least 16"),
        (["--task", "desnow"], "desnow"),
    ],
)
def test_exception_usage_errors(clean, tmp_path, args, message):
    base = {"--task": "derain", "--clean": str(clean), "-o": str(tmp_path / "pairs")}
    base.update(dict(zip(args[::2], args[1::2])))
    result = glsgn(*[x for kv in base.items() for x in kv])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "pairs").exists()


def test_exception_empty_clean_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    result = glsgn("-t", "derain", "-c", tmp_path / "empty", "-o", tmp_path / "pairs")
    assert result.exit_code == 2 and "no images found" in result.output


def test_list_families_json_names_three_per_task():
    import json

    result = glsgn("--list-families", "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    assert set(table) == {"derain", "dehaze", "dereflect"}
    for task, families in table.items():
        assert len(families) >= 3, task
        assert all(f["name"] and f["description"] for f in families)


@pytest.mark.parametrize("task, family", [("derain", "refraction"), ("dehaze", "regions"), ("dereflect", "fresnel")])
def test_family_renders_one_family_and_differs_from_another(clean, tmp_path, task, family):
    first = glsgn("-t", task, "-c", clean, "-o", tmp_path / "a", "--family", family, "--seed", "3")
    assert first.exit_code == 0, first.output
    from glsgn_core.data.degrade import family_names

    other = next(n for n in family_names(task) if n != family)
    second = glsgn("-t", task, "-c", clean, "-o", tmp_path / "b", "--family", other, "--seed", "3")
    assert second.exit_code == 0, second.output
    a, b = _pixels(tmp_path / "a" / "input" / "one.png"), _pixels(tmp_path / "b" / "input" / "one.png")
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0
    np.testing.assert_array_equal(_pixels(tmp_path / "a" / "target" / "one.png"), photo(0, (64, 48)))


def test_exception_unknown_family_named_with_the_known_ones(clean, tmp_path):
    result = glsgn("-t", "dehaze", "-c", clean, "-o", tmp_path / "pairs", "--family", "snow")
    assert result.exit_code == 2 and "smooth, regions, patchy" in result.output
    assert not (tmp_path / "pairs").exists()


def test_decoy_share_one_draws_darker_scene_lines_into_every_target(clean, tmp_path):
    result = glsgn("-t", "derain", "-c", clean, "-o", tmp_path / "decoys", "--decoy-share", "1", "--seed", "3")
    assert result.exit_code == 0, result.output
    for name, original in [("one.png", photo(0, (64, 48))), ("sub/two.png", photo(1, (56, 40)))]:
        decoyed, original = _pixels(tmp_path / "decoys" / "target" / name).astype(int), original.astype(int)
        # the lines are scene content in the target: darker than the photo, never lighter (up to rounding)
        assert (decoyed <= original + 1).all() and (decoyed < original - 8).any(), name


def test_decoy_share_leaves_the_degradation_as_it_was(clean, tmp_path):
    """The decoy draws from a generator of its own: the rain of every pair is the rain it had
    without decoys, and pairs without one are unchanged."""
    args = ("-t", "derain", "-c", clean, "--family", "streaks", "--seed", "3", "--n", "6")
    assert glsgn(*args, "-o", tmp_path / "plain").exit_code == 0
    result = glsgn(*args, "-o", tmp_path / "half", "--decoy-share", "0.5")
    assert result.exit_code == 0, result.output
    with_decoy = 0
    for path in sorted((tmp_path / "plain" / "target").rglob("*.png")):
        name = path.relative_to(tmp_path / "plain" / "target")
        plain = {side: _pixels(tmp_path / "plain" / side / name).astype(int) for side in ("input", "target")}
        half = {side: _pixels(tmp_path / "half" / side / name).astype(int) for side in ("input", "target")}
        if np.array_equal(plain["target"], half["target"]):
            np.testing.assert_array_equal(plain["input"], half["input"])
            continue
        with_decoy += 1
        untouched = (plain["target"] == half["target"]).all(axis=2)  # pixels the lines did not reach
        assert untouched.mean() > 0.3, name
        # the same streaks, up to their tint (drawn towards the photo's mean colour, which the lines move)
        moved = np.abs(plain["input"] - half["input"])[untouched]
        assert moved.mean() < 0.5 and moved.max() <= 6, (name, moved.mean(), moved.max())
    assert 0 < with_decoy < 6, with_decoy  # some pairs got lines, some did not: both branches checked


def test_decoy_share_dehaze_softens_targets_and_inputs_alike(clean, tmp_path):
    result = glsgn("-t", "dehaze", "-c", clean, "-o", tmp_path / "soft", "--decoy-share", "1", "--seed", "3")
    assert result.exit_code == 0, result.output
    target = _pixels(tmp_path / "soft" / "target" / "one.png").astype(float)
    original = photo(0, (64, 48)).astype(float)
    assert np.square(np.diff(target, axis=1)).mean() < 0.9 * np.square(np.diff(original, axis=1)).mean()


def test_exception_decoy_share_for_a_task_without_decoys(clean, tmp_path):
    result = glsgn("-t", "dereflect", "-c", clean, "-o", tmp_path / "pairs", "--decoy-share", "0.5")
    assert result.exit_code == 2 and "dereflect has no decoys (only derain, dehaze)" in result.output
    assert not (tmp_path / "pairs").exists()


def test_exceptions_two_photos_one_pair_name_is_refused_before_anything_is_written(clean, tmp_path):
    Image.fromarray(photo(3, (64, 48))).save(clean / "one.jpg", quality=95)  # beside one.png
    out = tmp_path / "pairs"
    result = glsgn("-t", "derain", "-c", clean, "-o", out)
    assert result.exit_code == 2 and "would both be written as pair 'one'" in result.output
    assert not out.exists()
    (clean / "one.jpg").rename(clean / "three-1.png")  # three.jpg's second cycle is also "three-1"
    result = glsgn("-t", "derain", "-c", clean, "-o", out, "--n", 8)
    assert result.exit_code == 2 and "would both be written as pair 'three-1'" in result.output


def test_exception_out_is_a_file(clean, tmp_path):
    (tmp_path / "afile").write_text("keep")
    result = glsgn("-t", "derain", "-c", clean, "-o", tmp_path / "afile")
    assert result.exit_code == 2 and "exists and is not a folder" in result.output
    assert (tmp_path / "afile").read_text() == "keep"
