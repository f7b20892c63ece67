"""The `glsgn` command as a whole: what its callback does before every command."""

from __future__ import annotations


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

