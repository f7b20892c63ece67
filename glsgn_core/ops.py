"""Exact tensor operations for the 16/4/1 patch hierarchy.

``tile`` cuts every image of a batch into a ``grid x grid`` array of equal patches and stacks them
in the batch dimension (row-major, all patches of one image contiguous); ``untile`` is its exact
inverse. Neither copies more than one permute, and neither resamples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def tile(x: Tensor, grid: int) -> Tensor:
    """(N, C, H, W) -> (N * grid**2, C, H / grid, W / grid); H and W must be divisible by ``grid``."""
    n, c, h, w = x.shape
    if h % grid or w % grid:
        raise ValueError(f"cannot tile {h}x{w} into a {grid}x{grid} grid: size must be divisible by {grid}")
    th, tw = h // grid, w // grid
    x = x.reshape(n, c, grid, th, grid, tw).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n * grid * grid, c, th, tw)


def untile(x: Tensor, grid: int) -> Tensor:
    """Inverse of :func:`tile`: (N * grid**2, C, h, w) -> (N, C, h * grid, w * grid)."""
    b, c, th, tw = x.shape
    if b % (grid * grid):
        raise ValueError(f"batch of {b} patches is not a whole number of {grid}x{grid} grids")
    n = b // (grid * grid)
    x = x.reshape(n, grid, grid, c, th, tw).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, c, grid * th, grid * tw)


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize that antialiases when it shrinks; a no-op when the size already matches."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    if shrink and x.dtype in (torch.bfloat16, torch.float16):  # antialiased kernels are float32-only on CPU
        return F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True).to(x.dtype)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def down2(x: Tensor) -> Tensor:
    """Halve each side by 2x2 averaging (equal to bilinear sampling at scale 1/2)."""
    return F.avg_pool2d(x, 2)


def up2(x: Tensor) -> Tensor:
    """Double each side by bilinear interpolation (the paper's ``Up``)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def regrid(x: Tensor, from_grid: int, to_grid: int, tile_size: tuple[int, int]) -> Tensor:
    """Reassemble patches of one grid, resize the whole map, and re-split it into another grid.

    This is the "Cat" step of iterative decoding: a map produced on ``from_grid`` patches is turned
    into the matching crops, at ``tile_size`` each, for ``to_grid`` patches of the same image.
    """
    whole = untile(x, from_grid) if from_grid > 1 else x
    whole = resize(whole, (tile_size[0] * to_grid, tile_size[1] * to_grid))
    return tile(whole, to_grid) if to_grid > 1 else whole
