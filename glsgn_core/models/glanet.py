"""GLA-Net: Global-Local Awareness Network for image super-resolution (Pan et al.).

SwinIR's layout with one change per level of the network:

    GLA layer: LayerNorm -> [Inception module || (S)W-MSA] on the same channels -> concat -> 1x1 conv
               back to C, residual -> LayerNorm -> MLP, residual
    GLA block: GLA layers (W-MSA and SW-MSA alternating) -> 3x3 conv, residual
    body:      GLA blocks with dense connections: each block after the first takes a 1x1-conv fusion
               of the shallow features and every earlier block's output; a 3x3 conv ends the body
    output:    I_HR = PixelShuffle-upsampler(F_s + F_d) + bilinear(I_LR)

The paper's Inception module is convolution for high frequencies next to attention for low ones; it
names its branches but not their sizes. Ours: 3x3 max pool + 1x1 conv, and classical 1x1, 3x3 and 5x5
convolutions, each branch a quarter of the channels. Readings of the paper where it is terse are in
``../shared/GUIDE.md`` section 2 and in the comments below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glsgn_core import tasks
from glsgn_core.models._registry import register_model


@dataclass(frozen=True)
class GLANetConfig:
    # Defaults are glanet-full: SwinIR's classical-SR sizes, which the paper follows and does not restate.
    embed_dim: int = 180
    depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6)  # GLA layers per GLA block
    num_heads: int = 6
    window_size: int = 8
    mlp_ratio: float = 2.0
    scale: int = 2
    in_chans: int = 3
    upsampler_dim: int = 64  # channels of the PixelShuffle reconstructor
    inception_kernels: tuple[int, ...] = (1, 3, 5)  # classical conv branches beside the max-pool branch
    dense: bool = True  # False: each block takes the previous block's output (Table 2 "w/o Dense")
    inception: bool = True  # False: attention alone, i.e. SwinIR's layer (Table 2 "w/o Inception")

    def __post_init__(self) -> None:
        if self.scale not in tasks.scales("upscale"):
            raise ValueError(f"GLA-Net upscales by {' or '.join(map(str, tasks.scales('upscale')))}, not {self.scale}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.window_size < 2 or any(k % 2 == 0 for k in self.inception_kernels):
            raise ValueError("window_size must be >= 2 and inception_kernels odd (same-size convolutions)")


# --- windows --------------------------------------------------------------------------------------


def window_partition(x: Tensor, window: int) -> Tensor:
    """(B, H, W, C) -> (B * nW, window * window, C), windows row-major, all windows of one image contiguous."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: (B * nW, window * window, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h: int, w: int, window: int, device: torch.device | None = None) -> Tensor:
    """(nW, N, N) bool, True where query and key of one shifted window must not attend to each other.

    Rolling the image by -window/2 moves the first window/2 rows and columns to the far end, into the
    last row and column of windows, next to pixels that are not their neighbours. A token may attend
    only to tokens that wrapped around on the same axes as itself.
    """
    shift = window // 2

    def wrapped(n: int) -> Tensor:
        return (torch.arange(n, device=device) >= n - shift).long()

    region = (wrapped(h)[:, None] * 2 + wrapped(w)[None, :])[None, :, :, None]
    labels = window_partition(region, window).squeeze(-1)  # (nW, N)
    return labels[:, :, None] != labels[:, None, :]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping windows, optionally shifted by half a window,
    with a learned relative position bias. No output projection: the GLA layer's 1x1 fusion is it."""

    def __init__(self, dim: int, *, num_heads: int, window: int, shift: bool) -> None:
        super().__init__()
        self.num_heads, self.window = num_heads, window
        self.shift = window // 2 if shift else 0
        self.qk_scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        # Index into bias_table for every (query, key) pair of a window: their offset (dy, dx), row-major.
        yy, xx = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        dy = yy.flatten()[:, None] - yy.flatten()[None, :]
        dx = xx.flatten()[:, None] - xx.flatten()[None, :]
        self.register_buffer("bias_index", (dy + window - 1) * (2 * window - 1) + dx + window - 1, persistent=False)
        self.softmax = nn.Softmax(dim=-1)  # a module, so hooks can read the attention weights

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """(B, H, W, C) -> (B, H, W, C); H, W multiples of the window. ``mask`` from
        :func:`shifted_window_mask` for (H, W); only shifted layers use it."""
        b, h, w, c = x.shape
        s, n = self.shift, self.window**2
        if s:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        qkv = self.qkv(window_partition(x, self.window)).view(-1, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B * nW, heads, N, head_dim)
        attn = (q * self.qk_scale) @ k.transpose(-2, -1)
        attn = attn + self.bias_table[self.bias_index].permute(2, 0, 1)
        if s:
            attn = attn.view(b, -1, self.num_heads, n, n).masked_fill(mask[None, :, None], float("-inf"))
            attn = attn.view(-1, self.num_heads, n, n)
        out = (self.softmax(attn) @ v).transpose(1, 2).reshape(-1, n, c)
        out = window_reverse(out, self.window, h, w)
        return torch.roll(out, shifts=(s, s), dims=(1, 2)) if s else out


