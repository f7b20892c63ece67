"""glsgn_core.batch: inputs, output planning, sharding and the threaded pipeline."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from glsgn_core import batch, image_io
from glsgn_core.batch import (
    InputItem,
    Job,
    UsageError,
    expand_inputs,
    model_process,
    parse_shard,
    plan_outputs,
    run_batch,
    shard,
)
from glsgn_core.image_io import Image, read_image

try:
    from tests._images import pixels
except ImportError:  # tests/ is not a package
    from _images import pixels


def make(path: Path, h: int = 8, w: int = 8, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(pixels(h, w, 3, seed=seed)).save(path)
    return path


def invert(image: Image) -> Image:
    return image.replace(pixels=255 - image.pixels)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """shots/{a.jpg, b.png, sub/c.tif, sub/deeper/d.webp, .hidden.png, .cache/e.png, notes.txt,
    .x.png.glsgn-tmp-1234}; the working directory is tmp_path."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "shots"
    for name in ("a.jpg", "b.png", "sub/c.tif", "sub/deeper/d.webp", ".hidden.png", ".cache/e.png"):
        make(root / name)
    (root / "notes.txt").write_text("not an image")
    (root / ".x.png.glsgn-tmp-1234").write_bytes(b"crash leftovers")
    return root


def names(items, base: Path) -> list[str]:
    return [Path(os.path.relpath(i.path, base)).as_posix() for i in items]


# ---------------------------------------------------------------------------------------------
# expand_inputs


def test_folder_is_walked_sorted_without_hidden_or_temp_files(tree):
    items = expand_inputs(["shots"])
    assert names(items, tree) == ["a.jpg", "b.png", "sub/c.tif", "sub/deeper/d.webp"]
    assert all(i.root == Path("shots") for i in items)
    assert [i.relative.as_posix() for i in items] == ["a.jpg", "b.png", "sub/c.tif", "sub/deeper/d.webp"]


def test_files_keep_their_order_and_duplicates_go(tree):
    items = expand_inputs(["shots/b.png", "shots/a.jpg", "./shots/b.png", "shots"])
    assert names(items, tree) == ["b.png", "a.jpg", "sub/c.tif", "sub/deeper/d.webp"]
    assert items[0].root is None and items[0].relative == Path("b.png")


def test_globs_the_shell_did_not_expand(tree):
    assert names(expand_inputs(["shots/*.jpg"]), tree) == ["a.jpg"]
    items = expand_inputs(["shots/**/*"])
    assert names(items, tree) == ["a.jpg", "b.png", "sub/c.tif", "sub/deeper/d.webp"]
    assert items[2].relative == Path("sub/c.tif")  # mirrored below the pattern's fixed part
    assert names(expand_inputs(["shots/sub/*/*.webp"]), tree) == ["sub/deeper/d.webp"]
    assert expand_inputs(["shots/sub/*/*.webp"])[0].root == Path("shots/sub")


@pytest.mark.parametrize("arg, message", [
    ("nothing.png", "no such file or folder: 'nothing.png'"),
    ("shots/*.gif", "no images match 'shots/*.gif'"),
    ("empty", "no images in folder 'empty'"),
])
def test_inputs_that_name_nothing(tree, arg, message):
    (tree.parent / "empty").mkdir()
    with pytest.raises(UsageError) as e:
        expand_inputs([arg])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_folder_named_like_an_image(tree):
    make(tree.parent / "album.jpg" / "x.png")
    items = expand_inputs(["album.jpg"])
    assert names(items, tree.parent / "album.jpg") == ["x.png"]
    with pytest.raises(image_io.ImageReadError, match="folder"):
        read_image(tree.parent / "album.jpg")


# ---------------------------------------------------------------------------------------------
# plan_outputs


