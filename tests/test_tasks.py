"""The task table, and what reads it: names and scales checked before any weights load."""

from __future__ import annotations

import pytest
import torch

from glsgn_core import tasks
from glsgn_core.errors import GlsgnError
from glsgn_core.models import create_model, list_models
from glsgn_core.restorer import Restorer
from glsgn_core.weights import bundled_path, declared_scale, get_entry, read_metadata, save_weights
from glsgn_core.weights.registry import is_registered

TINY_GLANET = dict(embed_dim=8, depths=(2, 2), num_heads=2, window_size=4, upsampler_dim=8)


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
        assert declared_scale(read_metadata(bundled_path(entry))) == task.scale


@pytest.mark.parametrize("name,scale", [("upscale", 3), ("derain", 2), ("colorise", None)])
def test_exception_for_task_bad_scale_fails_before_any_weights_load(tmp_path, name, scale):
    # The weights do not exist: looking for them first would raise a WeightsError instead.
    with pytest.raises(tasks.UnknownTaskError):
        Restorer.for_task(name, scale=scale, weights=str(tmp_path / "missing.safetensors"), device="cpu")


@pytest.fixture
def x4_weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny-x4.safetensors"
    save_weights(create_model("glanet-lite", **TINY_GLANET, scale=4), path, task="sr4", model_name="glanet-lite")
    return path


def test_exception_for_task_weights_of_another_scale_refused_before_their_tensors_are_read(x4_weights, monkeypatch):
    import safetensors.torch

    reads = []
    monkeypatch.setattr(safetensors.torch, "load_file", lambda *a, **k: reads.append(a) or {})
    with pytest.raises(GlsgnError, match=r"upscales x4, but --scale 2 was asked"):
        Restorer.for_task("upscale", scale=2, weights=str(x4_weights), device="cpu")
    with pytest.raises(GlsgnError, match="derain needs a model trained for derain"):
        Restorer.for_task("derain", weights=str(x4_weights), device="cpu")
    assert reads == []


def test_for_task_loads_weights_of_the_task_scale(x4_weights):
    restorer = Restorer.for_task("upscale", scale=4, weights=str(x4_weights), device="cpu", precision="fp32")
    assert restorer.scale == 4 and restorer.metadata["task"] == "sr4"
    assert Restorer.for_task("sr4", weights=str(x4_weights), device="cpu").scale == 4


def test_exception_restorer_refuses_a_module_without_the_model_contract():
    with pytest.raises(TypeError, match="RestorationModel"):
        Restorer(torch.nn.Conv2d(3, 3, 3), device="cpu")
