"""The run folder, and the rules for what a run may do to it.

A run lives in one folder: ``checkpoints/last.pt`` (saved every ``save_every`` steps, after
``save_minutes`` of wall time and at the end), ``checkpoints/best.pt`` (best validation PSNR) and
``metrics.jsonl`` (one JSON record per logged step). A new run never clobbers a folder that holds
anything worth keeping, but a folder left by a run killed before its first checkpoint holds nothing
and is started again. Every process checks the folder; only the main one (rank 0) writes to it, so
the writing methods here do nothing on the others.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from glsgn_core.errors import GlsgnError, WriteError
from glsgn_core.files import atomic_write
from glsgn_core.train.checkpoint import save_checkpoint

if TYPE_CHECKING:
    from glsgn_core.train.loop import Reporter

State = Callable[[], dict[str, Any]]  # a run's checkpoint state, computed only where it is saved


class RunFolder:
    """One run's files (see the module's notes), checked by every process, written by the main one."""

    def __init__(self, out: str | os.PathLike[str], reporter: Reporter, *, main: bool) -> None:
        self.path = Path(out)
        self.last = self.path / "checkpoints" / "last.pt"
        self.best = self.path / "checkpoints" / "best.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.reporter, self.main = reporter, main
        self._saved_at = time.monotonic()

    def check(self, *, resume: bool) -> bool:
        """Refuse a folder a new run would clobber, or a resume with no checkpoint. True when the folder
        holds only what a run killed before its first checkpoint leaves: it is started again."""
        run = self.path
        restart = not resume and run.exists() and _never_saved(run)
        if not resume and run.exists() and any(run.iterdir()) and not restart:
            raise GlsgnError(f"{run}: the run folder is not empty; pick a new --out, or add --resume to continue it")
        if resume and not self.last.is_file():
            raise GlsgnError(f"{self.last}: nothing to resume (no checkpoint); start a new run without --resume")
        return restart

    def resumed(self, step: int) -> None:
        """After ``last.pt`` is loaded: drop the records of the steps that will run again."""
        if self.main:
            _truncate_metrics(self.metrics, step)

    def open(self, state: State, *, resume: bool, restart: bool) -> None:
        """Ready to write: a dead run's metrics are cleared, and a new run's ``last.pt`` is saved at
        once, so that a run killed at any point can be resumed."""
        if self.main:
            if restart and self.metrics.exists():
                self.reporter.message(f"{self.path} holds a run that stopped before its first checkpoint: starting it again")
                self.metrics.unlink()
            self.path.mkdir(parents=True, exist_ok=True)
            if not resume:
                save_checkpoint(state(), self.last)
        self._saved_at = time.monotonic()

    def log(self, record: dict[str, Any]) -> None:
        """Append ``record`` to ``metrics.jsonl`` and show it; a failed write stops the run, its
        checkpoint kept."""
        if self.main:
            try:
                with open(self.metrics, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            except OSError as exc:
                raise WriteError(f"cannot write {self.metrics}: {(exc.strerror or str(exc)).lower()}; "
                                 "the last checkpoint is kept (free some space, then continue with --resume)") from None
            self.reporter.log(record)

    def save_best(self, state: State) -> None:
        if self.main:
            save_checkpoint(state(), self.best)

    def save_last(self, state: State) -> None:
        if self.main:
            save_checkpoint(state(), self.last)
            self._saved_at = time.monotonic()

    def save_if_due(self, state: State, step: int, *, every: int, minutes: float) -> None:
        """Save ``last.pt`` every ``every`` steps, or when ``minutes`` of wall time have passed since the last save."""
        if step % every == 0 or time.monotonic() - self._saved_at >= minutes * 60:
            self.save_last(state)


def _never_saved(run: Path) -> bool:
    """Whether ``run`` holds only what a run killed before its first checkpoint leaves (metrics.jsonl,
    a checkpoints folder without checkpoints, temporary files): nothing worth keeping."""
    from glsgn_core.image_io import is_temp_file

    entries = list(run.iterdir())
    ckpts = run / "checkpoints"
    if not entries or any(p.name not in ("metrics.jsonl", "checkpoints") for p in entries):
        return False
    return not ckpts.exists() or (ckpts.is_dir() and all(is_temp_file(p) for p in ckpts.iterdir()))


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after the checkpoint being resumed: those steps run again."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= step]
    if len(keep) == len(lines):
        return
    data = "".join(keep).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
