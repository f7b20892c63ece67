"""Pretrained weights: the registry table, the file format, the cache and verified downloads.

Importing this package does not import torch; the functions that need it import it when called.
Bundled default models are package data in this folder (``*.safetensors``, about 10 MB at most each).
"""

from glsgn_core.weights.download import download, file_lock, sha256_file
from glsgn_core.weights.files import (
    CHECKPOINT_FORMAT,
    FORMAT,
    average_weights,
    declared_scale,
    export_checkpoint,
    find_checkpoint,
    load_model,
    load_weights_file,
    read_metadata,
    save_weights,
)
from glsgn_core.tasks import NAMES as TASKS  # task names, from the one task table
from glsgn_core.weights.registry import (
    REGISTRY,
    WeightsEntry,
    WeightsError,
    default_model,
    entries,
    get_entry,
)
from glsgn_core.weights.store import (
    BUNDLED_DIR,
    bundled_path,
    cache_dir,
    cached_path,
    fetch,
    offline,
    resolve,
    weights_dir,
    where,
)

__all__ = [
    "BUNDLED_DIR", "CHECKPOINT_FORMAT", "FORMAT", "REGISTRY", "TASKS", "WeightsEntry", "WeightsError",
    "bundled_path", "cache_dir", "cached_path", "declared_scale", "default_model", "download", "entries", "export_checkpoint",
    "fetch", "file_lock", "find_checkpoint", "get_entry", "load_model", "load_weights_file", "offline",
    "read_metadata", "resolve", "save_weights", "sha256_file", "weights_dir", "where",
]
