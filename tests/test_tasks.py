"""The task table: names, commands, scales, and defaults that name what exists."""

from __future__ import annotations

import pytest

from glsgn_core import tasks
from glsgn_core.errors import GlsgnError
from glsgn_core.models import list_models
from glsgn_core.weights import bundled_path, get_entry, load_weights_file
from glsgn_core.weights.registry import is_registered


def test_smoke_names_and_commands_are_unique():
    assert len(set(tasks.NAMES)) == len(tasks.TASKS)
    assert all(t.scale >= 1 for t in tasks.TASKS)
    assert set(tasks.RESTORATION) == {t.name for t in tasks.TASKS if t.scale == 1}
    assert tasks.scales("upscale") == (2, 4)


def test_get_by_name_or_by_command_and_scale():
    assert tasks.get("upscale", 4) is tasks.get("sr4")
    assert tasks.get("upscale", 2).scale == 2 and tasks.get("upscale", 2).upscales
    assert tasks.get("derain") is tasks.get("derain", 1)
    assert not tasks.get("dehaze").upscales


@pytest.mark.parametrize(
    "name,scale,message",
    [("colorize", None, "unknown task 'colorize'"), ("upscale", 3, "--scale 3: upscale works at scale 2 or 4"),
     ("derain", 2, "--scale 2: derain works at scale 1"), ("upscale", None, "upscale needs a scale: 2 or 4")],
)  # fmt: skip
def test_exceptions_unknown_task_or_scale(name, scale, message):
    with pytest.raises(tasks.UnknownTaskError, match=message) as info:
        tasks.get(name, scale)
    assert isinstance(info.value, GlsgnError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("task", tasks.TASKS, ids=tasks.NAMES)
def test_defaults_name_a_configuration_and_the_task_published_weights(task):
    assert task.config in list_models()
    if not is_registered(task.weights):
        pytest.skip(f"{task.weights} is not published (docs/MODELS.md)")
    entry = get_entry(task.weights)
    assert entry.task == task.name and entry.model_name in list_models()
    if bundled_path(entry).is_file():  # the published file's own scale is the task's
        model, _ = load_weights_file(bundled_path(entry))
        assert getattr(model, "scale", 1) == task.scale
