"""The weights file format: safetensors plus string metadata, and export from training checkpoints.

Metadata keys: ``format`` ("glsgn-weights/1"), ``arch`` ("glsgn" or "glanet"), ``model_name`` (a ``glsgn_core.models``
configuration), ``config`` (JSON of the model's config), ``task``, ``version``, ``recipe`` (JSON).
Loading reads tensors only (safetensors cannot run code) and rebuilds the model from the metadata.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from glsgn_core import tasks
from glsgn_core.files import atomic_write
from glsgn_core.weights.download import sha256_file
from glsgn_core.weights.registry import WeightsError

FORMAT = "glsgn-weights/1"
CHECKPOINT_FORMAT = "glsgn-checkpoint/1"
ARCHS = ("glsgn", "glanet")  # the architectures a weights file or checkpoint may describe
EXTERNAL = "external"  # a checkpoint's arch when train(model=...) trained a network glsgn cannot rebuild


def arch_of(model_name: str) -> str:
    """The architecture a registered configuration belongs to: ``glanet-lite`` -> ``glanet``."""
    family = model_name.split("-", 1)[0]
    return family if family in ARCHS else "glsgn"


def save_weights(
    model, path: str | os.PathLike, *, task: str, model_name: str, recipe: dict | None = None, half: bool = False
) -> str:
    """Write ``model``'s weights and the metadata that rebuilds it; atomic. Returns the file's sha256.

    ``half`` stores floating-point tensors as float16: half the bytes, and loading casts them back
    into the model's float32 parameters (a relative error of at most 2**-11 per weight, an absolute
    one of at most 2**-25 below 2**-14). A tensor whose finite values float16 cannot hold is refused."""
    import torch

    from safetensors.torch import save

    from glsgn_core import __version__
    from glsgn_core.models import list_models

    if task not in (*tasks.NAMES, ""):
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(tasks.NAMES)} or ''")
    if model_name not in list_models():
        raise ValueError(f"unknown model configuration {model_name!r}; known: {', '.join(list_models())}")
    metadata = {
        "format": FORMAT,
        "arch": arch_of(model_name),
        "model_name": model_name,
        "config": json.dumps(dataclasses.asdict(model.config)),
        "task": task,
        "version": __version__,
        "recipe": json.dumps(recipe or {}, sort_keys=True, default=str),
    }
    # Own, contiguous CPU copies: safetensors refuses views and shared storage.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    if half:
        for k, v in tensors.items():
            if v.is_floating_point():
                small = v.to(torch.float16)
                if not torch.isfinite(small[torch.isfinite(v)]).all():
                    raise WeightsError(f"{model_name}: tensor {k} holds values beyond float16's range (65504); export without --half")
                tensors[k] = small
    path = Path(path)
    # Bytes through our handle: save_file(f.name) would put a new 0600 file (its own temporary) in
    # place of ours, so the umask's permissions and our fsync would not apply to what is kept.
    atomic_write(path, lambda f: f.write(_canonical(save(tensors, metadata=metadata))), parents=True)
    return sha256_file(path)


def _canonical(blob: bytes) -> bytes:
    """A safetensors file with its JSON header's keys sorted.

    safetensors writes the header from a hash map, so the same tensors and metadata come out in
    another key order in each process, and the sha256 a registry row pins would change with every
    export. Reordering keys moves no tensor bytes (their offsets are relative to the data section).
    """
    n = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8 : 8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the data section stays 8-byte aligned, as safetensors writes it
    return len(header).to_bytes(8, "little") + header + blob[8 + n :]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a glsgn weights file; a ``WeightsError`` for anything else."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for truncated or foreign files
        reason = _first_line(exc)
        raise WeightsError(f"{path} is not a readable safetensors file ({reason}); re-download or re-export it") from None
    if meta.get("format") != FORMAT or meta.get("arch") not in ARCHS:
        raise WeightsError(
            f"{path} is not a glsgn weights file (format {meta.get('format')!r}); make one with `glsgn models export`"
        )
    return meta


def declared_scale(meta: dict[str, str]) -> int:
    """The size factor of the model a weights file's metadata describes (its config's ``scale``;
    restoration models have none: 1), read without building the model or reading any tensor."""
    try:
        return int(json.loads(meta["config"]).get("scale", 1))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise WeightsError(f"weights metadata without a readable config ({_first_line(exc)}); re-export the file") from None


def load_weights_file(path: str | os.PathLike, *, device="cpu"):
    """Rebuild the model a weights file describes and load its tensors strictly: ``(model.eval(), metadata)``."""
    from safetensors.torch import load_file

    from glsgn_core.models import create_model

    meta = read_metadata(path)
    try:
        config = json.loads(meta["config"])
        model = create_model(meta["model_name"], **config)
    except (KeyError, ValueError, TypeError) as exc:
        reason = _first_line(exc)
        raise WeightsError(f"{path} has metadata this glsgn cannot build a model from ({reason}); upgrade glsgn") from None
    _load_strict(model, load_file(str(path), device="cpu"), path)
    return model.to(device).eval(), meta


def load_model(spec: str, *, device="cpu", **download_options):
    """``(model.eval(), metadata)`` for a registry name, a local path or an http(s) URL."""
    from glsgn_core.weights.store import resolve

    return load_weights_file(resolve(spec, **download_options), device=device)


def find_checkpoint(src: str | os.PathLike) -> Path:
    """A checkpoint file, or a training run's ``checkpoints/best.pt`` (else ``last.pt``)."""
    src = Path(src)
    if src.is_file():
        return src
    if src.is_dir():
        for folder in (src / "checkpoints", src):
            for name in ("best.pt", "last.pt"):
                if (folder / name).is_file():
                    return folder / name
        raise WeightsError(f"no checkpoint in {src}: expected {src}/checkpoints/best.pt or last.pt")
    raise WeightsError(f"{src} not found; give a training run folder or a .pt checkpoint")


