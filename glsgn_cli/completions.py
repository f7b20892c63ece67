"""Write bash, zsh and fish completion scripts for ``glsgn``: ``python -m glsgn_cli.completions DIR``.

The scripts ask the installed ``glsgn`` for candidates at completion time, so they stay valid as
commands change; ``tests/test_completions_cli.py`` checks the committed copies are what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")


def script(shell: str) -> str:
    from typer._completion_shared import get_completion_script  # Typer's own generator

    return get_completion_script(prog_name="glsgn", complete_var="_GLSGN_COMPLETE", shell=shell)


def main(folder: str = "completions") -> None:
    for shell in SHELLS:
        (Path(folder) / f"glsgn.{shell}").write_text(script(shell))


if __name__ == "__main__":
    main(*sys.argv[1:])