def test_outputs_beside_the_inputs(tree):
    jobs = plan_outputs(expand_inputs(["shots"]), out=None, suffix="_derain", ext=None, overwrite=False)
    assert [j.output.relative_to("shots").as_posix() for j in jobs] == [
        "a_derain.jpg", "b_derain.png", "sub/c_derain.tif", "sub/deeper/d_derain.webp"]
    assert all(j.status == "pending" for j in jobs)


def test_tree_mirrored_under_out_with_a_new_extension(tree):
    jobs = plan_outputs(expand_inputs(["shots"]), out=Path("clean"), suffix="_derain", ext="png", overwrite=False)
    assert [j.output.as_posix() for j in jobs] == ["clean/a.png", "clean/b.png", "clean/sub/c.png", "clean/sub/deeper/d.png"]


def test_single_file_to_a_named_file(tree):
    jobs = plan_outputs(expand_inputs(["shots/a.jpg"]), out=Path("result.png"), suffix="_x", ext=None, overwrite=False)
    assert [j.output for j in jobs] == [Path("result.png")]
    (tree.parent / "outdir.png").mkdir()  # an existing folder is a folder, whatever its name
    jobs = plan_outputs(expand_inputs(["shots/a.jpg"]), out=Path("outdir.png"), suffix="_x", ext=None, overwrite=False)
    assert [j.output for j in jobs] == [Path("outdir.png/a.jpg")]


def test_many_inputs_to_one_file_is_a_usage_error(tree):
    with pytest.raises(UsageError, match="names one file but there are 4 inputs"):
        plan_outputs(expand_inputs(["shots"]), out=Path("result.png"), suffix="", ext=None, overwrite=False)


def test_two_inputs_one_output_is_a_usage_error(tree):
    make(tree / "a.png")
    with pytest.raises(UsageError) as e:
        plan_outputs(expand_inputs(["shots/a.jpg", "shots/a.png"]), out=None, suffix="_x", ext="tif", overwrite=False)
    assert "would both be written to" in str(e.value) and "a_x.tif" in str(e.value)


def test_output_equal_to_input_is_refused(tree):
    jobs = plan_outputs(expand_inputs(["shots/a.jpg", "shots/b.png"]), out=None, suffix="", ext=None, overwrite=True)
    hint = "write elsewhere with -o FOLDER, or give another --suffix or --ext"
    assert [(j.status, j.reason) for j in jobs] == [
        ("failed", f"'shots/a.jpg' would be replaced by its own output; {hint}"),
        ("failed", f"'shots/b.png' would be replaced by its own output; {hint}"),
    ]
    os.symlink(tree / "b.png", tree.parent / "link.png")  # the same file under another name
    jobs = plan_outputs([InputItem(Path("shots/b.png"))], out=Path("link.png"), suffix="", ext=None, overwrite=True)
    assert (jobs[0].status, jobs[0].reason) == ("failed", "'shots/b.png' would be replaced by its own output; "
                                                          "give -o another file name")


def test_existing_outputs_skipped_unless_overwrite(tree):
    make(tree / "a_derain.jpg")
    items = expand_inputs(["shots/a.jpg", "shots/b.png"])
    jobs = plan_outputs(items, out=None, suffix="_derain", ext=None, overwrite=False)
    assert [(j.status, j.reason) for j in jobs] == [("skipped", "its output 'shots/a_derain.jpg' exists; use --overwrite"), ("pending", None)]
    jobs = plan_outputs(items, out=None, suffix="_derain", ext=None, overwrite=True)
    assert [j.status for j in jobs] == ["pending", "pending"]


def test_earlier_results_in_the_folder_are_not_processed_again(tree):
    make(tree / "a_derain.jpg")
    jobs = plan_outputs(expand_inputs(["shots"]), out=None, suffix="_derain", ext=None, overwrite=False)
    status = {j.input.name: (j.status, j.reason) for j in jobs}
    assert status["a_derain.jpg"] == ("skipped", "it is the output of another input")
    assert status["a.jpg"] == ("skipped", "its output 'shots/a_derain.jpg' exists; use --overwrite")


