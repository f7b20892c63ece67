"""Weights: file format round trip, resolution order, and downloads against a faulty local server."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from glsgn_core.errors import GlsgnError
from glsgn_core.models import create_model
from glsgn_core.weights import (
    FORMAT,
    WeightsError,
    cache_dir,
    default_model,
    download,
    load_model,
    read_metadata,
    resolve,
    save_weights,
    sha256_file,
)
from weights_fixtures import (  # noqa: F401  (fixtures)
    FAST,
    TINY,
    cache_files,
    entry_for,
    make_weights,
    server,
    tiny_bytes,
    use_registry,
    weights_env,
)

TESTS = Path(__file__).parent


# ---------------------------------------------------------------- format


def test_roundtrip_save_load_same_model_and_metadata(tmp_path, device, dtype):
    torch.manual_seed(3)
    model = create_model("glsgn-lite", **TINY).eval()
    path = tmp_path / "w.safetensors"
    sha = save_weights(model, path, task="dehaze", model_name="glsgn-lite", recipe={"lr": 2e-4, "steps": 10})

    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded, meta = load_model(str(path))
    assert not loaded.training
    assert meta["format"] == FORMAT and meta["arch"] == "glsgn" and meta["task"] == "dehaze"
    assert meta["model_name"] == "glsgn-lite" and json.loads(meta["recipe"]) == {"lr": 2e-4, "steps": 10}
    assert loaded.config == model.config
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.rand(1, 3, 64, 64, device=device, dtype=dtype)
    model, loaded = model.to(device, dtype), loaded.to(device, dtype)
    with torch.no_grad():
        assert torch.equal(model(x).image, loaded(x).image)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left beside it


def test_determinism_same_weights_same_bytes_in_every_process(tmp_path):
    # safetensors orders its header by a per-process hash map; a registry row pins the sha256.
    code = (
        "import sys, torch; from glsgn_core.models import create_model; from glsgn_core.weights import save_weights; "
        f"torch.manual_seed(3); m = create_model('glsgn-lite', **{TINY!r}); "
        "print(save_weights(m, sys.argv[1], task='derain', model_name='glsgn-lite', recipe={'b': 1, 'a': [2]}))"
    )
    shas = [subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{i}.safetensors")], capture_output=True,
                           text=True, check=True).stdout.strip() for i in range(4)]
    assert len(set(shas)) == 1
    blob = (tmp_path / "0.safetensors").read_bytes()
    n = int.from_bytes(blob[:8], "little")
    assert n % 8 == 0 and list(json.loads(blob[8 : 8 + n])["__metadata__"]) == sorted(json.loads(blob[8 : 8 + n])["__metadata__"])
    model, meta = load_model(str(tmp_path / "0.safetensors"))  # still a file safetensors and glsgn read
    assert meta["task"] == "derain" and json.loads(meta["recipe"]) == {"a": [2], "b": 1}


def test_exception_save_weights_unknown_task_leaves_existing_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"keep me")
    with pytest.raises(ValueError, match="task"):
        save_weights(create_model("glsgn-lite", **TINY), path, task="denoise", model_name="glsgn-lite")
    assert path.read_bytes() == b"keep me"


def test_exception_load_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(_Touch(str(marker))))
    with pytest.raises(WeightsError, match="evil.safetensors is not a readable safetensors file"):
        load_model(str(evil))
    assert not marker.exists()


class _Touch:
    """Unpickling this creates a file: proof that a loader ran pickle."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_exception_load_foreign_safetensors(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(WeightsError, match="not a glsgn weights file"):
        read_metadata(path)


def test_exception_load_tensors_that_do_not_fit_the_config(tmp_path):
    path = tmp_path / "w.safetensors"
    make_weights(path)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["config"] = json.dumps({**json.loads(meta["config"]), "widths": [4, 8, 8, 8, 16]})
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(WeightsError, match="do not match"):
        load_model(str(path))


