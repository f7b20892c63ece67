"""Process-wide runtime settings: the malloc setting applies on glibc and never fails elsewhere; the
one device and precision resolver, shared by restoring and training."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from glsgn_core.errors import GlsgnError
from glsgn_core.runtime import keep_freed_memory, native_bf16, resolve_device, resolve_precision


def _glibc() -> bool:
    import platform

    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not _glibc(), reason="mallopt is glibc's")
def test_keep_freed_memory_applies_on_glibc():
    # In a child: the setting is process-wide, and the test process should stay as it was.
    code = "from glsgn_core.runtime import keep_freed_memory as k; print(k(), k(1 << 20))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]


def test_keep_freed_memory_exceptions_never_raise(monkeypatch):
    assert keep_freed_memory(libc="/nonexistent/libc.so") is False
    monkeypatch.setattr(sys, "platform", "darwin")  # other systems' allocators are left alone
    assert keep_freed_memory() is False


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_device_cuda_without_cuda_is_an_error_and_auto_falls_back():
    with pytest.raises(GlsgnError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(GlsgnError, match="CUDA is not available"):
        resolve_device("cuda:1")
    device, notice = resolve_device("auto")
    assert device.type == "cpu"
    assert (notice is not None and "CPU" in notice) == torch.backends.cuda.is_built()


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "tpu"])
def test_exception_unknown_device(spec):
    with pytest.raises(GlsgnError):
        if spec.startswith("cuda") and torch.cuda.is_available():
            raise GlsgnError("skip")
        resolve_device(spec)


@pytest.mark.parametrize("training", [False, True], ids=["restore", "train"])
def test_precision_rules(training):
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, training=training) in (torch.float32, torch.bfloat16)
    assert resolve_precision("fp32", cpu, training=training) == torch.float32
    assert resolve_precision("bf16", cpu, training=training) == torch.bfloat16
    with pytest.raises(GlsgnError, match="fp16"):
        resolve_precision("fp16", cpu, training=training)
    with pytest.raises(GlsgnError):
        resolve_precision("int8", cpu, training=training)


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_precision_on_cuda_without_bf16_differs_only_where_loss_scaling_guards_fp16(monkeypatch, bf16):
    # Only the device's type is read: no GPU is needed to check the rule.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    cuda = torch.device("cuda")
    assert resolve_precision("auto", cuda, training=False) == (torch.bfloat16 if bf16 else torch.float32)
    assert resolve_precision("auto", cuda, training=True) == (torch.bfloat16 if bf16 else torch.float16)


def test_auto_precision_on_the_cpu_is_the_same_for_restoring_and_training():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, training=True) == resolve_precision("auto", cpu, training=False)
    assert resolve_precision("auto", cpu, training=True) == (torch.bfloat16 if native_bf16() else torch.float32)


def test_native_bf16_reads_the_cpu_flags():
    assert native_bf16("flags : fpu sse avx2 avx512f avx512_bf16 avx512bw")
    assert native_bf16("flags : fpu amx_bf16 amx_tile")
    assert not native_bf16("flags : fpu sse avx2 avx512f avx512bw")
    assert not native_bf16("")


def test_exception_training_resolves_precision_as_restoring_does(tmp_path):
    """Training reads the same resolver: fp16 on the CPU is refused there too, before any step."""
    from glsgn_core.train.distributed import setup_distributed
    from glsgn_core.train.loop import Trainer, TrainConfig
    from glsgn_core.train.losses import LossWeights

    cfg = TrainConfig(out=str(tmp_path / "run"), task="derain", data=str(tmp_path), precision="fp16", device="cpu",
                      model_overrides={"widths": [4, 8, 8, 8, 8]}, loss=LossWeights(perceptual=0.0))  # fmt: skip
    with pytest.raises(GlsgnError, match="fp16 needs a CUDA device"):
        Trainer(cfg, setup_distributed("cpu"))


# --- huge-page malloc for the glsgn executable ----------------------------------------------------


def test_huge_pages_env_adds_the_tunable_once():
    from glsgn_core.runtime import huge_pages_env

    glibc = ("glibc", "2.36")
    if not sys.platform.startswith("linux"):
        assert huge_pages_env({}, libc=glibc) is None
        return
    assert huge_pages_env({"A": "1"}, libc=glibc) == {"A": "1", "_GLSGN_RERUN": "1", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    kept = huge_pages_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, libc=glibc)
    assert kept["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert huge_pages_env(kept, libc=glibc) is None  # already set: the re-run does not re-run again
    assert huge_pages_env({"_GLSGN_RERUN": "1"}, libc=glibc) is None  # even if a wrapper dropped the tunable
    assert huge_pages_env({"GLSGN_HUGE_PAGES": "0"}, libc=glibc) is None
    assert huge_pages_env({}, libc=("glibc", "2.31")) is None  # the tunable came in 2.35
    assert huge_pages_env({}, libc=("", "")) is None  # musl and others


def test_glsgn_executable_reruns_itself_with_huge_pages():
    """The entry point re-runs the process once with the tunable, then runs the command."""
    import platform
    import subprocess

    from glsgn_core.runtime import huge_pages_env

    if huge_pages_env({}) is None:
        pytest.skip(f"huge-page malloc does not apply here ({sys.platform}, {platform.libc_ver()})")
    code = ("import os, sys; print(os.environ.get('GLIBC_TUNABLES'), flush=True); "
            "sys.argv = ['glsgn', '--version']; from glsgn_cli.entry import main; main()")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "GLSGN_HUGE_PAGES", "_GLSGN_RERUN")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    from glsgn_core import __version__

    assert lines[:2] == ["None", "glibc.malloc.hugetlb=1"] and lines[2].endswith(__version__) and len(lines) == 3
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "GLSGN_HUGE_PAGES": "0"}, timeout=60)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "None" and len(r.stdout.splitlines()) == 2