def test_gif_output_becomes_png(tree):
    PILImage.new("P", (4, 4)).save(tree / "g.gif")
    jobs = plan_outputs(expand_inputs(["shots/g.gif"]), out=None, suffix="_x", ext=None, overwrite=False)
    assert jobs[0].output.name == "g_x.png"


# ---------------------------------------------------------------------------------------------
# shard


@pytest.mark.parametrize("count", [0, 1, 7, 10, 23])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 8])
def test_shards_partition_the_jobs(count, n):
    jobs = [Job(Path(f"in{i}.png"), Path(f"out{i}.png")) for i in range(count)]
    parts = [shard(jobs, k, n) for k in range(1, n + 1)]
    flat = [j.input for part in parts for j in part]
    assert sorted(flat) == sorted(j.input for j in jobs) and len(flat) == len(set(flat))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert shard(jobs, 2, n) == shard(list(jobs), 2, n) if n >= 2 else True  # deterministic


def test_shards_agree_across_machines(tree):
    a = [j.input for j in shard(plan_outputs(expand_inputs(["shots"]), out=None, suffix="_x", ext=None, overwrite=False), 2, 3)]
    b = [j.input for j in shard(plan_outputs(expand_inputs(["shots/"]), out=None, suffix="_x", ext=None, overwrite=False), 2, 3)]
    assert a == b == [Path("shots/b.png")]


@pytest.mark.parametrize("text", ["2", "0/4", "5/4", "a/b", "1/0", "-1/2"])
def test_bad_shard_specs(text):
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)
    assert parse_shard("2/4") == (2, 4)


# ---------------------------------------------------------------------------------------------
# run_batch


def _plan(tree, **kw):
    kw.setdefault("out", Path("out"))
    return plan_outputs(expand_inputs(["shots"]), suffix="_x", ext=kw.pop("ext", "png"), overwrite=False, **kw)


def test_batch_inverts_every_image(tree):
    seen = []
    results = run_batch(_plan(tree), invert, on_result=seen.append)
    assert [r.status for r in results] == ["done"] * 4 and seen == results
    for r in results:
        src, out = read_image(r.input), read_image(r.output)
        np.testing.assert_array_equal(out.pixels, 255 - src.pixels)
        assert r.seconds >= 0 and r.error is None
    json.dumps([dataclasses.asdict(r) for r in results])  # --json lines


def test_batch_carries_on_past_bad_files(tree):
    (tree / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tree / "sub" / "zz.png").write_bytes(b"")

    def fussy(image):
        if image.pixels.shape[0] == 9:
            raise RuntimeError("model exploded")
        return invert(image)

    make(tree / "sub" / "nine.png", h=9)
    (tree.parent / "out" / "sub" / "deeper").mkdir(parents=True)
    (tree.parent / "out" / "sub" / "deeper" / "d.png").mkdir()  # the output path is taken by a folder
    results = run_batch(_plan(tree), fussy)
    by_name = {Path(r.input).name: r for r in results}
    assert [Path(r.input).name for r in results] == ["a.jpg", "b.png", "c.tif", "nine.png", "zz.png", "d.webp"]
    assert by_name["a.jpg"].status == by_name["c.tif"].status == "done"
    assert by_name["b.png"].status == "failed" and "b.png" in by_name["b.png"].error
    assert by_name["zz.png"].status == "failed" and "empty" in by_name["zz.png"].error
    assert by_name["nine.png"].status == "failed" and "RuntimeError: model exploded" in by_name["nine.png"].error
    assert by_name["d.webp"].status == "failed" and "folder" in by_name["d.webp"].error
    assert all("\n" not in (r.error or "") for r in results)
    assert not (tree.parent / "out" / "b.png").exists()


def test_skipped_and_refused_jobs_are_reported_in_order(tree):
    make(tree.parent / "out" / "b.png")
    results = run_batch(_plan(tree), invert)
    assert [r.status for r in results] == ["done", "skipped", "done", "done"]
    assert results[1].error == "its output 'out/b.png' exists; use --overwrite"