# --- GLA layer and block --------------------------------------------------------------------------


class Inception(nn.Module):
    """High-frequency branches on all C input channels (classical, not depthwise, convolutions, so
    channels are mixed); their outputs, concatenated, have C channels again."""

    def __init__(self, dim: int, kernels: tuple[int, ...]) -> None:
        super().__init__()
        n = len(kernels) + 1
        split = [dim // n + (i < dim % n) for i in range(n)]
        self.pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(dim, split[0], 1))
        self.convs = nn.ModuleList(nn.Conv2d(dim, c, k, padding=k // 2) for c, k in zip(split[1:], kernels))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.pool(x), *(conv(x) for conv in self.convs)], dim=1)


class GLALayer(nn.Module):
    def __init__(self, cfg: GLANetConfig, *, shift: bool) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads=cfg.num_heads, window=cfg.window_size, shift=shift)
        self.inception = Inception(dim, cfg.inception_kernels) if cfg.inception else None
        self.fuse = nn.Linear(2 * dim if cfg.inception else dim, dim)  # the 1x1 conv, on channels-last tokens
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """(B, H, W, C) channels-last -> same."""
        y = self.norm1(x)
        mixed = self.attn(y, mask)
        if self.inception is not None:  # both branches see the same full-channel features
            local = self.inception(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            mixed = torch.cat([local, mixed], dim=-1)
        x = x + self.fuse(mixed)
        return x + self.mlp(self.norm2(x))


class GLABlock(nn.Module):
    """GLA layers, alternately unshifted and shifted, then a 3x3 conv (a convolutional inductive bias
    between attention blocks), with a residual around the whole block."""

    def __init__(self, cfg: GLANetConfig, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(GLALayer(cfg, shift=i % 2 == 1) for i in range(depth))
        self.conv = nn.Conv2d(cfg.embed_dim, cfg.embed_dim, 3, padding=1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """(B, C, H, W) -> same."""
        h = x.permute(0, 2, 3, 1)
        for layer in self.layers:
            h = layer(h, mask)
        return x + self.conv(h.permute(0, 3, 1, 2))


# --- the network ----------------------------------------------------------------------------------


class GLANet(nn.Module):
    def __init__(self, **kwargs) -> None:
        super().__init__()
        # Lists arrive from JSON metadata and checkpoints; the config keeps tuples.
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        self.config = cfg = GLANetConfig(**kwargs)
        self.scale = cfg.scale
        dim = cfg.embed_dim
        self.shallow = nn.Conv2d(cfg.in_chans, dim, 3, padding=1)
        self.blocks = nn.ModuleList(GLABlock(cfg, d) for d in cfg.depths)
        # fusions[i] feeds block i + 1 from F_s and the outputs of blocks 0..i (the paper's five 1x1 convs).
        n_fusions = len(cfg.depths) - 1 if cfg.dense else 0
        self.fusions = nn.ModuleList(nn.Conv2d((i + 2) * dim, dim, 1) for i in range(n_fusions))
        self.body_end = nn.Conv2d(dim, dim, 3, padding=1)
        up = cfg.upsampler_dim
        layers = [nn.Conv2d(dim, up, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(cfg.scale // 2):  # sub-pixel convolution: one x2 stage for x2, two for x4
            layers += [nn.Conv2d(up, 4 * up, 3, padding=1), nn.PixelShuffle(2)]
        self.upsampler = nn.Sequential(*layers, nn.Conv2d(up, cfg.in_chans, 3, padding=1))
        with torch.no_grad():  # start near plain bilinear upscaling, but keep every gradient alive
            self.upsampler[-1].weight.mul_(0.1)
            self.upsampler[-1].bias.zero_()

    @property
    def pad_multiple(self) -> int:
        return self.config.window_size

    @property
    def min_size(self) -> int:
        return self.config.window_size

    def restore(self, x: Tensor, context: None = None) -> Tensor:
        """:class:`~glsgn_core.models.base.RestorationModel`: the upscaled image (no whole-image context)."""
        return self(x)

    def forward(self, x: Tensor) -> Tensor:
        """Upscale ``x`` (N, 3, H, W) in [0, 1], H and W >= the window size, to (N, 3, H * scale, W * scale).

        The model pads by reflection to a multiple of the window and crops its output itself. The
        bilinear image is taken from the unpadded input, so padding never changes it.
        """
        h, w = x.shape[-2:]
        m, s = self.pad_multiple, self.scale
        if h < m or w < m:
            raise ValueError(f"GLA-Net needs at least {m}x{m} pixels, got {w}x{h}")
        xp = F.pad(x, (0, -w % m, 0, -h % m), mode="reflect") if h % m or w % m else x
        residual = self._deep(xp)[..., : h * s, : w * s]
        return residual + F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)

    def _deep(self, x: Tensor) -> Tensor:
        """The learned part, Theta(F_s + F_d), on a window-aligned input."""
        mask = shifted_window_mask(x.shape[-2], x.shape[-1], self.config.window_size, x.device)
        f_s = h = self.shallow(x)
        earlier = [f_s]
        for i, block in enumerate(self.blocks):
            if i and self.fusions:
                h = self.fusions[i - 1](torch.cat(earlier, dim=1))
            h = block(h, mask)
            if self.fusions:
                earlier.append(h)
        return self.upsampler(f_s + self.body_end(h))


_FULL = GLANetConfig()


def _variant(base: GLANetConfig, **overrides) -> dict:
    return asdict(replace(base, **overrides))


@register_model
def glanet_full(**kwargs) -> GLANet:
    """The paper's GLA-Net: six blocks of six GLA layers, 180 channels (SwinIR's sizes); scale=2|4."""
    return GLANet(**{**_variant(_FULL), **kwargs})


@register_model
def glanet_lite(**kwargs) -> GLANet:
    """CPU-sized GLA-Net: the same mechanisms at under 1/8 of the full model's FLOPs; scale=2|4."""
    lite = _variant(_FULL, embed_dim=48, depths=(4, 4, 4, 4), upsampler_dim=32)
    return GLANet(**{**lite, **kwargs})


@register_model
def glanet_tiny(**kwargs) -> GLANet:
    """Trainable in CPU hours: 24 channels (3 heads of 8; 6 heads would leave 4 channels each), four
    blocks of two layers, about 1/150 of the full model's FLOPs; the bundled glanet-x2/x4 use it."""
    tiny = _variant(_FULL, embed_dim=24, num_heads=3, depths=(2, 2, 2, 2), upsampler_dim=24)
    return GLANet(**{**tiny, **kwargs})


@register_model
def glanet_no_dense(**kwargs) -> GLANet:
    """Table 2 ablation: the full model without dense connections between blocks."""
    return GLANet(**{**_variant(_FULL, dense=False), **kwargs})


@register_model
def glanet_no_inception(**kwargs) -> GLANet:
    """Table 2 ablation: the full model without the Inception module (attention alone)."""
    return GLANet(**{**_variant(_FULL, inception=False), **kwargs})
