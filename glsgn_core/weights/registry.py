"""The one table of published weights: what each file is, where it lives and how to check it.

Adding a model is adding one ``WeightsEntry`` row to ``REGISTRY``; ``glsgn models export`` prints the
sha256 and size a new row needs. Files listed here and present in this package folder are bundled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from glsgn_core import tasks
from glsgn_core.errors import GlsgnError

# Where release files are published; GLSGN_WEIGHTS_URL replaces it (mirrors, air-gapped servers).
DEFAULT_BASE_URL = "https://github.com/glsgn/glsgn/releases/download/weights-v1"


class WeightsError(GlsgnError):
    """Weights that cannot be found, fetched, verified or read; the message says where and why."""


class UnknownModelError(WeightsError):
    """A name the registry does not hold: the user's mistake, not a failed fetch (a usage error)."""


@dataclass(frozen=True)
class WeightsEntry:
    name: str  # what users type: ``glsgn-derain``
    task: str  # one of glsgn_core.tasks.NAMES
    model_name: str  # configuration in ``glsgn_core.models`` (the file's metadata holds its full config)
    file: str  # file name in the cache, the package and at the base URL; put a version in it
    sha256: str
    size: int  # bytes
    license: str = "MIT"
    description: str = ""
    arch: str = "glsgn"
    url: str = ""  # full URL when the file is not at DEFAULT_BASE_URL
    guide: int = 0  # restore at this long side and carry the result to full size (Restorer's guide); 0: full size

    def download_url(self) -> str:
        """``GLSGN_WEIGHTS_URL`` + file when set, else the row's own URL, else the default base."""
        base = os.environ.get("GLSGN_WEIGHTS_URL", "").strip()
        if base:
            return f"{base.rstrip('/')}/{self.file}"
        return self.url or f"{DEFAULT_BASE_URL}/{self.file}"


# One row per published file, e.g.
#   WeightsEntry("glsgn-derain", "derain", "glsgn-cpu", "glsgn-derain-vN.safetensors",
#                sha256="<64 hex digits>", size=<bytes>, description="GLSGN-cpu trained on synthetic rain"),
# (`glsgn models export` and `glsgn models average` print both numbers.)
REGISTRY: tuple[WeightsEntry, ...] = (
    WeightsEntry(
        "glsgn-derain", "derain", "glsgn-cpu", "glsgn-derain-v8.safetensors",
        sha256="4a2d169e01cd4f9ede845796065c51715faf354081306b4a5eac532d4ad3fc18", size=8_054_594,
        description="GLSGN-cpu, every rain family, trained to keep rain-like scene lines (decoys) and to leave untouched photos and parts of photos as they were (keep term); the average of v6 (two parts), v7's keep stage and two stages whose keep term counts clean pairs only; float16; bundled (docs/MODELS.md)",
    ),
    WeightsEntry(
        "glsgn-dehaze", "dehaze", "glsgn-lite", "glsgn-dehaze-v3.safetensors",
        sha256="9ab9ca87df83e70cf9cde0af98541b979ef4b17ef6824ede5a08a3bdf7df1087", size=3_536_412,
        description="GLSGN-lite, every haze family; the average of glsgn-dehaze v2 (two parts) and a stage trained from it to leave clean photos as they were (keep term): removes little haze, harms clean photos less than v2; float16; runs at 640 px, guided to full size; bundled (docs/MODELS.md)",
        guide=640,  # v1's, chosen on training photos with fresh haze (scripts/tune_guide.py); v2 and v3 are scored at it
    ),
    WeightsEntry(
        "glanet-x2", "sr2", "glanet-tiny", "glanet-x2-tiny-v1.safetensors",
        sha256="0e26c9ce5ad4f44ecc5bf9648c9d2228a4a8972b0bf737b4977652a93d493cbd", size=616_748,
        description="GLA-Net-tiny, x2 super-resolution (bicubic downscaling); bundled (docs/MODELS.md)", arch="glanet",
    ),
    WeightsEntry(
        "glanet-x4", "sr4", "glanet-tiny", "glanet-x4-tiny-v1.safetensors",
        sha256="1e96831565e549256671832a3568b0b246881a52fd4bdcbf2042c29d491b95b4", size=700_244,
        description="GLA-Net-tiny, x4 super-resolution (bicubic downscaling); bundled (docs/MODELS.md)", arch="glanet",
    ),
)


def entries() -> tuple[WeightsEntry, ...]:
    """The table as it is now (read at call time, so tests and plugins can swap ``REGISTRY``)."""
    return REGISTRY


def get_entry(name: str) -> WeightsEntry:
    for entry in entries():
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries()) or "none registered yet"
    raise UnknownModelError(
        f"unknown pretrained model {name!r} (known: {known}); give a weights file or URL instead "
        "(--weights FILE; --from FILE in `glsgn train`; make one with `glsgn train` and `glsgn models export`)"
    )


def is_registered(name: str) -> bool:
    return any(e.name == name for e in entries())


def default_model(task: str) -> str:
    """The registry name a task command uses when no ``--weights`` is given (the task table's
    ``weights``): ``derain`` -> ``glsgn-derain``, ``sr4`` -> ``glanet-x4``. An unknown task is a
    ``ValueError`` (``tasks.UnknownTaskError``)."""
    return tasks.get(task).weights
