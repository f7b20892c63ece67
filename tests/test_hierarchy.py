"""The 16/4/1 hierarchy primitives: exact, invertible, and in the documented patch order."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glsgn_core.ops import down2, regrid, resize, tile, untile, up2


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 4),
    grid=st.sampled_from([1, 2, 3, 4]),
    th=st.integers(1, 9),
    tw=st.integers(1, 9),
)
def test_roundtrip_tile_untile_any_size(n, c, grid, th, tw):
    x = torch.randn(n, c, grid * th, grid * tw)
    t = tile(x, grid)
    assert t.shape == (n * grid * grid, c, th, tw)
    assert torch.equal(untile(t, grid), x)


def test_tile_order_is_row_major_and_per_image():
    x = torch.arange(2 * 1 * 8 * 12, dtype=torch.float32).reshape(2, 1, 8, 12)
    t = tile(x, 4)
    for img in range(2):
        for r in range(4):
            for c in range(4):
                patch = x[img, :, r * 2 : (r + 1) * 2, c * 3 : (c + 1) * 3]
                assert torch.equal(t[img * 16 + r * 4 + c], patch)


@pytest.mark.parametrize("shape,grid", [((1, 3, 7, 8), 2), ((1, 3, 8, 6), 4)])
def test_exception_tile_indivisible(shape, grid):
    with pytest.raises(ValueError, match="divisible"):
        tile(torch.zeros(shape), grid)


def test_exception_untile_partial_grid():
    with pytest.raises(ValueError, match="grid"):
        untile(torch.zeros(5, 1, 2, 2), 2)


def test_regrid_same_grid_and_size_is_identity():
    x = torch.randn(16, 5, 6, 7)
    assert torch.equal(regrid(x, 4, 4, (6, 7)), x)


def test_regrid_matches_crop_of_resized_whole():
    """Patches of grid 4 regridded to grid 2 equal the 2x2 crops of the reassembled, resized map:
    a box average for a whole shrink factor, :func:`resize` otherwise."""
    whole = torch.randn(1, 2, 16, 16)
    box = torch.nn.functional.avg_pool2d(whole, 2)
    torch.testing.assert_close(regrid(tile(whole, 4), 4, 2, (4, 4)), tile(box, 2))
    torch.testing.assert_close(regrid(tile(whole, 4), 4, 2, (3, 3)), tile(resize(whole, (6, 6)), 2))
    torch.testing.assert_close(regrid(whole, 1, 4, (8, 8)), tile(resize(whole, (32, 32)), 4))


def test_regrid_box_shrink_across_patch_borders():
    """A shrink factor that does not divide the patch size averages across patch borders, like the whole map's."""
    whole = torch.randn(1, 3, 12, 12)  # grid 4: 3 x 3 patches; shrink by 2 straddles their borders
    torch.testing.assert_close(regrid(tile(whole, 4), 4, 2, (3, 3)), tile(torch.nn.functional.avg_pool2d(whole, 2), 2))


@pytest.mark.parametrize("grid", [1, 2, 4])
def test_tile_untile_keep_channels_last(grid):
    x = torch.randn(2, 5, 8 * grid, 4 * grid).contiguous(memory_format=torch.channels_last)
    t = tile(x, grid)
    assert t.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(t, tile(x.contiguous(), grid), rtol=0, atol=0)
    back = untile(t, grid)
    assert back.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(back, x)
    planes = untile(t, grid, contiguous=True)
    assert planes.is_contiguous() and torch.equal(planes, x)


def test_down2_is_bilinear_half_and_up2_doubles(dtype):
    x = torch.randn(1, 3, 8, 10, dtype=dtype)
    ref = torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    torch.testing.assert_close(down2(x), ref)
    assert up2(x).shape == (1, 3, 16, 20)
    # a constant image stays constant through both
    c = torch.full((1, 1, 8, 8), 0.3, dtype=dtype)
    torch.testing.assert_close(up2(down2(c)), c)
