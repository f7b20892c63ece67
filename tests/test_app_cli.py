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



def test_restore_help_names_a_default_model_only_where_one_is_published():
    from typer.testing import CliRunner

    from glsgn_cli.app import app
    from glsgn_core import tasks
    from glsgn_core.weights.registry import is_registered

    for task in ("derain", "dehaze", "dereflect"):
        text = " ".join(CliRunner().invoke(app, [task, "--help"], terminal_width=400).stdout.replace("│", " ").split())
        default = tasks.get(task).weights
        if is_registered(default):
            assert f"Default: {default}." in text
        else:
            assert f"No {task} model is published yet: give --weights FILE." in text and f"Default: {default}" not in text