def test_exception_unknown_name_and_missing_path(weights_env):
    with pytest.raises(WeightsError, match="unknown pretrained model 'glsgn-nope'"):
        resolve("glsgn-nope")
    with pytest.raises(WeightsError, match="missing/w.safetensors not found"):
        resolve("missing/w.safetensors")
    assert issubclass(WeightsError, GlsgnError)


def test_default_model_names():
    assert default_model("derain") == "glsgn-derain"
    assert default_model("sr4") == "glanet-x4"
    with pytest.raises(ValueError):
        default_model("colorize")


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("GLSGN_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv("GLSGN_HOME")
    assert cache_dir().name == "glsgn" and cache_dir() != tmp_path / "x"


# ---------------------------------------------------------------- downloads


def test_download_resumes_with_range_after_a_cut(weights_env, server, tiny_bytes):
    data = tiny_bytes["derain"]
    half = len(data) // 2
    url = server.add("w.safetensors", data, cut_at=half)
    dest = weights_env["cache"] / "w.safetensors"

    download(url, dest, sha256=hashlib.sha256(data).hexdigest(), size=len(data), **FAST)

    assert dest.read_bytes() == data
    log = server.gets("w.safetensors")
    assert [r.status for r in log] == [200, 206]
    resumed_at = int(log[1].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= half  # what arrived before the cut was kept (bar the last partial chunk)
    assert cache_files(weights_env["home"]) == [dest]  # no .part, no .lock


def test_download_progress_is_one_plain_line_when_stderr_is_not_a_terminal(weights_env, server, tiny_bytes, capfd):
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data)
    download(url, weights_env["cache"] / "w.safetensors", sha256=hashlib.sha256(data).hexdigest(), size=len(data),
             timeout=(2.0, 2.0), retries=0)
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "downloading w.safetensors" in err and url in err


def test_download_restarts_when_server_ignores_range(weights_env, server, tiny_bytes):
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data, cut_at=len(data) // 3, ranges=False)
    dest = weights_env["cache"] / "w.safetensors"

    download(url, dest, sha256=hashlib.sha256(data).hexdigest(), size=len(data), **FAST)

    assert dest.read_bytes() == data
    log = server.gets("w.safetensors")
    assert [r.status for r in log] == [200, 200] and log[1].range is not None
    assert cache_files(weights_env["home"]) == [dest]


def test_download_retries_a_transient_server_error(weights_env, server, tiny_bytes):
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data, status=503, status_times=2)
    dest = download(url, weights_env["cache"] / "w.safetensors", sha256=hashlib.sha256(data).hexdigest(), **FAST)
    assert dest.read_bytes() == data
    assert [r.status for r in server.gets("w.safetensors")] == [503, 503, 200]


def test_exception_corrupted_download_refused_and_not_cached(weights_env, server, tiny_bytes):
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data, corrupt=True)
    dest = weights_env["cache"] / "w.safetensors"
    with pytest.raises(WeightsError, match="checksum mismatch for w.safetensors") as err:
        download(url, dest, sha256=hashlib.sha256(data).hexdigest(), size=len(data), **FAST)
    assert "\n" not in str(err.value)
    assert cache_files(weights_env["home"]) == []


def test_exception_corrupted_after_resume_gets_one_clean_retry(weights_env, server, tiny_bytes):
    # The first transfer is cut, the resumed rest comes from a different (corrupt) copy: the
    # mixed file fails the check, a clean full download is tried once, and fails again.
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data, cut_at=len(data) // 2, corrupt=True)
    with pytest.raises(WeightsError, match="checksum mismatch"):
        download(url, weights_env["cache"] / "w.safetensors", sha256=hashlib.sha256(data).hexdigest(), **FAST)
    assert [r.status for r in server.gets("w.safetensors")] == [200, 206, 200]
    assert cache_files(weights_env["home"]) == []