def test_write_failure_is_recorded(tree):
    (tree.parent / "out").mkdir()
    (tree.parent / "out" / "sub").write_text("a file where an output folder should be")
    results = run_batch(_plan(tree), invert)
    assert [r.status for r in results] == ["done", "done", "failed", "failed"]
    assert all("cannot write" in r.error and "\n" not in r.error for r in results[2:])
    with pytest.raises(UsageError, match="exists and is not a folder"):
        plan_outputs(expand_inputs(["shots"]), out=Path("out/sub"), suffix="", ext=None, overwrite=False)


def test_reading_and_writing_overlap_processing(tree, monkeypatch):
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    real_read, real_write = batch.read_image, batch.write_image
    threads = set()

    def timed(kind, name, fn):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            spans[kind, name] = (start, time.perf_counter())

    def read(path, **kw):
        return timed("read", Path(path).stem, lambda: real_read(path, **kw))

    def write(path, image, **kw):
        return timed("write", Path(path).stem, lambda: (time.sleep(0.05), real_write(path, image, **kw)))

    def process(image):
        threads.add(threading.current_thread().name)
        name = "abcd"[len([k for k in spans if k[0] == "process"])]
        return timed("process", name, lambda: (time.sleep(0.1), image)[1])

    monkeypatch.setattr(batch, "read_image", read)
    monkeypatch.setattr(batch, "write_image", write)
    results = run_batch(_plan(tree), process)
    assert [r.status for r in results] == ["done"] * 4
    assert threads == {threading.current_thread().name}  # the model runs in the calling thread
    assert spans["read", "b"][0] < spans["process", "a"][1]  # b is decoded while a is processed
    assert spans["write", "a"][0] < spans["process", "b"][1]  # a is encoded while b is processed


def test_ctrl_c_stops_cleanly(tree):
    calls = []

    def interrupted(image):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return invert(image)

    seen = []
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(KeyboardInterrupt):
        run_batch(_plan(tree), interrupted, on_result=seen.append)
    assert [r.status for r in seen] == ["done", "done"]
    out = tree.parent / "out"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["a.png", "b.png"]  # whole files only, no temporary leftovers
    for f in files:
        read_image(out / f)
    assert not [t for t in threading.enumerate() if t.name.startswith("glsgn-") and t.name not in before]


def test_ctrl_c_during_a_write_leaves_no_partial_file(tree, monkeypatch):
    def encoder(f, *args, **kwargs):
        f.write(b"half a picture")
        raise KeyboardInterrupt

    monkeypatch.setitem(image_io._ENCODERS, "PNG", encoder)
    with pytest.raises(KeyboardInterrupt):
        run_batch(_plan(tree), invert)
    out = tree.parent / "out"
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_model_process_keeps_alpha_and_dpi_in_step_with_upscaling():
    grey = Image(pixels(4, 5, 1, "uint16"), pixels(4, 5, 1, "uint16")[..., 0], dpi=(100.0, 100.0))
    same = model_process(lambda x: x)(grey)
    np.testing.assert_array_equal(same.pixels, grey.pixels)
    assert same.pixels.dtype == np.uint16 and same.alpha is grey.alpha

    def upscale(x):
        assert x.dtype == np.uint16 and x.shape == (4, 5, 1)  # the pixels as read, no float copy
        return np.repeat(np.repeat(x, 2, axis=0), 2, axis=1)

    big = model_process(upscale)(grey)
    assert big.pixels.shape == (8, 10, 1) and big.alpha.shape == (8, 10) and big.alpha.dtype == np.uint16
    assert big.dpi == (200.0, 200.0)
    with pytest.raises(ValueError, match="expected"):
        model_process(lambda x: x[..., 0])(grey)
    with pytest.raises(ValueError, match="expected"):
        model_process(lambda x: x.astype(np.float32))(grey)
