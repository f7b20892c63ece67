"""Training and validation datasets: paired folders, or clean photos degraded on the fly.

Both datasets return ``{"input": Tensor, "target": Tensor, "name": str}`` with float32 CHW
tensors in [0, 1], and both are reproducible: item ``i`` in epoch ``e`` depends only on
``(seed, i, e)`` (call :meth:`set_epoch` at the start of each epoch), so a resumed or
distributed run sees exactly the data an uninterrupted single-process run would.

Crops are ``(width, height)``. A photo smaller than the crop is first scaled up (bicubic,
aspect ratio kept) until the crop fits: reflection padding would teach the models mirror seams
that never occur in real photos. Geometric augmentation is a horizontal flip, a vertical flip
and a 90-degree rotation, applied identically to input and target; the rotation is applied to
the whole image before cropping (so non-square crops keep their shape), and is skipped for
photos whose rotated size cannot hold the crop.

Super-resolution (``sr2``, ``sr4``): the crop is the high-resolution (target) crop; the input is
its bicubic downscale, made with PIL's BICUBIC filter (a = -0.5, antialiased: the filter widens
with the factor, like MATLAB's ``imresize`` that SR benchmarks use) on float samples and then
rounded to the source's bit depth, as a real low-resolution file would be. Paired SR folders hold
the low-resolution image in ``input/`` and the ``scale`` times larger one in ``target/``.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from glsgn_core import image_io
from glsgn_core.data._signal import loguniform
from glsgn_core import tasks
from glsgn_core.data.degrade import CLEAN_SHARE, DECOYS, select_families, synthesize
from glsgn_core.errors import GlsgnError
from glsgn_core.restorer import area_downscale

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


# --------------------------------------------------------------------------- image files


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted by relative path so the order is stable."""
    folder = Path(folder)
    found = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    return sorted(p for p in found if p.is_file())


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image to an RGB HWC array in its own sample type (uint8, uint16 or float32).

    Kept in integer form because decoded photos are cached and float32 would take 4x the memory.
    EXIF orientation is applied; alpha is dropped (training pairs are opaque).
    """
    pixels = image_io.read_image(path).pixels
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


to_float = image_io.to_float


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """Float HWC array -> contiguous float32 CHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32))


def fit_crop(arr: np.ndarray, crop: tuple[int, int] | None) -> np.ndarray:
    """Scale an image up (bicubic, aspect kept) so that a (width, height) crop fits in it."""
    if crop is None:
        return arr
    h, w = arr.shape[:2]
    factor = max(crop[0] / w, crop[1] / h)
    if factor <= 1.0:
        return arr
    size = (max(crop[0], round(w * factor)), max(crop[1], round(h * factor)))
    if arr.dtype == np.uint8:
        return np.asarray(Image.fromarray(arr).resize(size, Image.BICUBIC))
    planes = [Image.fromarray(arr[..., c].astype(np.float32)).resize(size, Image.BICUBIC) for c in range(3)]
    return np.stack([np.asarray(p) for p in planes], axis=-1).clip(0, 65535).round().astype(np.uint16)


