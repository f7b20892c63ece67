"""Datasets: pair matching, crops, aligned augmentation and (seed, index, epoch) reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from photo_fixtures import photo

from glsgn_core.data.datasets import PairedFolder, SyntheticPairs, make_dataset, read_image, shrink_to, to_float
from glsgn_core.errors import GlsgnError


# The degradation engine without what changes the target (camera stage, photo scale, clean pairs):
# for tests of geometry, where the target must stay an exact crop of the photo.
PLAIN = {"camera": False, "photo_scale": None, "clean_share": 0.0}


def _save(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def paired(tmp_path: Path) -> Path:
    """input = 255 - target, so any misalignment between the two shows up exactly."""
    root = tmp_path / "pairs"
    for k, rel in enumerate(["a.png", "b.png", "sub/c.png"]):
        target = photo(k, (80, 60))
        _save(target, root / "target" / rel)
        _save(255 - target, root / "input" / rel)
    return root


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    folder = tmp_path / "clean"
    _save(photo(0, (80, 60)), folder / "one.png")
    _save(photo(1, (72, 64)), folder / "two.png")
    _save(photo(2, (40, 30)), folder / "small.png")  # smaller than the crops below
    return folder


def test_smoke_paired_matching_by_relative_path(paired):
    ds = PairedFolder(paired, crop=None, augment=False)
    assert len(ds) == 3
    assert [ds[i]["name"] for i in range(3)] == ["a", "b", "sub/c"]
    item = ds[2]
    np.testing.assert_allclose(item["target"].numpy(), photo(2, (80, 60)).transpose(2, 0, 1) / 255.0, atol=1e-6)


def test_exception_paired_unmatched_file_named(paired):
    _save(photo(3, (80, 60)), paired / "input" / "extra.png")
    with pytest.raises(GlsgnError, match=r"extra\.png.*no matching file.*1 unmatched"):
        PairedFolder(paired)


def test_exception_paired_missing_folder(tmp_path):
    (tmp_path / "input").mkdir()
    with pytest.raises(GlsgnError, match="target: no such folder"):
        PairedFolder(tmp_path)


def test_exception_paired_size_mismatch(paired):
    _save(photo(0, (40, 30)), paired / "input" / "a.png")
    ds = PairedFolder(paired, crop=None)
    with pytest.raises(GlsgnError, match=r"a\.png: size 40x30 differs"):
        ds[0]


def test_exception_unreadable_image_named(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(GlsgnError, match=r"cannot read .*broken\.jpg.*corrupt"):
        read_image(bad)


def test_shapes_crops_and_ranges(paired, clean):
    for ds in (PairedFolder(paired, crop=(32, 24)), SyntheticPairs(clean, "derain", crop=(32, 24))):
        for i in range(len(ds)):
            item = ds[i]
            for key in ("input", "target"):
                t = item[key]
                assert t.shape == (3, 24, 32) and t.dtype == torch.float32
                assert 0.0 <= t.min() and t.max() <= 1.0


def test_shapes_photo_smaller_than_crop_is_scaled_up(clean):
    ds = SyntheticPairs(clean, "dehaze", crop=(64, 48), length=6)
    assert all(ds[i]["target"].shape == (3, 48, 64) for i in range(6))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_shrink_to_averages_whole_factor_blocks(dtype):
    img = photo(3, (96, 60)).astype(dtype) * (257 if dtype == np.uint16 else 1)
    small = shrink_to(img, 40)  # factor ceil(96 / 40) = 3
    assert small.dtype == dtype and small.shape == (20, 32, 3)
    blocks = img.astype(np.float64).reshape(20, 3, 32, 3, 3).mean(axis=(1, 3))
    assert np.abs(small - blocks).max() <= 0.5 + 1e-6  # rounded to the nearest level
    assert shrink_to(img, 96) is img and shrink_to(img, None) is img
    # a side that the factor does not divide is completed by repeating the edge
    assert shrink_to(img[:, :95], 40).shape == (20, 32, 3)


def test_max_side_shrinks_photos_before_cropping_and_degrading(clean):
    whole = SyntheticPairs(clean, "dereflect", crop=None, augment=False, max_side=40, seed=2, **PLAIN)
    target = whole[0]["target"].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(target, to_float(shrink_to(photo(0, (80, 60)), 40)), atol=1e-6)
    assert whole[0]["input"].shape == (3, 30, 40)
    cropped = SyntheticPairs(clean, "dereflect", crop=(32, 24), max_side=40, length=6)
    assert all(cropped[i]["target"].shape == (3, 24, 32) for i in range(6))


def test_augment_keeps_pairs_aligned(paired):
    ds = PairedFolder(paired, crop=(40, 24), augment=True, length=24)
    for epoch in range(2):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            torch.testing.assert_close(item["input"], 1.0 - item["target"], atol=1e-6, rtol=0)


def _dihedral_match(crop: np.ndarray, full: np.ndarray) -> int | None:
    """Which of the 8 flips/rotations of ``full`` contains ``crop`` exactly (index), or None."""
    from numpy.lib.stride_tricks import sliding_window_view

    variants = [np.rot90(f, k) for f in (full, full[:, ::-1]) for k in range(4)]
    for idx, v in enumerate(variants):
        if v.shape[0] < crop.shape[0] or v.shape[1] < crop.shape[1]:
            continue
        windows = sliding_window_view(v, crop.shape)
        if (np.abs(windows - crop).max(axis=(-3, -2, -1)) < 1e-6).any():
            return idx
    return None


def test_roundtrip_synthetic_target_is_an_augmented_crop_of_the_photo(clean):
    ds = SyntheticPairs(clean, "derain", crop=(24, 16), augment=True, length=30, **PLAIN)
    full = to_float(photo(0, (80, 60)))
    seen = set()
    for i in range(0, 30, 3):  # items of photo "one.png"
        target = ds[i]["target"].numpy().transpose(1, 2, 0)
        match = _dihedral_match(target, full)
        assert match is not None
        seen.add(match)
    assert len(seen) >= 3, "flips and rotations should occur"


def test_determinism_seed_index_epoch(clean):
    def item(seed: int, epoch: int, index: int) -> torch.Tensor:
        ds = SyntheticPairs(clean, "dereflect", crop=(32, 24), seed=seed)
        ds.set_epoch(epoch)
        return ds[index]["input"]

    a = item(0, 0, 1)
    torch.testing.assert_close(item(0, 0, 1), a, atol=0, rtol=0)
    assert (item(1, 0, 1) - a).abs().max() > 0.05
    assert (item(0, 1, 1) - a).abs().max() > 0.05
    # the order of access does not matter: only (seed, epoch, index)
    ds = SyntheticPairs(clean, "dereflect", crop=(32, 24))
    ds.set_epoch(3)
    _ = ds[0], ds[2]
    ds.set_epoch(0)
    torch.testing.assert_close(ds[1]["input"], a, atol=0, rtol=0)


def test_reflected_gain_sets_how_much_a_reflection_adds(clean, monkeypatch):
    import glsgn_core.data.datasets as datasets

    def added(gain: float) -> float:
        monkeypatch.setattr(datasets, "REFLECTED_GAIN", (gain, gain))
        ds = SyntheticPairs(clean, "dereflect", crop=(32, 24), length=12, seed=5)
        return float(np.mean([(it["input"] - it["target"]).mean() for it in (ds[i] for i in range(12))]))

    # Same draws otherwise: a reflected picture at a quarter of its brightness adds much less.
    assert added(0.25) < 0.5 * added(1.0)


@pytest.mark.parametrize("task", ["derain", "dehaze", "dereflect"])
def test_clean_share_gives_identity_pairs(clean, task):
    def identical(share: float) -> list[bool]:
        ds = SyntheticPairs(clean, task, crop=(32, 24), length=12, seed=4, clean_share=share)
        return [torch.equal(it["input"], it["target"]) for it in (ds[i] for i in range(12))]

    assert all(identical(1.0))  # the camera stage (JPEG included) keeps a clean pair an identity
    assert not any(identical(0.0))
    mixed = identical(0.5)
    assert 0 < sum(mixed) < 12


def test_decoy_share_draws_scene_lines_into_the_target(clean):
    """--decoy-share reaches the pairs: derain targets get dark lines that the clean crop lacks."""
    def targets(share: float) -> list[torch.Tensor]:
        ds = SyntheticPairs(clean, "derain", crop=(64, 48), length=6, seed=4, decoy_share=share, **PLAIN)
        return [ds[i]["target"] for i in range(6)]

    plain, lined = targets(0.0), targets(1.0)
    assert all((b <= a + 1e-6).all() and not torch.equal(a, b) for a, b in zip(plain, lined))
    # dehaze's decoy reaches its pairs too: out-of-focus regions, so the targets hold less fine detail
    def detail(share: float) -> float:
        ds = SyntheticPairs(clean, "dehaze", crop=(64, 48), length=6, seed=4, decoy_share=share, **PLAIN)
        return sum(float(torch.diff(ds[i]["target"], dim=-1).square().mean()) for i in range(6))

    assert detail(1.0) < 0.9 * detail(0.0)
    with pytest.raises(GlsgnError, match="decoy share 1.5"):
        SyntheticPairs(clean, "derain", crop=(32, 24), decoy_share=1.5)
    with pytest.raises(GlsgnError, match="dereflect has no decoys"):  # refused, not silently recorded and ignored
        SyntheticPairs(clean, "dereflect", crop=(32, 24), decoy_share=0.3)


def test_families_and_exclusions_select_what_is_drawn(clean, paired):
    with pytest.raises(GlsgnError, match="unknown derain family 'snow'"):
        SyntheticPairs(clean, "derain", crop=(32, 24), families=["snow"])
    with pytest.raises(GlsgnError, match="no derain family left"):
        SyntheticPairs(clean, "derain", crop=(32, 24), exclude=["streaks", "depth", "refraction"])
    with pytest.raises(GlsgnError, match="degradation families apply to folders of clean photos"):
        make_dataset(paired, "derain", families=["depth"])
    with pytest.raises(GlsgnError, match="decoys apply to folders of clean photos"):
        make_dataset(paired, "derain", decoy_share=0.3)
    ds = SyntheticPairs(clean, "dehaze", crop=(32, 24), exclude=["smooth"])
    assert [f.name for f in ds.families] == ["regions", "patchy"]


def test_photo_scale_shows_more_of_the_photo_in_one_crop(tmp_path):
    # A photo with a fine vertical grating: taken at a quarter of its scale, a crop holds ~4x the stripes.
    grating = np.zeros((256, 256, 3), np.uint8)
    grating[:, ::8] = 255
    (tmp_path / "g").mkdir()
    _save(grating, tmp_path / "g" / "grating.png")

    def period_energy(photo_scale):
        ds = SyntheticPairs(tmp_path / "g", "dehaze", crop=(64, 64), augment=False, length=1, clean_share=1.0,
                            camera=False, photo_scale=photo_scale)
        row = ds[0]["target"][0].mean(0).numpy()
        spectrum = np.abs(np.fft.rfft(row - row.mean()))
        return int(np.argmax(spectrum))

    assert period_energy(None) == 64 // 8  # 8 cycles across 64 pixels at 1:1
    assert period_energy((0.25, 0.25)) == 4 * 64 // 8


def test_roundtrip_dataloader_workers_match_direct_indexing(clean):
    ds = SyntheticPairs(clean, "derain", crop=(32, 24), length=4, seed=7)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    batches = list(loader)
    direct = torch.stack([ds[i]["input"] for i in range(4)])
    torch.testing.assert_close(torch.cat([b["input"] for b in batches]), direct, atol=0, rtol=0)


@pytest.mark.parametrize("task", ["derain", "dehaze", "dereflect"])
def test_smoke_synthetic_input_is_degraded(clean, task):
    ds = SyntheticPairs(clean, task, crop=(48, 32), length=3, clean_share=0.0)
    for i in range(3):
        item = ds[i]
        assert (item["input"] - item["target"]).abs().mean() > 0.005
        assert item["name"].endswith(f"_{i:06d}")


def test_make_dataset_picks_the_kind(paired, clean):
    assert isinstance(make_dataset(paired, "derain"), PairedFolder)
    assert isinstance(make_dataset(clean, "derain", crop=(32, 24)), SyntheticPairs)
    with pytest.raises(GlsgnError, match="no such folder"):
        make_dataset(clean / "missing", "derain")
    with pytest.raises(GlsgnError, match="--max-side applies to folders of clean photos"):
        make_dataset(paired, "derain", max_side=64)


def test_exception_synthetic_empty_folder_and_bad_task(tmp_path, clean):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlsgnError, match="no images found"):
        SyntheticPairs(tmp_path / "empty", "derain")
    with pytest.raises(ValueError, match="unknown task"):
        SyntheticPairs(clean, "desnow")


def test_read_image_16bit_greyscale(tmp_path):
    values = np.linspace(0, 65535, 30 * 20).reshape(20, 30).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    arr = read_image(tmp_path / "deep.png")
    assert arr.shape == (20, 30, 3) and arr.dtype == np.uint16
    np.testing.assert_allclose(to_float(arr)[..., 1], values / 65535.0, atol=1e-6)