def test_exception_404_is_one_line_not_retried_not_cached(weights_env, server):
    with pytest.raises(WeightsError, match=r"HTTP 404") as err:
        download(f"{server.base}/missing.safetensors", weights_env["cache"] / "m.safetensors", sha256="0" * 64, **FAST)
    assert "\n" not in str(err.value)
    assert len(server.log) == 1
    assert cache_files(weights_env["home"]) == []


def test_exception_timeout_on_a_slow_server(weights_env, server, tiny_bytes):
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data, delay=3.0)
    t0 = time.monotonic()
    with pytest.raises(WeightsError, match="no answer for 0.3 s") as err:
        download(url, weights_env["cache"] / "w.safetensors", sha256=hashlib.sha256(data).hexdigest(),
                 timeout=(1.0, 0.3), retries=1, backoff=0.01, progress=False)
    assert time.monotonic() - t0 < 2.5
    assert "after 2 attempts" in str(err.value) and "\n" not in str(err.value)
    assert cache_files(weights_env["home"]) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to produce a real ENOSPC")
def test_exception_disk_full_during_write(weights_env, server, tiny_bytes):
    # A .part that is a link to /dev/full makes the kernel answer every write with ENOSPC.
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data)
    dest = weights_env["cache"] / "w.safetensors"
    dest.parent.mkdir(parents=True)
    os.symlink("/dev/full", dest.with_name("w.safetensors.part"))
    with pytest.raises(WeightsError, match="no space left") as err:
        download(url, dest, sha256=hashlib.sha256(data).hexdigest(), size=len(data), **FAST)
    assert "\n" not in str(err.value)
    assert cache_files(weights_env["home"]) == []


def test_exception_disk_too_small_fails_before_any_request(weights_env, server):
    with pytest.raises(WeightsError, match="no space left"):
        download(f"{server.base}/huge.safetensors", weights_env["cache"] / "huge.safetensors",
                 sha256="0" * 64, size=1 << 62, **FAST)
    assert server.log == [] and cache_files(weights_env["home"]) == []


def test_two_processes_download_concurrently_one_good_file(weights_env, server, tiny_bytes):
    data = tiny_bytes["derain"]
    sha = hashlib.sha256(data).hexdigest()
    url = server.add("w.safetensors", data, throttle=1.0 / max(1, len(data) // 4096))  # about 1 s per transfer
    dest = weights_env["cache"] / "w.safetensors"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(TESTS / "_download_child.py"), url, str(dest), sha, str(len(data))]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    spans = [tuple(map(float, o[0].split()[:2])) for o in outs]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], "the two processes did not overlap"
    assert all(o[0].split()[2] == str(dest) for o in outs)
    assert sha256_file(dest) == sha
    assert len(server.gets("w.safetensors")) == 1  # the waiter found the verified file
    assert cache_files(weights_env["home"]) == [dest]


def test_ctrl_c_mid_download_leaves_nothing_behind(weights_env, server, tiny_bytes):
    data = tiny_bytes["derain"]
    url = server.add("w.safetensors", data, throttle=0.2)  # about 6 s in all: plenty of time to interrupt
    dest = weights_env["cache"] / "w.safetensors"
    part = dest.with_name("w.safetensors.part")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(TESTS / "_download_child.py"), url, str(dest), hashlib.sha256(data).hexdigest(), str(len(data))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert part.exists(), "the download never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)

    assert proc.returncode != 0 and b"KeyboardInterrupt" in err
    assert cache_files(weights_env["home"]) == []


# ---------------------------------------------------------------- resolution


def test_resolve_order_cache_then_bundled_then_download(weights_env, server, tiny_bytes, monkeypatch):
    data = tiny_bytes["derain"]
    entry = entry_for("glsgn-derain", data, url=server.add("rel/glsgn-derain-v1.safetensors", data))
    use_registry(monkeypatch, entry)
    cached = weights_env["cache"] / entry.file
    bundled = weights_env["bundled"] / entry.file

    assert resolve("glsgn-derain", **FAST) == cached  # nothing local: downloaded into the cache
    assert len(server.log) == 1 and cached.read_bytes() == data
    cached.unlink()
    bundled.write_bytes(data)
    assert resolve("glsgn-derain", **FAST) == bundled  # bundled copy, no network
    cached.write_bytes(data)
    assert resolve("glsgn-derain", **FAST) == cached  # the cache wins over the bundled copy
    explicit = weights_env["home"].parent / "mine.safetensors"
    explicit.write_bytes(data)
    assert resolve(str(explicit)) == explicit
    assert len(server.log) == 1


