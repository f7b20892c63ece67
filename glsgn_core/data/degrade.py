"""Seeded synthetic degradations: the families of each task, the camera stage and clean pairs.

Every family takes a clean float32 RGB image (HWC, values in [0, 1]) and a
:class:`numpy.random.Generator` and returns a new float32 image of the same shape in [0, 1]; all
randomness comes from the generator, so a seed reproduces a pair exactly. Each task has at least
three *independent* families (different physical or rendering models, not one model with other
parameters; ``rain.py``, ``haze.py``, ``reflection.py`` say how they differ), so a model can be
trained on some and scored on one it never saw.

Sizes (streak length, blur radius, ghost offset) are expressed for a 1080-pixel short side and
scaled by ``ref_size / 1080``, where ``ref_size`` is the short side of the *whole photo* the image
was cut from (default: the image's own short side).

:func:`degrade` renders one family; :func:`synthesize` makes a training pair: a family drawn from
the allowed ones (or none, for a share of clean pairs), a random amount, then the camera stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

from glsgn_core import tasks
from glsgn_core.data._signal import fourier_filter as _filter  # noqa: F401  (tests reach the filter here)
from glsgn_core.data.camera import camera
from glsgn_core.data.haze import haze_patchy, haze_regions, haze_smooth, scene_defocus
from glsgn_core.data.rain import rain_depth, rain_refraction, rain_streaks, scene_lines
from glsgn_core.data.reflection import reflection_blurred, reflection_fresnel, reflection_ghosted

Pool = Union[Sequence[np.ndarray], Callable[[np.random.Generator], np.ndarray]]

# The first family of each task is the generator of glsgn's first models (and the paper's recipe).
add_rain, add_haze, add_reflection = rain_streaks, haze_smooth, reflection_blurred


@dataclass(frozen=True)
class Family:
    """One degradation model of a task. ``render(clean, rng, ref_size=...)``, plus ``other`` for reflections."""

    task: str
    name: str
    render: Callable[..., np.ndarray]
    description: str
    needs_other: bool = False  # renders a second picture into the photo (a reflection)


def _family(task: str, name: str, render: Callable[..., np.ndarray], *, needs_other: bool = False) -> Family:
    return Family(task, name, render, (render.__doc__ or "").strip().splitlines()[0], needs_other)


FAMILIES: dict[str, tuple[Family, ...]] = {
    "derain": (_family("derain", "streaks", rain_streaks), _family("derain", "depth", rain_depth),
               _family("derain", "refraction", rain_refraction)),
    "dehaze": (_family("dehaze", "smooth", haze_smooth), _family("dehaze", "regions", haze_regions),
               _family("dehaze", "patchy", haze_patchy)),
    "dereflect": tuple(_family("dereflect", name, render, needs_other=True) for name, render in
                       (("blurred", reflection_blurred), ("ghosted", reflection_ghosted), ("fresnel", reflection_fresnel))),
}
TASKS = tasks.RESTORATION
# Decoys: scene content that looks like a task's degradation, drawn into the clean photo before it is
# degraded (so input and target both hold it): the model must learn to keep it. See ``decoy_share``.
DECOYS: dict[str, Callable[..., np.ndarray]] = {"derain": scene_lines, "dehaze": scene_defocus}
if set(FAMILIES) != set(TASKS):
    raise RuntimeError(f"degradation families cover {sorted(FAMILIES)}, the task table restores {sorted(TASKS)}")


def family_names(task: str) -> tuple[str, ...]:
    return tuple(f.name for f in FAMILIES[_check_task(task)])


def _check_task(task: str) -> str:
    if task not in FAMILIES:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return task


def select_families(task: str, names: Sequence[str] | None = None, *, exclude: Sequence[str] = ()) -> tuple[Family, ...]:
    """The families of ``task`` named in ``names`` (default: all) minus ``exclude``; unknown names are an error."""
    known = {f.name: f for f in FAMILIES[_check_task(task)]}
    for name in [*(names or ()), *exclude]:
        if name not in known:
            raise ValueError(f"unknown {task} family {name!r}: expected one of {', '.join(known)}")
    chosen = tuple(f for f in known.values() if (not names or f.name in names) and f.name not in exclude)
    if not chosen:
        raise ValueError(f"no {task} family left to draw from (all of {', '.join(known)} excluded)")
    return chosen


def _other(clean: np.ndarray, rng: np.random.Generator, pool: Pool | None) -> np.ndarray:
    if callable(pool):
        return pool(rng)
    if pool:
        return pool[int(rng.integers(len(pool)))]
    return clean[::-1, ::-1]


def degrade(
    task: str,
    clean: np.ndarray,
    rng: np.random.Generator,
    *,
    family: str | None = None,
    pool: Pool | None = None,
    ref_size: int | None = None,
) -> np.ndarray:
    """Degrade ``clean`` for a restoration ``task`` (:data:`glsgn_core.tasks.RESTORATION`) with one family.

    ``family`` names it (see :data:`FAMILIES`); by default one is drawn at random. For a family that
    needs a second picture (``needs_other``: a reflection), ``pool`` supplies it: a sequence of
    float images (one is drawn) or a callable ``pool(rng) -> image``. Without a pool the clean image
    itself, mirrored, is reflected, which is weaker training data but keeps single-photo use working.
    """
    families = select_families(task, [family] if family else None)
    chosen = families[int(rng.integers(len(families)))]
    return _render(chosen, clean, rng, pool, ref_size)


def _render(family: Family, clean: np.ndarray, rng: np.random.Generator, pool: Pool | None, ref_size: int | None) -> np.ndarray:
    if family.needs_other:
        return family.render(clean, _other(clean, rng, pool), rng, ref_size=ref_size)
    return family.render(clean, rng, ref_size=ref_size)


@dataclass(frozen=True)
class Synthesized:
    input: np.ndarray
    target: np.ndarray
    family: str  # "" for a clean pair


# Training defaults. CLEAN_SHARE: pairs with nothing to remove, so a model learns to hand a clean
# photo back (a fifth took the old dereflect model's clean-photo PSNR from 23.5 to 28.8 dB).
# LIGHT_SHARE: pairs whose degradation is mixed back towards the clean photo (0.2-1 of it): users'
# photos often hold only a little rain or haze.
CLEAN_SHARE = 0.2
LIGHT_SHARE = 0.25


def with_decoy(task: str, clean: np.ndarray, rng: np.random.Generator, share: float, *, ref_size: int | None = None) -> np.ndarray:
    """``clean`` with the task's decoy (:data:`DECOYS`) drawn into it a ``share`` of the time.

    ``rng`` is the decoy's own generator, so whether and how a decoy is drawn never shifts the
    random draws of the degradation that follows.
    """
    return DECOYS[task](clean, rng, ref_size=ref_size) if rng.random() < share else clean


def synthesize(
    task: str,
    clean: np.ndarray,
    rng: np.random.Generator,
    *,
    families: Sequence[Family] | None = None,
    pool: Pool | None = None,
    ref_size: int | None = None,
    clean_share: float = CLEAN_SHARE,
    light_share: float = LIGHT_SHARE,
    decoy_share: float = 0.0,
    use_camera: bool = True,
) -> Synthesized:
    """A training pair from a clean image: a family (or none), a random amount, the camera stage.

    ``decoy_share``: share of pairs whose clean image first gets the task's decoy (:data:`DECOYS`;
    tasks without one ignore it). Draws the same random numbers up to the family's own, whatever
    is chosen, so the stream of pairs stays aligned across options (a decoy draws from a generator
    of its own, seeded by one number drawn only when ``decoy_share`` > 0).
    """
    families = tuple(families) if families else FAMILIES[_check_task(task)]
    pick, is_clean, is_light, amount = int(rng.integers(len(families))), rng.random(), rng.random(), rng.uniform(0.2, 1.0)
    if decoy_share > 0 and task in DECOYS:
        clean = with_decoy(task, clean, np.random.default_rng(int(rng.integers(2**63))), decoy_share, ref_size=ref_size)
    if is_clean < clean_share:
        degraded, name = clean, ""
    else:
        family = families[pick]
        degraded, name = _render(family, clean, rng, pool, ref_size), family.name
        if is_light < light_share:
            degraded = clean + np.float32(amount) * (degraded - clean)
    if not use_camera:
        return Synthesized(np.array(degraded, np.float32), np.array(clean, np.float32), name)
    inp, tgt = camera(degraded, clean, rng, identity=not name)
    return Synthesized(inp, tgt, name)
