"""Bad inputs and faults, end to end: the installed ``glsgn`` in a real process, real files, a real
loopback server (issue 19). Each test is one thing a new user or a batch script ran into.

Images are small (at most 96 px a side) and the bundled models run on the CPU, so each process
costs about a second of work plus torch's import.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from glsgn_core.image_io import Image, read_image, write_image
from glsgn_core.weights import bundled_path, get_entry
from weights_server import WeightsServer

GLSGN = str(Path(sys.executable).with_name("glsgn"))


def glsgn(*args, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300, prefix=(),
          stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``glsgn`` with an empty cache (``cwd/.home``): bundled models only."""
    base = {k: v for k, v in os.environ.items() if k not in ("GLSGN_WEIGHTS_URL", "GLSGN_OFFLINE")}
    env = {**base, "OMP_NUM_THREADS": "1", "GLSGN_HOME": str(cwd / ".home"), **(env or {})}
    r = subprocess.run([*prefix, GLSGN, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                       timeout=timeout, input=stdin)
    r.out, r.err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    return r


def flat(text: str) -> str:
    """Help text without rich's box drawing and line wrapping: one line of words."""
    return " ".join("".join(" " if c in "│╭╮╰╯─" else c for c in text).split())


def rgb(h: int = 64, w: int = 64, dtype: str = "uint8", seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = rng.random((h, w, 3), dtype=np.float32)
    return f if dtype == "float32" else np.rint(f * np.iinfo(dtype).max).astype(dtype)


def save(path: Path, pixels: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, Image(pixels=pixels, **kw))
    return path


# ------------------------------------------------------------------------------------------------
# 1. 16-bit colour output


@pytest.mark.parametrize("src", ["rgb16.png", "rgba16.png", "rgb16.tif"])
def test_16_bit_colour_is_written_as_16_bit_png(tmp_path, src):
    alpha = np.full((64, 64), 40000, np.uint16) if "rgba" in src else None
    save(tmp_path / src, rgb(dtype="uint16"), alpha=alpha)
    r = glsgn("derain", src, "-o", "out.png", cwd=tmp_path)
    assert r.returncode == 0, r.err
    out = read_image(tmp_path / "out.png")
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (64, 64, 3)
    if alpha is not None:
        np.testing.assert_array_equal(out.alpha, alpha)


# ------------------------------------------------------------------------------------------------
# 2. Folders: symlink loops and unreadable subfolders


def test_a_symlink_loop_fails_that_file_and_the_batch_goes_on(tmp_path):
    save(tmp_path / "in" / "ok.png", rgb())
    os.symlink("b.png", tmp_path / "in" / "a.png")
    os.symlink("a.png", tmp_path / "in" / "b.png")
    r = glsgn("derain", "in", "-o", "out", cwd=tmp_path)
    assert r.returncode == 1, r.err
    assert (tmp_path / "out" / "ok.png").is_file()
    assert "cannot read 'in/a.png': too many levels of symbolic links" in r.err
    assert "Traceback" not in r.err


def _without_root_privileges() -> tuple[str, ...]:
    """Root reads any folder: drop the capabilities that let it (the process stays uid 0)."""
    if os.geteuid() != 0:
        return ()
    assert shutil.which("setpriv"), "running as root, the unreadable-folder test needs util-linux's setpriv"
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def test_an_unreadable_subfolder_is_a_failure_not_a_silent_skip(tmp_path):
    save(tmp_path / "in" / "ok.png", rgb())
    save(tmp_path / "in" / "private" / "p.png", rgb())
    (tmp_path / "in" / "private").chmod(0)
    try:
        r = glsgn("derain", "in", "-o", "out", cwd=tmp_path, prefix=_without_root_privileges())
    finally:
        (tmp_path / "in" / "private").chmod(0o755)
    assert r.returncode == 1, r.err
    assert (tmp_path / "out" / "ok.png").is_file()
    assert "cannot read folder 'in/private': permission denied" in r.err


# ------------------------------------------------------------------------------------------------
# 3. Weights: a corrupted cache, a truncated download

BUNDLED_DERAIN = bundled_path(get_entry("glsgn-derain"))


def test_a_corrupted_cached_file_of_the_right_size_is_not_used(tmp_path):
    data = bytearray(BUNDLED_DERAIN.read_bytes())
    data[200_000:6_000_000] = bytes(5_800_000)  # tensors zeroed, header intact: it still loads
    cached = tmp_path / ".home" / "weights" / BUNDLED_DERAIN.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    save(tmp_path / "in.png", rgb())
    r = glsgn("derain", "in.png", "-o", "out.png", cwd=tmp_path)
    assert r.returncode == 0, r.err
    assert f"the cached glsgn-derain ({cached}) does not match its sha256" in r.err
    assert read_image(tmp_path / "out.png").pixels.mean() > 60  # the bundled model ran, not a black one


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> bytes:
    import torch

    from conftest import TINY
    from glsgn_core.models import create_model
    from glsgn_core.weights import save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(create_model("glsgn-lite", **TINY), path, task="derain", model_name="glsgn-lite")
    return path.read_bytes()


def test_a_truncated_download_is_not_cached_and_the_fixed_file_is_fetched(tmp_path, tiny_weights):
    save(tmp_path / "in.png", rgb())
    with WeightsServer() as server:
        url = server.add("w/tiny.safetensors", tiny_weights[: len(tiny_weights) // 2])  # a truncated upload
        r = glsgn("derain", "in.png", "-o", "out.png", "--weights", url, cwd=tmp_path)
        assert r.returncode == 2
        assert f"the file from {url} is unusable: it is not a readable safetensors file" in r.err
        assert "nothing was cached" in r.err and not (tmp_path / "out.png").exists()
        server.add("w/tiny.safetensors", tiny_weights)  # the server now has the right file
        r = glsgn("derain", "in.png", "-o", "out.png", "--weights", url, cwd=tmp_path)
        assert r.returncode == 0, r.err
    assert (tmp_path / "out.png").is_file()


# ------------------------------------------------------------------------------------------------
# 4. What an output format loses is said, per file, on stderr and in --json


def test_what_the_output_format_loses_is_said(tmp_path):
    import tifffile
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save(tmp_path / "in" / "alpha.png", rgb(), alpha=np.full((64, 64), 99, np.uint8))
    save(tmp_path / "in" / "float.tif", rgb(dtype="float32"))
    save(tmp_path / "in" / "profile.png", rgb(), icc=icc)
    with tifffile.TiffWriter(tmp_path / "in" / "pages.tif") as tif:
        tif.write(rgb(), photometric="rgb")
        tif.write(rgb(80, 72), photometric="rgb")
    r = glsgn("derain", "in", "-o", "out", "--ext", "bmp", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.err
    lines = [json.loads(line) for line in r.out.splitlines()]
    said = {Path(x["input"]).name: x["warnings"] for x in lines[:-1]}
    assert "BMP has no alpha channel: transparency is dropped" in said["alpha.png"][0]
    assert "BMP cannot store 32-bit float samples: written as 8-bit" in said["float.tif"][0]
    assert "BMP cannot embed a colour profile: the ICC profile is dropped" in said["profile.png"][0]
    assert said["pages.tif"][0] == "the TIFF holds 2 images of different sizes: only the first (64x64) is read"
    assert lines[-1]["summary"]["done"] == 4 and lines[-1]["summary"]["failed"] == 0
    assert "glsgn: warning: in/alpha.png -> out/alpha.bmp: BMP has no alpha channel" in r.err
    assert "glsgn: restored 4, skipped 0, failed 0 in " in r.err


# ------------------------------------------------------------------------------------------------
# 10. A batch says what it did, once; -q says nothing


def test_a_batch_ends_with_one_summary_line_and_q_is_silent(tmp_path):
    import torch

    save(tmp_path / "a.png", rgb())
    save(tmp_path / "b.png", rgb(seed=1))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    r = glsgn("derain", "a.png", "b.png", "bad.png", "-o", "out", cwd=tmp_path)
    assert r.returncode == 1
    lines = r.err.splitlines()
    if not torch.backends.cuda.is_built():  # a CPU-only install is not told it runs on the CPU
        assert len(lines) == 2, r.err
    assert lines[0] == "glsgn: error: cannot read 'bad.png': not an image, or a format glsgn does not read " \
                       "(JPEG, PNG, TIFF, WebP, BMP, GIF)"
    assert lines[-1].startswith("glsgn: restored 2, skipped 0, failed 1 in ") and lines[-1].endswith(" s")
    r = glsgn("derain", "a.png", "-o", "out", "-q", cwd=tmp_path)  # exists: skipped, in silence
    assert r.returncode == 0 and r.err == "" and r.out == ""


def test_a_huge_image_shows_progress_per_window_on_a_terminal(tmp_path):
    import pty

    save(tmp_path / "big.png", rgb(200, 200))  # with --window 128: 3 x 3 windows
    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLSGN_HOME": str(tmp_path / ".home"), "TERM": "xterm", "COLUMNS": "100"}
    proc = subprocess.Popen([GLSGN, "derain", "big.png", "--window", "128"], cwd=tmp_path, env=env,
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=300) == 0
    text = seen.decode(errors="replace")
    assert "windows" in text and "9/9" in text and "restoring" in text
    assert "glsgn: restored 1, skipped 0, failed 0 in " in text


def test_the_pixel_limit_is_in_the_help_and_its_message_speaks_cli(tmp_path):
    r = glsgn("derain", "--help", cwd=tmp_path)
    assert "Default: 1200000000 (1.2 gigapixels" in flat(r.out)
    save(tmp_path / "big.png", rgb(100, 100))
    r = glsgn("derain", "big.png", "--max-pixels", "5000", cwd=tmp_path)
    assert r.returncode == 1
    assert "raise the limit with --max-pixels N (0: no limit)" in r.err and "max_pixels=None" not in r.err
    assert "100x100 is 10,000 pixels, more than the limit of 5,000 pixels" in r.err  # small limits read exactly
    r = glsgn("derain", "big.png", "--max-pixels", "-1", cwd=tmp_path)
    assert r.returncode == 2 and "--max-pixels" in r.err


# ------------------------------------------------------------------------------------------------
# 5. What a killed run left behind is cleaned up by the next one

_HANGING_WRITE = """
import sys, time
from glsgn_core.files import atomic_write
atomic_write(sys.argv[1], lambda f: (f.write(b"half a photo"), f.flush(), time.sleep(600)))
"""


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(tmp_path):
    (tmp_path / "out").mkdir()
    writer = subprocess.Popen([sys.executable, "-c", _HANGING_WRITE, str(tmp_path / "out" / "a.png")])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((tmp_path / "out").iterdir()):
        time.sleep(0.1)
    writer.send_signal(signal.SIGKILL)  # kill -9 mid-write: the temporary file stays
    writer.wait()
    (leftover,) = (tmp_path / "out").iterdir()
    assert leftover.name.startswith(".a.png.glsgn-tmp-")
    alive = tmp_path / "out" / f".b.png.glsgn-tmp-{os.getpid()}-{leftover.name.split('-')[-2]}-00000000"
    alive.write_bytes(b"a write in progress in a live process")

    save(tmp_path / "c.png", rgb())
    r = glsgn("derain", "c.png", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [alive.name, "c.png"]


# ------------------------------------------------------------------------------------------------
# 6. A server that never answers


def test_a_silent_server_is_given_up_on_with_a_line_per_retry(tmp_path, tiny_weights):
    save(tmp_path / "in.png", rgb())
    with WeightsServer() as server:
        url = server.add("w/tiny.safetensors", tiny_weights, delay=60)  # accepts, then says nothing
        r = glsgn("derain", "in.png", "--weights", url, cwd=tmp_path, env={"GLSGN_TIMEOUT": "1"}, timeout=120)
    assert r.returncode == 2
    retries = [line for line in r.err.splitlines() if "retrying in" in line]
    assert retries[0] == "glsgn: downloading tiny.safetensors: no answer for 1 s; retrying in 1 s (attempt 2 of 4)"
    assert len(retries) == 3
    assert f"could not download tiny.safetensors from {url}: no answer for 1 s after 4 attempts" in r.err
    assert "GLSGN_TIMEOUT" in r.err


# ------------------------------------------------------------------------------------------------
# 7. Training killed, interrupted, or out of disk

TINY_TRAIN = ["--model-config", '{"widths": [4, 8, 8, 8, 8]}', "--crop", "64x64", "--workers", "0",
              "--precision", "fp32", "--perceptual-weight", "0", "--adversarial-weight", "0", "--log-every", "1"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    for i in range(2):
        clean = rgb(96, 96, seed=i)
        save(root / "target" / f"p{i}.png", clean)
        save(root / "input" / f"p{i}.png", (clean * 0.6 + 90).astype(np.uint8))
    return root


def _records(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def test_a_training_run_killed_early_can_be_resumed_and_saves_by_the_clock(tmp_path, pairs):
    import torch

    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLSGN_HOME": str(tmp_path / ".home")}
    proc = subprocess.Popen([GLSGN, "train", "--out", "run", "--task", "dehaze", "--data", str(pairs), "--steps",
                             "100000", "--save-every", "100000", "--save-minutes", "0.001", *TINY_TRAIN],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "run" / "checkpoints" / "last.pt"

    def saved_step() -> int:  # last.pt is replaced atomically: whatever is there is whole
        return torch.load(last, weights_only=True)["step"] if last.is_file() else 0

    # Kill once the clock has saved a step >= 2 (steps a few ms apart can share one 60 ms save
    # window, so a fixed number of logged steps does not imply such a save on every machine).
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and saved_step() < 2 and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # no chance to save on the way out
    proc.wait()
    step = saved_step()
    assert step >= 2  # saved by the clock, long before --save-every
    r = glsgn("train", "--out", "run", "--resume", "--until", step + 1, cwd=tmp_path)
    assert r.returncode == 0, r.err
    assert f"resumed run at step {step}" in r.err


def test_a_run_folder_left_before_any_checkpoint_can_be_reused(tmp_path, pairs):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)  # what a run killed before its first save leaves
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    r = glsgn("train", "--out", "run", "--task", "dehaze", "--data", pairs, "--steps", "1", *TINY_TRAIN, cwd=tmp_path)
    assert r.returncode == 0, r.err
    assert "run holds a run that stopped before its first checkpoint: starting it again" in r.err
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()


def test_a_full_disk_during_training_is_one_line_and_exit_1(tmp_path, pairs):
    import resource

    def small_files():  # every file this process writes stops at 64 KiB: a checkpoint does not fit
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLSGN_HOME": str(tmp_path / ".home")}
    r = subprocess.run([GLSGN, "train", "--out", "run", "--task", "dehaze", "--data", str(pairs), "--steps", "2",
                        *TINY_TRAIN], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                       preexec_fn=small_files)
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1].startswith("glsgn: error: cannot write run/checkpoints/last.pt: file too large")
    assert "Traceback" not in r.stderr
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir()]  # no half-written file


# ------------------------------------------------------------------------------------------------
# 8. The first natural `glsgn train` command


def test_the_first_natural_train_command_runs_and_says_what_it_chose(tmp_path):
    for i in range(2):
        save(tmp_path / "photos" / f"p{i}.png", rgb(96, 120, seed=i))
    env = {"TORCH_HOME": str(tmp_path / "torch")}  # no VGG-19 weights, as on a fresh machine
    r = glsgn("train", "--data", "photos", "--crop", "256", "--steps", "1", cwd=tmp_path, env=env)
    assert r.returncode == 2
    assert r.err.strip() == "glsgn: error: a new run needs --task (one of derain, dehaze, dereflect, sr2, sr4); " \
                            "or --out RUN --resume to continue one"
    r = glsgn("train", "--task", "dehaze", "--data", "photos", "--crop", "256", "--steps", "1",
              "--workers", "0", "--batch", "1", "--adversarial-weight", "0", "--model-config", '{"widths": [4, 8, 8, 8, 8]}',
              cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.err
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("dehaze-") and (run / "checkpoints" / "last.pt").is_file()
    assert f"glsgn: run folder: runs/{run.name} (--out sets it)" in r.err
    assert "no VGG-19 weights at " in r.err and "training without the perceptual loss" in r.err
    assert "2 of 2 photos in photos are smaller than --crop 256x256 and are scaled up to fit it" in r.err
    assert "--crop 96 fits them all" in r.err


# ------------------------------------------------------------------------------------------------
# 11. Messages name the file and suggest what applies


def test_messages_name_the_file_and_suggest_what_applies(tmp_path):
    save(tmp_path / "a.png", rgb())
    r = glsgn("derain", "a.png", "-o", ".", cwd=tmp_path)  # the mirrored output is a.png itself
    assert r.returncode == 1
    assert "glsgn: error: 'a.png' would be replaced by its own output; give -o another folder" in r.err
    r = glsgn("derain", "a.png", "--suffix", "", cwd=tmp_path)
    assert "'a.png' would be replaced by its own output; write elsewhere with -o FOLDER, or give another --suffix" in r.err
    r = glsgn("derain", "a.png", "--window", "100x100", cwd=tmp_path)
    assert r.returncode == 2
    assert r.err.strip() == "glsgn: error: --window '100x100': both sides must be at least 128 pixels"
    r = glsgn("models", "download", cwd=tmp_path)
    assert r.returncode == 2
    assert r.err.strip() == "glsgn: error: name the models to download (see `glsgn models list`), or give --all"
    r = glsgn("models", "export", "--help", cwd=tmp_path)
    assert "--overwrite" in r.out and "--force" not in r.out


# ------------------------------------------------------------------------------------------------
# 9. Help reads like a manual


def test_help_shows_flags_as_flags_and_the_tasks_own_defaults(tmp_path):
    r = glsgn("derain", "--help", cwd=tmp_path)
    text = flat(r.out)
    assert "Usage: glsgn derain [OPTIONS] INPUT..." in text
    assert "<bool>" not in text and "<list[str]>" not in text and "{inputs}" not in text
    assert "--overwrite Replace existing outputs" in text
    assert "Default: _derain." in text and "Default: glsgn-derain." in text and "TASK" not in text
    for args in (["--help"], ["models", "--help"], ["models", "download", "--help"], ["train", "--help"]):
        assert "<bool>" not in glsgn(*args, cwd=tmp_path).out, args
    listed = glsgn("info", "--list", cwd=tmp_path).out.splitlines()
    assert all(line.rstrip().endswith((".", ")")) or line.rstrip().endswith("scale=2|4.") for line in listed), listed
    tiny = next(line for line in listed if line.startswith("glanet-tiny "))
    assert tiny.endswith("the bundled glanet-x2/x4 use it.")


# ------------------------------------------------------------------------------------------------
# 12. Pipes and completion


def test_dash_reads_standard_input_and_writes_standard_output(tmp_path):
    import io

    save(tmp_path / "a.jpg", rgb(64, 80))
    r = glsgn("derain", "-", "-o", "-", cwd=tmp_path, stdin=(tmp_path / "a.jpg").read_bytes())
    assert r.returncode == 0, r.err
    with PILImage.open(io.BytesIO(r.stdout)) as im:
        assert (im.format, im.size) == ("PNG", (80, 64))
    r = glsgn("derain", "a.jpg", "-o", "-", "--ext", "jpg", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout[:2] == b"\xff\xd8"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["a.jpg"]  # nothing else written


def test_exceptions_pipes_name_the_streams_not_their_stand_in_files(tmp_path):
    save(tmp_path / "a.jpg", rgb(64, 80))
    r = glsgn("derain", "-", cwd=tmp_path, stdin=(tmp_path / "a.jpg").read_bytes())
    assert r.returncode == 2 and "give -o FILE, or -o - for standard output" in r.err and "Traceback" not in r.err
    r = glsgn("derain", "-", "-o", "-", cwd=tmp_path, stdin=b"hello")
    assert r.returncode == 1 and "cannot read standard input: not an image" in r.err and "glsgn-pipe-" not in r.err
    save(tmp_path / "b.jpg", rgb(64, 80, seed=1))
    r = glsgn("derain", "a.jpg", "b.jpg", "-o", "-", cwd=tmp_path)
    assert r.returncode == 2 and "-o - names one file but there are 2 inputs" in r.err and "glsgn-pipe-" not in r.err


def test_exceptions_bad_ext_and_suffix_are_usage_errors_before_any_work(tmp_path):
    save(tmp_path / "a.jpg", rgb(64, 80))
    for args, says in ((["-o", "out", "--ext", "xyz"], "--ext 'xyz' is not a format glsgn writes"),
                       (["--suffix", "/x"], "--suffix '/x' holds a path separator"),
                       (["--suffix", "../../esc"], "holds a path separator"),
                       (["-o", "b.png", "--ext", "jpg"], "drop --ext jpg or name the file 'b.jpg'"),
                       (["-o", "b.tif", "--ext", "jpeg"], "drop --ext jpeg or name the file 'b.jpeg'")):
        r = glsgn("derain", "a.jpg", *args, cwd=tmp_path)
        assert (r.returncode, r.err.count("\n")) == (2, 1) and says in r.err, r.err
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["a.jpg"]  # no folder, no file
    for name, ext in (("b.jpg", "jpg"), ("c.jpeg", ".JPG"), ("d.tif", "tiff")):  # one format, any spelling
        r = glsgn("derain", "a.jpg", "-o", name, "--ext", ext, cwd=tmp_path)
        assert r.returncode == 0 and (tmp_path / name).is_file(), r.err


def test_skipped_names_the_output_that_exists(tmp_path):
    save(tmp_path / "a.jpg", rgb(64, 80))
    (tmp_path / "taken.jpg").write_bytes(b"keep")
    r = glsgn("derain", "a.jpg", "-o", "taken.jpg", cwd=tmp_path)
    assert r.returncode == 0 and "skipped a.jpg: its output 'taken.jpg' exists; use --overwrite" in r.err
    assert (tmp_path / "taken.jpg").read_bytes() == b"keep"


def test_completion_offers_model_names_after_model(tmp_path):
    env = {"_GLSGN_COMPLETE": "complete_bash", "COMP_WORDS": "glsgn derain --model glsgn-de", "COMP_CWORD": "3"}
    assert glsgn(cwd=tmp_path, env=env).out.split() == ["glsgn-derain"]  # only what derain runs
    for words, offered in (("glsgn upscale --model ", ["glanet-x2", "glanet-x4"]),
                           ("glsgn eval --model glsgn-de", ["glsgn-derain", "glsgn-dehaze"])):
        env = {**env, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (not words.endswith(" ")))}
        assert glsgn(cwd=tmp_path, env=env).out.split() == offered, words
