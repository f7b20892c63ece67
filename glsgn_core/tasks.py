"""The one table of tasks: what each does, at which size factor, with which weights and recipe.

Every other module reads its task names, scales and defaults from here (the CLI commands, the
Restorer, the weights registry, training). Adding a task is adding one ``Task`` row to ``TASKS``.
Importing this module imports nothing heavy: ``glsgn --help`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from glsgn_core.errors import GlsgnError


class UnknownTaskError(GlsgnError, ValueError):
    """A task name, or a command and scale, that the table does not have."""


@dataclass(frozen=True)
class Task:
    name: str  # what checkpoints, weights files and ``--task`` say: ``derain``, ``sr4``
    command: str  # the CLI command that runs it: ``derain``, ``upscale``
    scale: int  # output size over input size, per side (1: restoration)
    noun: str  # what the command removes or does, for help texts
    weights: str  # the registry name a command uses when no weights are given
    config: str  # the model configuration ``glsgn train`` builds by default
    lr: float  # training defaults: Adam's learning rate,
    perceptual: float  # the VGG-19 perceptual weight (lambda2)
    adversarial: float  # and the adversarial weight (lambda3)
    losses: str  # "multi-stage": L1 (+ perceptual, adversarial) on every pathway; "l1": one image, L1 alone

    @property
    def upscales(self) -> bool:
        return self.scale > 1


def _restoration(name: str, noun: str) -> Task:
    # The paper's recipe (section V-A): Adam 2e-4; lambda1 = 1, lambda2 = lambda3 = 0.01.
    return Task(name, name, 1, noun, f"glsgn-{name}", "glsgn-lite", 2e-4, 0.01, 0.01, "multi-stage")


def _upscaling(scale: int) -> Task:
    # GLA-Net's recipe: L1 alone, Adam 1e-4.
    return Task(f"sr{scale}", "upscale", scale, f"x{scale} super-resolution", f"glanet-x{scale}", "glanet-lite",
                1e-4, 0.0, 0.0, "l1")  # fmt: skip


TASKS: tuple[Task, ...] = (
    _restoration("derain", "rain streaks"),
    _restoration("dehaze", "haze"),
    _restoration("dereflect", "reflections"),
    _upscaling(2),
    _upscaling(4),
)

NAMES: tuple[str, ...] = tuple(t.name for t in TASKS)
RESTORATION: tuple[str, ...] = tuple(t.name for t in TASKS if not t.upscales)  # what data.degrade synthesises
COMMANDS: tuple[str, ...] = tuple(dict.fromkeys(t.command for t in TASKS))


def get(name: str, scale: int | None = None) -> Task:
    """The task called ``name``, or run by the command ``name`` at ``scale``.

    ``get("sr4")``, ``get("upscale", 4)`` and ``get("derain")`` name one row each. A ``scale`` that
    the task does not have (``get("upscale", 3)``, ``get("derain", 2)``) is an error, raised here,
    before anything is loaded.
    """
    rows = [t for t in TASKS if name in (t.name, t.command)]
    if not rows:
        raise UnknownTaskError(f"unknown task {name!r}; expected one of {', '.join(NAMES)}")
    if scale is not None:
        fitting = [t for t in rows if t.scale == scale]
        if not fitting:
            have = " or ".join(str(t.scale) for t in rows)
            raise UnknownTaskError(f"--scale {scale}: {name} works at scale {have}")
        rows = fitting
    if len(rows) > 1:
        raise UnknownTaskError(f"{name} needs a scale: {' or '.join(str(t.scale) for t in rows)}")
    return rows[0]


def scales(command: str) -> tuple[int, ...]:
    """The scales a command offers: ``scales("upscale") == (2, 4)``."""
    return tuple(t.scale for t in TASKS if t.command == command)