def test_resolve_refetches_a_cached_file_of_the_wrong_size(weights_env, server, tiny_bytes, monkeypatch):
    data = tiny_bytes["derain"]
    entry = entry_for("glsgn-derain", data, url=server.add("x.safetensors", data))
    use_registry(monkeypatch, entry)
    stale = weights_env["cache"] / entry.file
    stale.parent.mkdir(parents=True)
    stale.write_bytes(data[:100])
    assert resolve("glsgn-derain", **FAST).read_bytes() == data


def test_offline_uses_local_files_and_never_the_network(weights_env, server, tiny_bytes, monkeypatch):
    data = tiny_bytes["derain"]
    entry = entry_for("glsgn-derain", data, url=server.add("glsgn-derain-v1.safetensors", data))
    use_registry(monkeypatch, entry)
    monkeypatch.setenv("GLSGN_OFFLINE", "1")

    with pytest.raises(WeightsError) as err:
        load_model("glsgn-derain", **FAST)
    message = str(err.value)
    for part in ("glsgn-derain", str(weights_env["cache"]), str(weights_env["bundled"]), "GLSGN_OFFLINE", "glsgn models download"):
        assert part in message
    with pytest.raises(WeightsError, match="GLSGN_OFFLINE"):
        resolve(server.base + "/glsgn-derain-v1.safetensors")
    assert server.log == []

    (weights_env["bundled"] / entry.file).write_bytes(data)
    model, meta = load_model("glsgn-derain")
    assert meta["task"] == "derain" and server.log == []


def test_env_weights_url_replaces_the_registry_url(weights_env, server, tiny_bytes, monkeypatch):
    data = tiny_bytes["dehaze"]
    entry = entry_for("glsgn-dehaze", data, task="dehaze", url="http://127.0.0.1:9/nowhere/glsgn-dehaze-v1.safetensors")
    use_registry(monkeypatch, entry)
    server.add("mirror/glsgn-dehaze-v1.safetensors", data)
    monkeypatch.setenv("GLSGN_WEIGHTS_URL", server.base + "/mirror/")

    model, meta = load_model("glsgn-dehaze", **FAST)

    assert meta["task"] == "dehaze"
    assert (weights_env["home"] / "weights" / entry.file).read_bytes() == data
    assert [r.path for r in server.log] == ["/mirror/glsgn-dehaze-v1.safetensors"]


def test_exception_download_failure_names_model_and_places(weights_env, server, tiny_bytes, monkeypatch):
    data = tiny_bytes["derain"]
    use_registry(monkeypatch, entry_for("glsgn-derain", data, url=f"{server.base}/gone.safetensors"))
    with pytest.raises(WeightsError) as err:
        resolve("glsgn-derain", **FAST)
    message = str(err.value)
    assert "glsgn-derain" in message and "404" in message and str(weights_env["bundled"]) in message
    assert "\n" not in message


def test_load_model_from_url_checks_the_sha256_fragment(weights_env, server, tiny_bytes):
    data = tiny_bytes["dehaze"]
    url = server.add("files/custom.safetensors", data)
    sha = hashlib.sha256(data).hexdigest()

    model, meta = load_model(f"{url}#sha256={sha}", **FAST)
    assert meta["task"] == "dehaze"
    load_model(f"{url}#sha256={sha}", **FAST)  # second time from the cache
    assert len(server.log) == 1

    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_model(f"{server.add('files/other.safetensors', data)}#sha256={'0' * 64}", **FAST)
    assert not any(p.name == "other.safetensors" for p in cache_files(weights_env["home"]))
