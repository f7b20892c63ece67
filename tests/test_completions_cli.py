"""Shell completions in completions/ are generated from the app and kept current."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from glsgn_cli.completions import SHELLS, script

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_scripts_are_current(shell):
    committed = (ROOT / "completions" / f"glsgn.{shell}").read_text()
    assert committed == script(shell), "run scripts/update_completions.sh"
    assert "_GLSGN_COMPLETE" in committed


def test_bash_completion_offers_the_commands():
    env = {**os.environ, "_GLSGN_COMPLETE": "complete_bash", "COMP_WORDS": "glsgn de", "COMP_CWORD": "1"}
    glsgn = Path(sys.executable).with_name("glsgn")  # the installed console script: the name matters here
    out = subprocess.run([str(glsgn)], env=env, capture_output=True, text=True).stdout.split()
    assert {"derain", "dehaze"} <= set(out) and "info" not in out
