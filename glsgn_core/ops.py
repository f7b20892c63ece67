"""Exact tensor operations for the 16/4/1 patch hierarchy.

``tile`` cuts every image of a batch into a ``grid x grid`` array of equal patches and stacks them
in the batch dimension (row-major, all patches of one image contiguous); ``untile`` is its exact
inverse. Neither copies more than one permute, and neither resamples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _channels_last(x: Tensor) -> bool:
    return x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def tile(x: Tensor, grid: int) -> Tensor:
    """(N, C, H, W) -> (N * grid**2, C, H / grid, W / grid); H and W must be divisible by ``grid``.

    One copy, in the input's memory layout (channels-last stays channels-last)."""
    n, c, h, w = x.shape
    if h % grid or w % grid:
        raise ValueError(f"cannot tile {h}x{w} into a {grid}x{grid} grid: size must be divisible by {grid}")
    th, tw = h // grid, w // grid
    if _channels_last(x):
        t = x.permute(0, 2, 3, 1).reshape(n, grid, th, grid, tw, c).permute(0, 1, 3, 2, 4, 5)
        return t.reshape(n * grid * grid, th, tw, c).permute(0, 3, 1, 2)
    x = x.reshape(n, c, grid, th, grid, tw).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n * grid * grid, c, th, tw)


def untile(x: Tensor, grid: int, *, contiguous: bool = False) -> Tensor:
    """Inverse of :func:`tile`: (N * grid**2, C, h, w) -> (N, C, h * grid, w * grid), in the input's
    layout, or in the contiguous (NCHW) layout when ``contiguous``; one copy either way."""
    b, c, th, tw = x.shape
    if b % (grid * grid):
        raise ValueError(f"batch of {b} patches is not a whole number of {grid}x{grid} grids")
    n = b // (grid * grid)
    if _channels_last(x):
        t = x.permute(0, 2, 3, 1).reshape(n, grid, grid, th, tw, c)
        if contiguous:
            return t.permute(0, 5, 1, 3, 2, 4).reshape(n, c, grid * th, grid * tw).contiguous()  # grid 1: a view until here
        return t.permute(0, 1, 3, 2, 4, 5).reshape(n, grid * th, grid * tw, c).permute(0, 3, 1, 2)
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


def regrid(x: Tensor, from_grid: int, to_grid: int, tile_size: tuple[int, int], *, box: bool = True) -> Tensor:
    """Reassemble patches of one grid, resize the whole map, and re-split it into another grid.

    This is the "Cat" step of iterative decoding: a map produced on ``from_grid`` patches is turned
    into the matching crops, at ``tile_size`` each, for ``to_grid`` patches of the same image.
    A shrink by the same whole factor k in both directions is a box average (each output pixel the
    mean of the k x k input pixels it covers), done on the patches before they are reassembled when k divides their size,
    so no full-size map is copied; any other change of size (and every change, with ``box=False``)
    is :func:`resize` of the whole map.
    """
    th, tw = x.shape[-2:]
    if from_grid == to_grid and (th, tw) == tuple(tile_size):
        return x
    out_h, out_w = tile_size[0] * to_grid, tile_size[1] * to_grid
    kh, kw = divmod(th * from_grid, out_h), divmod(tw * from_grid, out_w)
    k = kh[0] if box and kh[1] == kw[1] == 0 and kh[0] == kw[0] > 1 else 0
    on_patches = k and th % k == 0 and tw % k == 0
    if on_patches:
        x = F.avg_pool2d(x, k)
    whole = untile(x, from_grid) if from_grid > 1 else x
    if k and not on_patches:
        whole = F.avg_pool2d(whole, k)
    elif not k:
        whole = resize(whole, (out_h, out_w))
    return tile(whole, to_grid) if to_grid > 1 else whole