def export_checkpoint(src: str | os.PathLike, out: str | os.PathLike, *, half: bool = False) -> tuple[Path, str]:
    """Turn a training checkpoint into a weights file, preferring its EMA weights; ``(checkpoint, sha256)``.
    ``half``: store the weights as float16 (see :func:`save_weights`)."""
    import torch

    from glsgn_core.models import create_model

    ckpt_path = find_checkpoint(src)
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message for a file that is not a checkpoint can be a bare key ("KeyError: 101").
        raise WeightsError(f"cannot read checkpoint {ckpt_path}: not a torch checkpoint, or damaged "
                           f"({type(exc).__name__}: {_first_line(exc)})") from None
    if isinstance(ckpt, dict) and ckpt.get("arch") == EXTERNAL:
        raise WeightsError(f"{ckpt_path} holds a network trained with train(model=...), which glsgn cannot rebuild; "
                           "read its weights with glsgn_core.train.load_checkpoint(path)['ema']")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("arch") not in ARCHS:
        raise WeightsError(f"{ckpt_path} is not a glsgn training checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    use_ema = bool(ckpt.get("ema"))
    state = _plain_state_dict(ckpt["ema"] if use_ema else ckpt["model"])
    try:
        model = create_model(ckpt["model_name"], **ckpt["config"])
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"{ckpt_path} names a model this glsgn cannot build ({_first_line(exc)})") from None
    _load_strict(model, state, ckpt_path)
    recipe = {**(ckpt.get("recipe") or {}), "step": ckpt.get("step"), "weights": "ema" if use_ema else "model"}
    sha = save_weights(model, out, task=ckpt.get("task", ""), model_name=ckpt["model_name"], recipe=recipe, half=half)
    return ckpt_path, sha


def average_weights(sources, out: str | os.PathLike, *, half: bool = False) -> str:
    """Write the uniform average of weights files of one model (same configuration and task) to
    ``out``; atomic. Returns the new file's sha256.

    A "model soup": runs fine-tuned from one start usually stay in one basin, and their average
    often sits between them on every figure (docs/MODELS.md, glsgn-derain v6). The recipe metadata
    lists each source's file name, sha256 and recipe, so the file says how it was made."""
    import torch

    sources = [Path(p) for p in sources]
    if len(sources) < 2:
        raise WeightsError("averaging needs at least two weights files")
    key = ("arch", "model_name", "task")
    total, parts = None, []
    missing = [p for p in sources if not p.is_file()]
    if missing:
        raise WeightsError(f"{missing[0]} not found")
    first, first_config = read_metadata(sources[0]), None
    for path in sources:
        model, meta = load_weights_file(path)
        # The built model's configuration, not the stored text: files written by older versions
        # spell the same model with fewer (defaulted) or older fields.
        first_config = model.config if first_config is None else first_config
        if tuple(meta.get(k) for k in key) != tuple(first.get(k) for k in key) or model.config != first_config:
            raise WeightsError(f"{path} is not the same model as {sources[0]} ({meta.get('model_name')} for "
                               f"{meta.get('task') or 'no task'}, or another configuration): only one model's weights can be averaged")
        state = {k: v.double() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        total = state if total is None else {k: v + state[k] if v.is_floating_point() else v for k, v in total.items()}
        parts.append({"file": path.name, "sha256": sha256_file(path), "recipe": json.loads(meta.get("recipe") or "{}")})
    with torch.no_grad():
        model.load_state_dict({k: v / len(sources) if v.is_floating_point() else v for k, v in total.items()})
    return save_weights(model, out, task=first["task"], model_name=first["model_name"], recipe={"average_of": parts}, half=half)


def _plain_state_dict(state: dict) -> dict:
    """Drop what an averaging wrapper adds (``module.`` prefixes, ``n_averaged``)."""
    state = {k: v for k, v in state.items() if k != "n_averaged"}
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _load_strict(model, state: dict, source) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{source}: tensors do not match the model they describe ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
