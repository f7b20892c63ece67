"""Process-wide runtime settings: the malloc setting applies on glibc and never fails elsewhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

from glsgn_core.runtime import keep_freed_memory


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


def test_every_command_applies_the_setting_once(monkeypatch):
    from typer.testing import CliRunner

    import glsgn_core.runtime
    from glsgn_cli.app import app

    calls = []
    monkeypatch.setattr(glsgn_core.runtime, "keep_freed_memory", lambda *a, **k: calls.append(a) or True)
    assert CliRunner().invoke(app, ["info", "--list"]).exit_code == 0
    assert calls == [()]
    assert CliRunner().invoke(app, ["--help"]).exit_code == 0  # help alone changes nothing
    assert calls == [()]
