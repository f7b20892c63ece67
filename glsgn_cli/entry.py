"""The ``glsgn`` executable: re-run once with huge-page malloc where glibc offers it, then the app.

Kept apart from :mod:`glsgn_cli.app` so the re-run happens before Typer, rich and the commands load.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from glsgn_core.runtime import huge_pages_env  # platform and ctypes only

    env = huge_pages_env(os.environ)
    argv = getattr(sys, "orig_argv", None)
    # Not for a program read from standard input (`python -`): it could not be read a second time.
    if env is not None and sys.executable and argv and argv[1:2] != ["-"]:
        try:  # once: the re-run carries the mark, so it does not come back here
            os.execve(sys.executable, [sys.executable, *argv[1:]], env)
        except OSError:
            pass  # run as we are, only slower
    from glsgn_cli.app import main as run

    run()
