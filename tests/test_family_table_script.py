"""scripts/family_table.py, run as a user runs it: a real validation folder of image files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "family_table.py"


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_scores_each_family_folder_and_clean_photos(tmp_path):
    rng = np.random.default_rng(1)
    clean = rng.integers(40, 200, (96, 128, 3)).astype(np.uint8)
    rainy = clean.copy()
    rainy[:, ::9] = 250  # bright vertical streaks
    for side, img in (("input", rainy), ("target", clean)):
        (tmp_path / "derain-streaks" / side).mkdir(parents=True)
        Image.fromarray(img).save(tmp_path / "derain-streaks" / side / "a.png")
    (tmp_path / "clean").mkdir()
    Image.fromarray(clean).save(tmp_path / "clean" / "a.png")
    done = _run(tmp_path, "glsgn-derain", "--guide", "0")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| glsgn-derain |")]
    assert [r.split("|")[2].strip() for r in rows] == ["streaks", "clean photos (output vs input)"]


def test_exceptions_no_folder_for_the_task(tmp_path):
    (tmp_path / "dehaze-smooth").mkdir()  # another task's folder does not count
    done = _run(tmp_path, "glsgn-derain", "--guide", "0")
    assert done.returncode != 0
    assert str(tmp_path) in done.stderr and "no derain-FAMILY folder" in done.stderr
    assert "| glsgn-derain |" not in done.stdout
