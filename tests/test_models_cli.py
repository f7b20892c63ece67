"""``glsgn models list/download/path/verify/export`` end to end, against a local HTTP server."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from glsgn_cli.app import app
from glsgn_core.models import create_model
from glsgn_core.weights import load_model, save_weights, sha256_file
from weights_fixtures import (  # noqa: F401  (fixtures)
    TINY,
    cache_files,
    entry_for,
    server,
    tiny_bytes,
    use_registry,
    weights_env,
)


def glsgn(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def two_models(weights_env, server, tiny_bytes, monkeypatch):
    """Two registry rows served by the local server through GLSGN_WEIGHTS_URL."""
    rows = [entry_for(f"glsgn-{task}", data, task=task) for task, data in tiny_bytes.items()]
    for row, data in zip(rows, tiny_bytes.values()):
        server.add(f"release/{row.file}", data)
    monkeypatch.setenv("GLSGN_WEIGHTS_URL", f"{server.base}/release")
    use_registry(monkeypatch, *rows)
    return rows


def test_smoke_list_json_shows_the_production_table():
    from glsgn_core.weights import registry

    result = glsgn("models", "list", "--json")
    assert result.exit_code == 0
    assert [r["name"] for r in json.loads(result.stdout)] == [e.name for e in registry.REGISTRY]


def test_list_reports_where_each_file_is(two_models, weights_env, tiny_bytes):
    derain, dehaze = two_models
    (weights_env["bundled"] / dehaze.file).write_bytes(tiny_bytes["dehaze"])
    rows = {r["name"]: r for r in json.loads(glsgn("models", "list", "--json").stdout)}
    assert rows["glsgn-derain"]["where"] == "remote" and rows["glsgn-dehaze"]["where"] == "bundled"
    assert rows["glsgn-derain"]["sha256"] == hashlib.sha256(tiny_bytes["derain"]).hexdigest()
    assert rows["glsgn-derain"]["file"] == derain.file and rows["glsgn-derain"]["size"] == len(tiny_bytes["derain"])

    table = glsgn("models", "list")
    assert table.exit_code == 0 and "glsgn-derain" in table.stdout and "bundled" in table.stdout


def test_download_all_prefetches_into_an_empty_home_verified(two_models, weights_env, server, tiny_bytes):
    result = glsgn("models", "download", "--all")
    assert result.exit_code == 0, result.stderr
    for row, data in zip(two_models, tiny_bytes.values()):
        cached = weights_env["cache"] / row.file
        assert sha256_file(cached) == hashlib.sha256(data).hexdigest()
        assert str(cached) in result.stdout
    assert cache_files(weights_env["home"]) == sorted(weights_env["cache"] / r.file for r in two_models)

    again = glsgn("models", "download", "glsgn-derain")  # verified copy kept: no new request
    assert again.exit_code == 0 and len(server.log) == 2
    forced = glsgn("models", "download", "--force", "glsgn-derain")
    assert forced.exit_code == 0 and len(server.log) == 3


def test_download_fetches_even_when_bundled(two_models, weights_env, tiny_bytes):
    derain = two_models[0]
    (weights_env["bundled"] / derain.file).write_bytes(tiny_bytes["derain"])
    assert glsgn("models", "download", "glsgn-derain").exit_code == 0
    assert (weights_env["cache"] / derain.file).read_bytes() == tiny_bytes["derain"]


def test_exception_download_reports_failures_and_continues(two_models, weights_env, server):
    server.files.pop(f"/release/{two_models[0].file}")  # glsgn-derain now answers 404
    result = glsgn("models", "download", "--all")
    assert result.exit_code == 1
    assert "404" in result.stderr and "glsgn-derain" in result.stderr
    assert cache_files(weights_env["home"]) == [weights_env["cache"] / two_models[1].file]


def test_exception_download_usage_errors(two_models):
    assert glsgn("models", "download").exit_code == 2
    unknown = glsgn("models", "download", "glsgn-nope")
    assert unknown.exit_code == 2 and "glsgn-nope" in unknown.stderr


def test_exception_unknown_name_is_a_usage_error_in_every_models_command(two_models):
    for command in ("path", "download", "verify"):
        result = glsgn("models", command, "glsgn-nope")
        assert (result.exit_code, result.stderr.count("\n")) == (2, 1) and "unknown pretrained model 'glsgn-nope'" in result.stderr


def test_path_fetches_then_prints_the_cached_file(two_models, weights_env, server):
    result = glsgn("models", "path", "glsgn-dehaze")
    assert result.exit_code == 0
    assert Path(result.stdout.strip()) == weights_env["cache"] / two_models[1].file
    assert glsgn("models", "path", "glsgn-dehaze").stdout == result.stdout and len(server.log) == 1


def test_exception_path_offline_names_the_fix(two_models, monkeypatch, server):
    monkeypatch.setenv("GLSGN_OFFLINE", "1")
    result = glsgn("models", "path", "glsgn-derain")
    assert result.exit_code == 1 and "glsgn models download glsgn-derain" in result.stderr
    assert server.log == []


def test_verify_detects_a_damaged_cached_file(two_models, weights_env):
    assert glsgn("models", "download", "--all").exit_code == 0
    ok = glsgn("models", "verify")
    assert ok.exit_code == 0 and ok.stdout.count("ok\t") == 2

    damaged = weights_env["cache"] / two_models[0].file
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0x01
    damaged.write_bytes(bytes(data))
    bad = glsgn("models", "verify")
    assert bad.exit_code == 1
    assert f"BAD\tglsgn-derain\tcached\t{damaged}" in bad.stdout and "glsgn-dehaze" in bad.stdout


def _checkpoint(seed: int, *, ema: bool, step: int) -> dict:
    torch.manual_seed(seed)
    model = create_model("glsgn-lite", **TINY)
    averaged = create_model("glsgn-lite", **TINY).state_dict() if ema else None
    return {
        "format": "glsgn-checkpoint/1", "arch": "glsgn", "model_name": "glsgn-lite",
        "config": dataclasses.asdict(model.config), "task": "derain", "step": step,
        "model": model.state_dict(), "ema": averaged, "recipe": {"lr": 2e-4, "crop": 64},
        "optimizer": {"state": {}, "param_groups": []},
    }


def _same_weights(model, state: dict) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_export_run_folder_prefers_best_and_ema(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    best, last = _checkpoint(1, ema=True, step=200), _checkpoint(2, ema=True, step=300)
    torch.save(best, run / "checkpoints" / "best.pt")
    torch.save(last, run / "checkpoints" / "last.pt")
    out = tmp_path / "glsgn-derain-v1.safetensors"

    result = glsgn("models", "export", str(run), "-o", str(out))

    assert result.exit_code == 0, result.stderr
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert sha in result.stdout and str(out.stat().st_size) in result.stdout
    model, meta = load_model(str(out))
    assert _same_weights(model, best["ema"]) and not _same_weights(model, best["model"])
    recipe = json.loads(meta["recipe"])
    assert recipe["step"] == 200 and recipe["weights"] == "ema" and recipe["lr"] == 2e-4
    assert meta["task"] == "derain" and meta["model_name"] == "glsgn-lite"


def test_export_checkpoint_file_without_ema_uses_model_weights(tmp_path):
    ckpt = _checkpoint(3, ema=False, step=7)
    torch.save(ckpt, tmp_path / "last.pt")
    out = tmp_path / "w.safetensors"
    assert glsgn("models", "export", str(tmp_path / "last.pt"), "-o", str(out)).exit_code == 0
    model, meta = load_model(str(out))
    assert _same_weights(model, ckpt["model"]) and json.loads(meta["recipe"])["weights"] == "model"


def test_export_half_stores_float16_and_loads_back_as_float32(tmp_path):
    ckpt = _checkpoint(5, ema=True, step=9)
    torch.save(ckpt, tmp_path / "last.pt")
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    assert glsgn("models", "export", str(tmp_path / "last.pt"), "-o", str(full)).exit_code == 0
    result = glsgn("models", "export", str(tmp_path / "last.pt"), "-o", str(half), "--half")
    assert result.exit_code == 0, result.stderr
    assert half.stat().st_size < 0.6 * full.stat().st_size
    umask = os.umask(0)
    os.umask(umask)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (full, half)} == {0o666 & ~umask}  # a file to share, as any other
    from safetensors import safe_open

    with safe_open(str(half), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    model, _ = load_model(str(half))
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32
        torch.testing.assert_close(v, ckpt["ema"][k], rtol=2**-11, atol=6e-8)  # float16's spacing, subnormals included
    x = torch.rand(1, 3, 64, 64)
    reference, _ = load_model(str(full))
    with torch.no_grad():
        assert (model.restore(x) - reference.restore(x)).abs().max() < 1e-3


def test_exception_export_half_refuses_weights_beyond_float16(tmp_path):
    ckpt = _checkpoint(6, ema=True, step=9)
    first = next(k for k, v in ckpt["ema"].items() if v.is_floating_point())
    ckpt["ema"][first].view(-1)[0] = 7e4  # float16 tops out at 65504
    torch.save(ckpt, tmp_path / "last.pt")
    result = glsgn("models", "export", str(tmp_path / "last.pt"), "-o", str(tmp_path / "half.safetensors"), "--half")
    assert result.exit_code == 1 and f"tensor {first} holds values beyond float16's range" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert glsgn("models", "export", str(tmp_path / "last.pt"), "-o", str(tmp_path / "full.safetensors")).exit_code == 0


def test_exception_export_keeps_an_existing_file_and_rejects_non_checkpoints(tmp_path):
    torch.save(_checkpoint(4, ema=False, step=1), tmp_path / "last.pt")
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"precious")
    refused = glsgn("models", "export", str(tmp_path / "last.pt"), "-o", str(out))
    assert refused.exit_code == 2 and "pass --overwrite" in refused.stderr and out.read_bytes() == b"precious"

    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    foreign = glsgn("models", "export", str(tmp_path / "other.pt"), "-o", str(tmp_path / "x.safetensors"))
    assert foreign.exit_code == 1 and "not a glsgn training checkpoint" in foreign.stderr
    (tmp_path / "text.png").write_text("hi")
    text = glsgn("models", "export", str(tmp_path / "text.png"), "-o", str(tmp_path / "z.safetensors"))
    assert text.exit_code == 1 and "text.png: not a torch checkpoint, or damaged" in text.stderr
    (tmp_path / "text.png").unlink()
    empty = glsgn("models", "export", str(tmp_path / "nothing-here"), "-o", str(tmp_path / "y.safetensors"))
    assert empty.exit_code == 1 and "not found" in empty.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "other.pt", "w.safetensors"]


def test_average_is_the_mean_of_the_weights_and_records_its_sources(tmp_path):
    from safetensors.torch import load_file

    from weights_fixtures import make_weights

    a, b, c = (tmp_path / f"{n}.safetensors" for n in "abc")
    shas = [make_weights(p, seed=i)[0] for i, p in enumerate((a, b, c))]
    out = tmp_path / "soup.safetensors"
    result = glsgn("models", "average", str(a), str(b), str(c), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"sha256 {sha256_file(out)}" in result.stdout
    tensors = [load_file(str(p)) for p in (a, b, c)]
    soup = load_file(str(out))
    assert soup.keys() == tensors[0].keys()
    for k, v in soup.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, sum(t[k].double() for t in tensors).float() / 3)
    model, meta = load_model(str(out))  # a weights file like any other
    assert meta["task"] == "derain" and meta["model_name"] == "glsgn-lite"
    parts = json.loads(meta["recipe"])["average_of"]
    assert [(p["file"], p["sha256"], p["recipe"]["seed"]) for p in parts] == [("a.safetensors", shas[0], 0), ("b.safetensors", shas[1], 1), ("c.safetensors", shas[2], 2)]


def test_average_reads_a_configuration_by_what_it_builds_not_how_it_is_spelled(tmp_path):
    """A file written by an older glsgn spells the same model with older fields (``lp`` instead of
    ``synthesis``): it averages with today's file; another width is still refused."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from weights_fixtures import TINY, make_weights

    new, old, other = (tmp_path / f"{n}.safetensors" for n in ("new", "old", "other"))
    make_weights(new, seed=0)
    make_weights(old, seed=1)
    with safe_open(str(old), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["config"])
    assert config.pop("synthesis") == "lp"
    save_file(tensors, str(old), metadata={**meta, "config": json.dumps({**config, "lp": True})})
    out = tmp_path / "soup.safetensors"
    result = glsgn("models", "average", str(new), str(old), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    torch.manual_seed(2)
    save_weights(create_model("glsgn-lite", **{**TINY, "widths": (4, 8, 8, 8, 16)}), other, task="derain", model_name="glsgn-lite")
    wider = glsgn("models", "average", str(new), str(other), "-o", str(tmp_path / "no.safetensors"))
    assert wider.exit_code == 1 and "other.safetensors is not the same model" in wider.stderr


def test_exception_average_refuses_other_models_one_file_and_an_existing_out(tmp_path):
    from weights_fixtures import make_weights

    make_weights(tmp_path / "rain.safetensors", task="derain")
    make_weights(tmp_path / "haze.safetensors", task="dehaze", seed=1)
    out = tmp_path / "soup.safetensors"
    mixed = glsgn("models", "average", str(tmp_path / "rain.safetensors"), str(tmp_path / "haze.safetensors"), "-o", str(out))
    assert mixed.exit_code == 1 and "haze.safetensors is not the same model" in mixed.stderr
    alone = glsgn("models", "average", str(tmp_path / "rain.safetensors"), "-o", str(out))
    assert alone.exit_code == 2 and "at least two" in alone.stderr  # a usage error
    gone = glsgn("models", "average", str(tmp_path / "rain.safetensors"), str(tmp_path / "nope.safetensors"), "-o", str(out))
    assert gone.exit_code == 1 and "nope.safetensors not found" in gone.stderr
    out.write_bytes(b"precious")
    kept = glsgn("models", "average", str(tmp_path / "rain.safetensors"), str(tmp_path / "rain.safetensors"), "-o", str(out))
    assert kept.exit_code == 2 and "pass --overwrite" in kept.stderr and out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["haze.safetensors", "rain.safetensors", "soup.safetensors"]
    assert all(len(r.stderr.strip().splitlines()) == 1 for r in (mixed, alone, gone, kept))


def test_exception_export_into_a_file_as_if_it_were_a_folder(tmp_path):
    torch.save(_checkpoint(4, ema=False, step=1), tmp_path / "last.pt")
    (tmp_path / "afile").write_text("keep")
    result = glsgn("models", "export", str(tmp_path / "last.pt"), "-o", str(tmp_path / "afile" / "x.safetensors"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # not an OSError traceback
    assert str(tmp_path / "afile") in result.stderr and result.stderr.count("\n") == 1
    assert (tmp_path / "afile").read_text() == "keep"