def shrink_to(arr: np.ndarray, max_side: int | None) -> np.ndarray:
    """Average whole-factor blocks so the long side is at most ``max_side``, keeping the sample type.

    The same shrink :class:`~glsgn_core.restorer.Restorer` applies with ``guide=max_side``, so a
    model trained on shrunk photos sees at run time the scale it was trained at.
    """
    factor = -(-max(arr.shape[:2]) // max_side) if max_side else 1
    if factor <= 1:
        return arr
    small = area_downscale(arr, factor)
    if arr.dtype.kind == "f":
        return small
    top = np.iinfo(arr.dtype).max
    return (small * top + 0.5).astype(arr.dtype)


def pil_resize(arr: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Float HWC image -> (width, height) ``size`` with a PIL filter, per channel in float, clipped to [0, 1]."""
    planes = [
        Image.fromarray(np.ascontiguousarray(arr[..., c], dtype=np.float32)).resize(size, resample)
        for c in range(arr.shape[2])
    ]
    return np.stack([np.asarray(p) for p in planes], axis=-1).clip(0.0, 1.0)


def bicubic_resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float HWC image -> (width, height) ``size`` with PIL's bicubic filter, per channel in float.

    Downscaling is antialiased (PIL widens the kernel by the factor), so this is the classical
    "bicubic" of SR benchmarks both ways: making low-resolution inputs and the upscaling baseline.
    """
    return pil_resize(arr, size, Image.BICUBIC)


def bicubic_downscale(arr: np.ndarray, factor: int, levels: int = 255) -> np.ndarray:
    """A float HWC image (sides multiples of ``factor``) shrunk by ``factor``, rounded to ``levels`` steps
    like an 8-bit (or 16-bit) low-resolution file."""
    h, w = arr.shape[:2]
    small = bicubic_resize(arr, (w // factor, h // factor))
    return (np.rint(small * levels) / levels).astype(np.float32)


def mild_lr_degradation(small: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What cameras and the web add to a low-resolution image, each half of the time: a slight
    Gaussian blur (sigma up to 1 px), Gaussian noise (sigma up to 3/255), JPEG (quality 75 to 95).

    Always draws the same random numbers, so the data stream does not depend on the outcome.
    """
    from PIL import ImageFilter

    blur, noise, jpeg = rng.random(3) < 0.5
    sigma, level, quality = rng.uniform(0.3, 1.0), rng.uniform(0.0, 3 / 255), int(rng.integers(75, 96))
    field = rng.standard_normal(small.shape, dtype=np.float32)
    out = small + level * field if noise else small
    pil = Image.fromarray(np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8))
    if blur:
        pil = pil.filter(ImageFilter.GaussianBlur(sigma))
    if jpeg:
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=quality)
        pil = Image.open(buf).convert("RGB")
    return np.asarray(pil, dtype=np.float32) / 255


def _check_sr_crop(crop: tuple[int, int] | None, scale: int) -> None:
    if crop is not None and (crop[0] % scale or crop[1] % scale):
        fit = f"{crop[0] // scale * scale}x{crop[1] // scale * scale}"
        raise GlsgnError(f"crop {crop[0]}x{crop[1]} is not a multiple of the SR scale {scale}; use e.g. {fit}")


class _LRU:
    """A small least-recently-used cache of decoded images, bounded by bytes (per worker process)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()

    def get(self, key: Any, load: Any) -> np.ndarray:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        self._items[key] = value
        while len(self._items) > 1 and sum(v.nbytes for v in self._items.values()) > self.max_bytes:
            self._items.popitem(last=False)
        return value


# --------------------------------------------------------------------------- geometry


def _item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def crop_and_augment(
    arrays: Sequence[np.ndarray],
    crop: tuple[int, int] | None,
    augment: bool,
    rng: np.random.Generator,
    factors: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """The same random rotation, crop and flips for every array.

    Arrays are of one size, or, with ``factors``, array ``i`` is ``factors[i]`` times the size of
    the smallest (an SR pair: ``(1, scale)``); ``crop`` is then in pixels of the largest, and the
    crop positions are drawn on the smallest grid so the crops stay aligned. Always draws the same
    random numbers, so the stream stays aligned whatever the options.
    """
    factors = list(factors) if factors is not None else [1] * len(arrays)
    top = max(factors)
    rotate, flip_h, flip_v = rng.random(3) < 0.5
    u, v = rng.random(2)
    h, w = (n // factors[0] for n in arrays[0].shape[:2])  # the smallest grid
    if augment and rotate and (crop is None or (crop[0] <= h * top and crop[1] <= w * top)):
        arrays = [np.rot90(a) for a in arrays]
        h, w = w, h
    if crop is not None:
        cw, ch = crop[0] // top, crop[1] // top
        y, x = int(u * (h - ch + 1)), int(v * (w - cw + 1))
        arrays = [a[y * f : (y + ch) * f, x * f : (x + cw) * f] for a, f in zip(arrays, factors)]
    if augment and flip_h:
        arrays = [a[:, ::-1] for a in arrays]
    if augment and flip_v:
        arrays = [a[::-1] for a in arrays]
    return arrays


# --------------------------------------------------------------------------- datasets


class _Reproducible(Dataset):
    """Shared by both datasets: the epoch counter and the per-item generator."""

    seed: int
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random crops/augmentations/degradations of ``epoch`` (call once per epoch)."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return _item_rng(self.seed, self.epoch, index)


class PairedFolder(_Reproducible):
    """Pairs ``root/input/REL`` and ``root/target/REL`` matched by relative path (extension ignored).

    Args:
        root: folder holding ``input/`` and ``target/``.
        crop: random crop ``(width, height)`` of the target, or None for whole images (validation).
        augment: random flips and 90-degree rotations, identical for input and target.
        seed: base of every random choice; see :meth:`set_epoch`.
        length: number of items per epoch (cycles over the pairs); default one per pair.
        cache_mb: size of the decoded-image cache, per worker process.
        scale: 1, or 2 / 4 for super-resolution pairs (the target is ``scale`` times the input).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        crop: tuple[int, int] | None = (960, 540),
        augment: bool = True,
        seed: int = 0,
        length: int | None = None,
        cache_mb: int = 512,
        scale: int = 1,
    ) -> None:
        self.root = Path(root)
        self.crop, self.augment, self.seed, self.length, self.scale = crop, augment, seed, length, scale
        _check_sr_crop(crop, scale)
        self.pairs = match_pairs(self.root)
        self._cache = _LRU(cache_mb << 20)

    def __len__(self) -> int:
        return self.length if self.length is not None else len(self.pairs)

    def _load(self, path: Path, crop: tuple[int, int] | None) -> np.ndarray:
        return self._cache.get(path, lambda: fit_crop(read_image(path), crop))

    def __getitem__(self, index: int) -> dict[str, Any]:
        name, inp_path, tgt_path = self.pairs[index % len(self.pairs)]
        s = self.scale
        small = None if self.crop is None else (self.crop[0] // s, self.crop[1] // s)
        inp, tgt = self._load(inp_path, small), self._load(tgt_path, self.crop)
        if (inp.shape[0] * s, inp.shape[1] * s, inp.shape[2]) != tgt.shape:
            need = "aligned images of one size" if s == 1 else f"aligned images, the target exactly {s} times the input"
            raise GlsgnError(
                f"{inp_path}: size {inp.shape[1]}x{inp.shape[0]} differs from what its target {tgt_path} "
                f"({tgt.shape[1]}x{tgt.shape[0]}) needs; input and target must be {need}"
            )
        inp, tgt = crop_and_augment([inp, tgt], self.crop, self.augment, self.rng(index), factors=(1, s))
        return {"input": to_tensor(to_float(inp)), "target": to_tensor(to_float(tgt)), "name": name}


def match_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """``(name, input, target)`` for every image in ``root/input``, matched to ``root/target`` by relative path."""
    sides = {}
    for side in ("input", "target"):
        folder = root / side
        if not folder.is_dir():
            raise GlsgnError(f"{folder}: no such folder; a paired data set needs {root}/input and {root}/target")
        by_name: dict[str, Path] = {}
        for path in list_images(folder):
            name = path.relative_to(folder).with_suffix("").as_posix()
            if name in by_name:
                raise GlsgnError(f"{path}: same name as {by_name[name]}; keep one file per name in {folder}")
            by_name[name] = path
        sides[side] = by_name
    inputs, targets = sides["input"], sides["target"]
    for a, b in (("input", "target"), ("target", "input")):
        missing = sorted(set(sides[a]) - set(sides[b]))
        if missing:
            raise GlsgnError(
                f"{sides[a][missing[0]]}: no matching file in {root / b} ({len(missing)} unmatched in {root / a}); "
                "input and target files must have the same relative path"
            )
    if not inputs:
        raise GlsgnError(f"{root}/input: no images found (expected {', '.join(IMAGE_SUFFIXES)})")
    return [(name, inputs[name], targets[name]) for name in sorted(inputs)]


# Dereflect training data (see SyntheticPairs._reflection_source): the reflected picture's brightness
# gain, log-uniform in this range ((1, 1): as bright as the photo, like `glsgn synth` pairs). Pairs
# without any reflection come from the clean share of every task (``clean_share``).
REFLECTED_GAIN = (1.0, 1.0)
# The photo is taken at a random scale before cropping: a crop covers crop / s pixels of the photo,
# s log-uniform in this range (never so small that the region outgrows the photo). Degradation sizes
# follow the scaled photo. Restoration tasks only; SR keeps the photo's own pixels.
PHOTO_SCALE = (0.25, 1.0)


class SyntheticPairs(_Reproducible):
    """Clean photos degraded on the fly for ``task``: the target is the clean crop.

    Item ``i`` uses photo ``i % n_photos``; the photo is rotated, cropped and flipped first and
    degraded at crop size (cheap on big photos), with sizes in the degradation scaled to the
    whole photo so crops look like parts of a degraded photo. For a family that renders a second
    picture into the photo (``Family.needs_other``: a reflection) that picture is another photo of
    the folder (the same one, mirrored, if there is only one). For an upscaling task the input is
    the crop's bicubic downscale (see the module's notes).

    Args:
        clean_dir: folder of clean photos (searched recursively).
        task: a task name of :data:`glsgn_core.tasks.TASKS` (a restoration or an upscaling task).
        crop, augment, seed, length, cache_mb: as in :class:`PairedFolder`; ``length`` defaults
            to the number of photos.
        lr_degrade: SR only: add :func:`mild_lr_degradation` to the bicubic input.
        max_side: shrink each photo first (:func:`shrink_to`) so its long side is at most this: for
            models meant to run on shrunk photos (``Restorer(guide=...)``).
        families: degradation families to draw from (default: all of the task's); ``exclude``
            removes some (a leave-one-family-out run).
        clean_share: share of pairs with nothing to remove (input == target).
        decoy_share: share of pairs whose clean crop first gets the task's decoy (scene content that
            looks like the degradation, e.g. dark reeds for derain; see ``degrade.DECOYS``).
        camera: apply the camera stage (exposure, gamma, blur, noise, JPEG) to every pair.
        photo_scale: range of the random photo scale (see ``PHOTO_SCALE``); None keeps 1:1 pixels.
    """

    def __init__(
        self,
        clean_dir: str | Path,
        task: str,
        *,
        crop: tuple[int, int] | None = (960, 540),
        augment: bool = True,
        seed: int = 0,
        length: int | None = None,
        cache_mb: int = 512,
        lr_degrade: bool = False,
        max_side: int | None = None,
        families: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        clean_share: float = CLEAN_SHARE,
        decoy_share: float = 0.0,
        camera: bool = True,
        photo_scale: tuple[float, float] | None = PHOTO_SCALE,
    ) -> None:
        row = tasks.get(task)  # an unknown task is a GlsgnError (and a ValueError)
        self.scale = row.scale
        _check_sr_crop(crop, row.scale)
        self.clean_dir, self.task = Path(clean_dir), task
        self.crop, self.augment, self.seed, self.length = crop, augment, seed, length
        self.lr_degrade, self.max_side = lr_degrade, max_side
        if row.upscales and (families or exclude):
            raise GlsgnError(f"{task}: degradation families apply to {', '.join(tasks.RESTORATION)}")
        try:
            self.families = () if row.upscales else select_families(task, families, exclude=exclude)
        except ValueError as exc:
            raise GlsgnError(str(exc)) from None
        self._needs_other = any(f.needs_other for f in self.families)  # draw a second photo per item
        if not 0.0 <= clean_share <= 1.0:
            raise GlsgnError(f"clean share {clean_share}: must be between 0 and 1")
        if not 0.0 <= decoy_share <= 1.0:
            raise GlsgnError(f"decoy share {decoy_share}: must be between 0 and 1")
        if decoy_share and task not in DECOYS:
            raise GlsgnError(f"decoy share {decoy_share}: {task} has no decoys (only {', '.join(DECOYS)})")
        self.clean_share, self.decoy_share, self.camera = clean_share, decoy_share, camera
        self.photo_scale = photo_scale if not row.upscales and crop is not None else None
        self.photos = list_images(self.clean_dir)
        if not self.photos:
            raise GlsgnError(f"{self.clean_dir}: no images found (expected {', '.join(IMAGE_SUFFIXES)})")
        self._cache = _LRU(cache_mb << 20)

    def __len__(self) -> int:
        return self.length if self.length is not None else len(self.photos)

    def photo(self, k: int) -> np.ndarray:
        """Decoded photo ``k`` (integer HWC, shrunk to ``max_side``, scaled up if smaller than the crop), from the cache."""
        return self._cache.get(k, lambda: fit_crop(shrink_to(read_image(self.photos[k]), self.max_side), self.crop))

    def _reflection_source(self, k: int, size: tuple[int, int]) -> Any:
        """A pool for :func:`degrade`: a random region around ``size`` of another photo, as float, scaled
        by a gain (log-uniform in ``REFLECTED_GAIN``).
        """

        def draw(rng: np.random.Generator) -> np.ndarray:
            others = [j for j in range(len(self.photos)) if j != k] or [k]
            img = self.photo(others[int(rng.integers(len(others)))])
            h, w = min(img.shape[0], 2 * size[0]), min(img.shape[1], 2 * size[1])
            y, x = rng.integers(0, img.shape[0] - h + 1), rng.integers(0, img.shape[1] - w + 1)
            low, high = np.log(REFLECTED_GAIN)
            return to_float(img[y : y + h, x : x + w]) * np.float32(np.exp(rng.uniform(low, high)))

        return draw

    def __getitem__(self, index: int) -> dict[str, Any]:
        k = index % len(self.photos)
        rng = self.rng(index)
        full = self.photo(k)
        name = f"{self.photos[k].relative_to(self.clean_dir).with_suffix('').as_posix()}_{index:06d}"
        if self.scale > 1:
            (clean,) = crop_and_augment([full], self.crop, self.augment, rng)
            s = self.scale
            h, w = clean.shape[:2]
            clean = clean[: h // s * s, : w // s * s]  # whole photos (no crop) may not divide evenly
            levels = 65535 if clean.dtype == np.uint16 else 255
            clean = to_float(clean)
            degraded = bicubic_downscale(clean, s, levels)
            if self.lr_degrade:
                degraded = mild_lr_degradation(degraded, rng)
            return {"input": to_tensor(degraded), "target": to_tensor(clean), "name": name}
        scale = loguniform(rng, *self.photo_scale) if self.photo_scale else 1.0
        region = self.crop
        if self.crop is not None:
            scale = max(scale, self.crop[0] / min(full.shape[:2]), self.crop[1] / min(full.shape[:2]))
            region = (min(round(self.crop[0] / scale), max(full.shape[:2])), min(round(self.crop[1] / scale), max(full.shape[:2])))
        (clean,) = crop_and_augment([full], region, self.augment, rng)
        clean = to_float(clean)
        if self.crop is not None and clean.shape[:2] != (self.crop[1], self.crop[0]):
            clean = np.clip(bicubic_resize(clean, self.crop), 0.0, 1.0)  # bicubic overshoots: targets stay photos
        pool = self._reflection_source(k, clean.shape[:2]) if self._needs_other else None
        pair = synthesize(self.task, clean, rng, families=self.families, pool=pool, ref_size=round(min(full.shape[:2]) * scale),
                          clean_share=self.clean_share, decoy_share=self.decoy_share, use_camera=self.camera)
        return {"input": to_tensor(pair.input), "target": to_tensor(pair.target), "name": name}


def make_dataset(
    path: str | Path, task: str, *, lr_degrade: bool = False, max_side: int | None = None, **kwargs: Any
) -> PairedFolder | SyntheticPairs:
    """A folder with ``input/`` and ``target/`` -> :class:`PairedFolder` (``task`` gives only the
    SR scale; ``lr_degrade`` does not apply: pairs carry their own degradation; ``max_side`` is
    refused: pairs are used as written). Any other folder is taken as clean photos ->
    :class:`SyntheticPairs`.
    """
    path = Path(path)
    if not path.is_dir():
        raise GlsgnError(f"{path}: no such folder; give a folder of clean photos or one with input/ and target/")
    if (path / "input").is_dir() and (path / "target").is_dir():
        engine = {k: kwargs.pop(k) for k in ("families", "exclude", "clean_share", "decoy_share", "camera", "photo_scale") if k in kwargs}
        if engine.get("families") or engine.get("exclude"):
            raise GlsgnError(f"{path}: a paired folder is used as written; degradation families apply to folders of clean photos")
        if engine.get("decoy_share"):
            raise GlsgnError(f"{path}: a paired folder is used as written; decoys apply to folders of clean photos")
        if max_side:
            raise GlsgnError(f"{path}: a paired folder is used as written; --max-side applies to folders of clean photos")
        return PairedFolder(path, scale=tasks.get(task).scale, **kwargs)
    return SyntheticPairs(path, task, lr_degrade=lr_degrade, max_side=max_side, **kwargs)
