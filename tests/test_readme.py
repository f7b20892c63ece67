"""The READMEs' code blocks run, as written, against the installed glsgn (issue 19, item 12).

Shell blocks run in bash from a scratch folder that has the repository's ``examples/`` and
``completions/``. Their set-up steps are left out: making the virtual environment and installing
glsgn is what this test environment already is, and the test suite cannot run itself from inside
one of its tests. Everything else (every ``glsgn`` command, every Python block) runs unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = re.compile(r"^(python3 -m venv|\.venv/bin/pip install|pip install|\.venv/bin/python -m pytest)\b")


def blocks(readme: Path) -> list[tuple[str, str]]:
    return re.findall(r"^```(bash|python)\n(.*?)^```", readme.read_text(), flags=re.S | re.M)


def shell_commands(block: str) -> str:
    """The block without its set-up steps; the virtual environment's glsgn is the installed one."""
    lines = []
    for line in block.splitlines():
        steps = [s.strip() for s in line.split("&&")]
        kept = [s.replace(".venv/bin/glsgn", "glsgn") for s in steps if not SETUP.match(s)]
        if kept:
            lines.append(" && ".join(kept))
    return "\n".join(lines)


CASES = [(readme, i, kind, code) for readme in (ROOT / "README.md", ROOT / "examples" / "README.md")
         for i, (kind, code) in enumerate(blocks(readme))]


def test_the_readmes_have_code_blocks():
    kinds = [(readme.name, kind) for readme, _, kind, _ in CASES]
    assert kinds.count(("README.md", "python")) >= 1 and kinds.count(("README.md", "bash")) >= 3


@pytest.mark.parametrize("readme,index,kind,code", CASES, ids=[f"{r.parent.name}-{i}-{k}" for r, i, k, _ in CASES])
def test_code_block_runs(readme, index, kind, code, tmp_path):
    for name in ("examples", "completions"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLSGN_HOME": str(tmp_path / ".home"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if kind == "python":
        cmd = [sys.executable, "-c", code]
    else:
        script = shell_commands(code)
        if not script.strip():
            return  # set-up only (the "Test it" block): this test is its last step
        cmd = ["bash", "-euo", "pipefail", "-c", script]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{readme.name} block {index}:\n{code}\n{r.stderr}"
    if kind == "python" or "glsgn derain" in code or "glsgn dehaze" in code:
        made = [p for p in tmp_path.iterdir() if p.suffix in (".png", ".jpg") and p.stat().st_size > 0]
        assert made, f"{readme.name} block {index} wrote no image"
