"""GLSGN: Global-Local Stepwise Generative Network (Feng et al.), section III of the paper.

Four encoder-decoder pathways of one structure with independent parameters run in the order
Sg, S1, S2, S3 on tensors of a single size (a quarter of the input per side):

    Sg: the whole image at 1/4         (1 patch)
    S1: the full-resolution image      (4 x 4 = 16 patches)
    S2: the image at 1/2               (2 x 2 = 4 patches)
    S3: the image at 1/4               (1 patch)

They are tied together by iterative decoding (the decoded features of Sg and of the previous local
pathway join each pathway's decoder at the resolution of the encoder level they meet, Eq. 1),
perceptual attention consistency (PAC, Eq. 2-3), patch normalisation in the local decoders (PN,
Eq. 4-5) and a Laplacian-pyramid synthesis with learned masks (LP, Eq. 6-7). Readings of the paper
where it is terse are in ``../shared/GUIDE.md`` and in the comments below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glsgn_core.models._registry import register_model
from glsgn_core.models.base import ImageView
from glsgn_core.ops import down2, regrid, tile, untile, up2
from glsgn_core.windows import Window

LOCAL_GRIDS = (4, 2, 1)  # patches per side for S1, S2, S3
MIN_SIZE = 64


SYNTHESES = ("lp", "lp-nomask", "s1")
CUES = ("finest", "bottleneck")


@dataclass(frozen=True)
class GLSGNConfig:
    # Defaults are glsgn-full, sized to Table I: 15.68 M parameters, 0.625 TFLOPs (2 x MACs) at 3840x2160.
    widths: tuple[int, ...] = (12, 24, 48, 96, 288)  # channels per encoder level (each level halves H, W)
    enc_blocks: tuple[int, ...] = (0, 0, 0, 1)  # residual blocks per encoder level, before each downsampling
    dec_blocks: tuple[int, ...] = (1, 0, 1, 1)  # residual blocks per decoder level, after each upsampling
    mid_blocks: int = 2  # residual blocks at the bottleneck
    in_chans: int = 3
    # Each pathway's tile enters as stem x stem pixel blocks (pixel unshuffle): the first level then runs
    # at 1/stem of the tile's resolution with widths[0] channels instead of a few channels at full size.
    stem: int = 1
    # Iterative decoding: where the decoded features of the global pathway (F_g) and of the previous
    # local pathway (F_{i-1}) join a local pathway, each resized to the tile's region at that level's
    # resolution. "finest": at the first encoder level (the tile's resolution; 1/stem of it with a
    # stem) and at the bottleneck. "bottleneck": there only (the weights of sessions 1-8).
    cues: str = "finest"
    local: bool = True  # False: the global pathway alone (Table III "Global-Only")
    pn: bool = True  # patch normalisation in the local decoders
    pac: bool = True  # False: each pathway uses only its own (plain) spatial attention
    # How B_out is made: "lp" the pyramid with learned masks (Eq. 6-7); "lp-nomask" the pyramid with
    # every mask fixed at 1; "s1" no pyramid at all, B_out is S1's restored image.
    synthesis: str = "lp"
    high_scales: int = 3  # high-frequency bands the pyramid keeps (Table V: 1 = h0, 2 = h0 + h1, 3 = all)
    ssim_loss: float = 0.0  # training objective: weight of 1 - SSIM(B_out, B) (Table V's GLSGN_SSIM)
    sigma1: float = 0.5  # PAC weight of the previous local pathway's attention
    sigma2: float = 0.5  # PAC weight of the global pathway's attention
    pn_eps: float = 1e-2
    pn_max_gain: float = 4.0

    def __post_init__(self) -> None:
        levels = len(self.widths)
        if len(self.enc_blocks) != levels - 1 or len(self.dec_blocks) != levels - 1:
            raise ValueError("enc_blocks and dec_blocks need one entry per level above the bottleneck")
        if not (0.0 <= self.sigma1 <= 1.0 and 0.0 <= self.sigma2 <= 1.0):
            raise ValueError("sigma1 and sigma2 must lie in [0, 1]")
        if self.stem not in (1, 2, 4):
            raise ValueError(f"stem must be 1, 2 or 4, got {self.stem}")
        if self.cues not in CUES:
            raise ValueError(f"cues must be one of {', '.join(CUES)}, got {self.cues!r}")
        if self.stem * 2 ** (levels - 1) > 16:  # the padding to the model's multiple must stay under the 64-px minimum
            raise ValueError(f"stem x 2**(levels - 1) must be at most 16, got {self.stem} x {2 ** (levels - 1)}")
        if self.synthesis not in SYNTHESES:
            raise ValueError(f"synthesis must be one of {', '.join(SYNTHESES)}, got {self.synthesis!r}")
        if self.high_scales not in (1, 2, 3):
            raise ValueError(f"high_scales must be 1, 2 or 3, got {self.high_scales}")


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A config written before iterative decoding joined at full resolution (weights of sessions
    1-8: they name ``lp``) as today's fields, so those weights load and run as they were trained."""
    if "lp" not in config:
        return config
    config = dict(config)
    config.setdefault("synthesis", "lp" if config.pop("lp") else "lp-nomask")
    config.setdefault("cues", "bottleneck")
    return config


class GLSGNOutput(NamedTuple):
    image: Tensor  # B_out at the input's size
    pathways: tuple[Tensor, ...]  # (B_g, B_1, B_2, B_3), each at its own scale; (B_g,) when global-only


class PathwayOutput(NamedTuple):
    image: Tensor  # restored patches B_i
    features: Tensor  # decoded features F_i, passed on by iterative decoding
    attention: Tensor  # f_att^i(E_i), this pathway's own attention map
    mask: Tensor | None  # LP mask M_i
    decoded_attention: Tensor | None  # f_att^g(F_g), global pathway only


class GlobalContext(NamedTuple):
    """What a window of a larger image takes from the whole image's global pass, at a quarter of
    the window's padded size: the cues the local pathways receive (iterative decoding and PAC)."""

    features: Tensor  # F_g
    decoded_attention: Tensor | None  # f_att^g(F_g)


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def patch_gain(x_in: Tensor, x_out: Tensor, grid: int, eps: float, max_gain: float) -> Tensor:
    """Eq. 4: per patch and channel, the neighbours' mean restoring intensity over the patch's own.

    Restoring intensity r = mean over pixels of |out / in|. Patches of one image sit contiguously in
    the batch (see ``ops.tile``); neighbours are the existing 4-neighbours in the grid. Returns a
    (B, C, 1, 1) factor, bounded to [1 / max_gain, max_gain] so a near-zero input cannot blow it up.
    """
    b, c = x_out.shape[:2]
    if grid == 1:
        return x_out.new_ones(b, c, 1, 1)
    # In place on two temporaries: at full resolution the passes over memory are the cost, not the arithmetic.
    r = x_out.float().abs().div_(x_in.float().abs().add_(eps)).mean(dim=(2, 3))
    r = r.reshape(b // grid**2, grid, grid, c).permute(0, 3, 1, 2)  # (N, C, grid, grid)

    def neighbour_sum(t: Tensor) -> Tensor:
        p = F.pad(t, (1, 1, 1, 1))
        return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]

    count = neighbour_sum(torch.ones_like(r[:1, :1]))
    gain = (neighbour_sum(r) / count / (r + eps)).clamp(1.0 / max_gain, max_gain)
    return gain.permute(0, 2, 3, 1).reshape(b, c, 1, 1).to(x_out.dtype)


class PatchNorm(nn.Module):
    """Eq. 5: out' = A * out + B(out), B a learned 1x1 convolution (zero at start, so PN starts as A * out)."""

    def __init__(self, dim: int, *, eps: float, max_gain: float) -> None:
        super().__init__()
        self.eps, self.max_gain = eps, max_gain
        self.bias = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.bias.weight)
        nn.init.zeros_(self.bias.bias)

    def forward(self, x_in: Tensor, x_out: Tensor, grid: int) -> Tensor:
        return self.bias(x_out).addcmul_(patch_gain(x_in, x_out, grid, self.eps, self.max_gain), x_out)  # one pass, in place


class ResBlock(nn.Module):
    def __init__(self, dim: int, pn: PatchNorm | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(dim, dim), nn.ReLU(inplace=True), conv3x3(dim, dim))
        self.pn = pn

    def forward(self, x: Tensor, grid: int = 1) -> Tensor:
        y = self.body(x).add_(x)  # in place: a fresh full-size sum would cost an allocation per block
        return y if self.pn is None else self.pn(x, y, grid)


class SpatialAttention(nn.Module):
    """A one-channel map in [0, 1] from a feature map (paper Fig. 2b)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = max(dim // 4, 8)
        self.net = nn.Sequential(conv3x3(dim, hidden), nn.ReLU(inplace=True), conv3x3(hidden, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def unshuffled(conv: nn.Module, stem: int) -> nn.Module:
    """``conv`` on stem x stem pixel blocks, or ``conv`` itself when the stem is 1."""
    return conv if stem == 1 else nn.Sequential(nn.PixelUnshuffle(stem), conv)


def shuffled(conv: nn.Module, stem: int) -> nn.Module:
    """``conv``'s stem**2-fold channels laid out as stem x stem pixel blocks, or ``conv`` itself."""
    return conv if stem == 1 else nn.Sequential(conv, nn.PixelShuffle(stem))


class Pathway(nn.Module):
    """One encoder-decoder. Decoded features of other pathways (iterative decoding) join the decoder
    at the encoder levels ``joins`` names (level -> cue channels there) and, ``bottleneck_cues``
    channels of them, at the bottleneck."""

    def __init__(self, cfg: GLSGNConfig, *, joins: dict[int, int], bottleneck_cues: int, pn: bool, mask_head: bool, global_attention: bool):
        super().__init__()
        w, s, c = cfg.widths, cfg.stem, cfg.in_chans

        def block(dim: int, with_pn: bool = False) -> ResBlock:
            return ResBlock(dim, PatchNorm(dim, eps=cfg.pn_eps, max_gain=cfg.pn_max_gain) if with_pn else None)

        self.intro = unshuffled(conv3x3(c * s * s, w[0]), s)
        self.encoder = nn.ModuleList(nn.ModuleList(block(d) for _ in range(n)) for d, n in zip(w, cfg.enc_blocks))
        self.down = nn.ModuleList(nn.Conv2d(a, b, 2, stride=2) for a, b in zip(w[:-1], w[1:]))
        self.attention = SpatialAttention(w[-1])
        self.bottleneck_cues = bool(bottleneck_cues)
        self.fuse = nn.Conv2d(w[-1] + bottleneck_cues, w[-1], 1)
        # Above the bottleneck, the cues are concatenated with the encoder level's features and mixed by
        # a 1x1 convolution whose block on the pathway's own channels is the identity: the join adds the
        # cues to the skip. Zero at start, so a pathway starts as itself and learns what to take.
        self.joins = nn.ModuleDict({str(lv): nn.Conv2d(n, w[lv], 1) for lv, n in sorted(joins.items())})
        self.cue_width = w[0]  # every cue is a pathway's decoded features, widths[0] channels
        for join in self.joins.values():
            nn.init.zeros_(join.weight)
            nn.init.zeros_(join.bias)
        self.middle = nn.ModuleList(block(w[-1]) for _ in range(cfg.mid_blocks))
        self.up = nn.ModuleList(nn.Sequential(nn.Conv2d(b, 4 * a, 1), nn.PixelShuffle(2)) for a, b in zip(w[:-1], w[1:]))
        self.decoder = nn.ModuleList(nn.ModuleList(block(d, pn) for _ in range(n)) for d, n in zip(w, cfg.dec_blocks))
        self.out = shuffled(conv3x3(w[0], c * s * s), s)
        out = self.out if s == 1 else self.out[0]
        with torch.no_grad():  # start near the identity mapping B_i = I_i, but keep every gradient alive
            out.weight.mul_(0.1)
            out.bias.zero_()
        self.mask = shuffled(conv3x3(w[0], c * s * s), s) if mask_head else None
        if self.mask is not None:
            nn.init.constant_((self.mask if s == 1 else self.mask[0]).bias, 2.0)  # masks start near 1: the plain pyramid
        # f_att^g(F_g) of Eq. 2: the global pathway's attention computed on its *decoded* features.
        self.decoded_attention = SpatialAttention(w[0]) if global_attention else None

    def forward(self, x: Tensor, *, grid: int, cues: Callable[..., list[Tensor]], attention: list[tuple[float, Tensor]]) -> PathwayOutput:
        """``cues(level, project=None)``: the other pathways' decoded features at encoder level ``level``'s
        size, each passed through ``project(k, features)`` (k: the source's index) when given."""
        last = len(self.down)
        h = self.intro(x)
        skips = []
        for blocks, down in zip(self.encoder, self.down):
            for blk in blocks:
                h = blk(h)
            skips.append(h)
            h = down(h)
        own = self.attention(h)
        # PAC (Eq. 2-3): average with the other pathways' maps, normalised by 1 + sum of weights.
        mixed = own + sum(wt * m for wt, m in attention) if attention else own
        h = h * (mixed / (1.0 + sum(wt for wt, _ in attention)))
        h = self.fuse(torch.cat([h, *cues(last)], dim=1)) if self.bottleneck_cues else self.fuse(h)
        for blk in self.middle:
            h = blk(h)
        for level in reversed(range(last)):
            h = self.up[level](h).add_(skips[level])
            if str(level) in self.joins:
                join, c = self.joins[str(level)], self.cue_width

                def project(k: int, f: Tensor, join=join, c=c) -> Tensor:  # the join's block on source k
                    return F.conv2d(f, join.weight[:, k * c : (k + 1) * c], join.bias if k == 0 else None)

                for part in cues(level, project):  # the 1x1 join of the concatenation is the sum of its blocks
                    h = h.add_(part)
            for blk in self.decoder[level]:
                h = blk(h, grid)
        return PathwayOutput(
            image=x + self.out(h),
            features=h,
            attention=own,
            mask=torch.sigmoid(self.mask(h)) if self.mask is not None else None,
            decoded_attention=self.decoded_attention(h) if self.decoded_attention is not None else None,
        )


class GLSGN(nn.Module):
    def __init__(self, **kwargs) -> None:
        super().__init__()
        # Lists arrive from JSON metadata and checkpoints; the config keeps tuples.
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in upgrade_config(kwargs).items()}
        self.config = cfg = GLSGNConfig(**kwargs)
        w0, masked = cfg.widths[0], cfg.synthesis == "lp"
        # Pathways whose high band B_out uses: S1 (h1), S2 (h2), Sg (h3), finest first.
        banded = (1, 2)[: cfg.high_scales] if cfg.synthesis != "s1" else ()
        self.sg = Pathway(cfg, joins={}, bottleneck_cues=0, pn=False, mask_head=masked and cfg.high_scales == 3,
                          global_attention=cfg.local and cfg.pac)  # fmt: skip
        paths = []
        for i in range(len(LOCAL_GRIDS) if cfg.local else 0):
            cue_chans = w0 * (1 if i == 0 else 2)  # F_g, and F_{i-1} after S1
            joins = {0: cue_chans} if cfg.cues == "finest" else {}
            paths.append(Pathway(cfg, joins=joins, bottleneck_cues=cue_chans, pn=cfg.pn, mask_head=masked and i + 1 in banded,
                                 global_attention=False))  # fmt: skip
        self.locals = nn.ModuleList(paths)

    min_size = MIN_SIZE  # smallest input side the model accepts
    scale = 1  # restores at the input's size

    @property
    def pad_multiple(self) -> int:
        # 4 x 4 patches, each unshuffled by the stem and halved once per encoder level below it, and the
        # pyramid halves the 1/4 maps once more.
        return max(4 * self.config.stem * 2 ** (len(self.config.widths) - 1), 8)

    @property
    def feature_stride(self) -> int:
        """Image pixels per pixel of the global pathway's decoded features (its input is at 1/4)."""
        return 4 * self.config.stem

    def forward(self, x: Tensor, context: GlobalContext | PathwayOutput | None = None) -> GLSGNOutput:
        """Restore ``x`` (N, 3, H, W), H and W >= 64; the model pads and crops itself.

        ``context``, for inputs that are windows of a larger image, replaces the global pathway's
        decoded features and attention (the cues every local pathway receives) by the whole image's
        (see :meth:`window_context`). Its maps must have 1/``feature_stride`` of the *padded* input's
        size (``pad_multiple``). The global pathway still runs on the window's own quarter-size view
        for the pyramid's band at that scale (B_g's high band, and the mask M_3): from the whole
        image's view, downscaled further to fit, that band would be empty.
        """
        h, w = x.shape[-2:]
        if h < MIN_SIZE or w < MIN_SIZE:
            raise ValueError(f"GLSGN needs at least {MIN_SIZE}x{MIN_SIZE} pixels, got {w}x{h}")
        m = self.pad_multiple
        ph, pw = -h % m, -w % m
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        image, pathways = self._forward_padded(xp, context)

        def crop(t: Tensor) -> Tensor:
            s = xp.shape[-1] // t.shape[-1]
            return t[..., : -(-h // s), : -(-w // s)]

        return GLSGNOutput(crop(image), tuple(crop(p) for p in pathways))

    def restore(self, x: Tensor, context: GlobalContext | None = None) -> Tensor:
        """:class:`~glsgn_core.models.base.RestorationModel`: B_out alone."""
        return self(x, context).image

    def global_pass(self, x: Tensor) -> PathwayOutput:
        """Run the global pathway alone on an already downscaled image (any size >= 16 px per side)."""
        m = self.config.stem * 2 ** (len(self.config.widths) - 1)
        h, w = x.shape[-2:]
        xp = F.pad(x, (0, -w % m, 0, -h % m), mode="replicate")
        out = self.sg(xp, grid=1, cues=lambda level: [], attention=[])

        def crop(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            f = xp.shape[-1] // t.shape[-1]  # 1 for images and masks, the stem for features
            return t[..., : -(-h // f), : -(-w // f)]

        return PathwayOutput(*(crop(t) for t in out))

    def window_context(self, size: tuple[int, int], window: tuple[int, int], view: ImageView) -> Callable[[Window], GlobalContext]:
        """:class:`~glsgn_core.models.base.WindowContext`: one global pass on the whole image,
        downscaled to fit a quarter window (so it costs what a window's own global pass costs), and
        each window's crop of it at 1/``feature_stride`` of the window's padded size."""
        h, w = size
        factor = max(-(-h * 4 // window[0]), -(-w * 4 // window[1]), 1)
        small = view(factor)
        g = self.global_pass(small)
        # The view covers ceil(H / factor) * factor image rows (and likewise columns); the features
        # cover ceil(view / stem) * stem of the view's.
        s = self.config.stem
        extent = (g.features.shape[-2] * s * factor, g.features.shape[-1] * s * factor)
        m, stride = self.pad_multiple, self.feature_stride

        def crop(box: Window) -> GlobalContext:
            hp, wp = -(-box.size[0] // m) * m, -(-box.size[1] // m) * m
            ys = box.top + (torch.arange(hp // stride, device=small.device) + 0.5) * stride
            xs = box.left + (torch.arange(wp // stride, device=small.device) + 0.5) * stride
            gy, gx = torch.meshgrid(2 * ys / extent[0] - 1, 2 * xs / extent[1] - 1, indexing="ij")
            grid = torch.stack([gx, gy], dim=-1)[None]

            def sample(t: Tensor | None) -> Tensor | None:
                if t is None:
                    return None
                return F.grid_sample(t, grid.to(t.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)

            return GlobalContext(features=sample(g.features), decoded_attention=sample(g.decoded_attention))

        return crop

    def _forward_padded(self, x: Tensor, context: GlobalContext | PathwayOutput | None = None) -> tuple[Tensor, list[Tensor]]:
        cfg = self.config
        scales = [x, down2(x)]
        scales.append(down2(scales[1]))  # full, 1/2, 1/4
        tile_hw = scales[2].shape[-2:]

        def level_size(level: int) -> tuple[int, int]:
            f = cfg.stem << level
            return tile_hw[0] // f, tile_hw[1] // f

        g = self.sg(scales[2], grid=1, cues=lambda level: [], attention=[])
        if context is not None:
            g = g._replace(features=context.features, decoded_attention=context.decoded_attention)
        if not cfg.local:  # Global-Only: the global restoration applied as a low-frequency correction
            correction = F.interpolate(g.image - scales[2], size=x.shape[-2:], mode="bilinear", align_corners=False)
            return x + correction, [g.image]

        bottleneck = level_size(len(cfg.widths) - 1)
        box = cfg.cues != "bottleneck"  # the weights of sessions 1-8 were trained on cues shrunk by antialiased bilinear
        outputs, masks = [], {}
        prev: tuple[int, PathwayOutput] | None = None
        for i, (path, grid, img) in enumerate(zip(self.locals, LOCAL_GRIDS, scales)):
            # Iterative decoding (Eq. 1): F_g, and F_{i-1} reassembled from its tiles, resized to the
            # level they join and re-split into this pathway's tiles.
            sources = [(1, g.features)] + ([(prev[0], prev[1].features)] if prev else [])

            def cues(level: int, project=None, grid=grid, sources=sources) -> list[Tensor]:
                size, found = level_size(level), []
                for k, (g_from, f) in enumerate(sources):
                    if project is None:
                        found.append(regrid(f, g_from, grid, size, box=box))
                    elif f.shape[-1] * g_from < size[1] * grid:  # a cue that grows: project it while it is small
                        found.append(regrid(project(k, f), g_from, grid, size, box=box))
                    else:  # one that shrinks (or keeps its size): project it once it is small
                        found.append(project(k, regrid(f, g_from, grid, size, box=box)))
                return found

            att = [(cfg.sigma2, regrid(g.decoded_attention, 1, grid, bottleneck, box=box))] if cfg.pac else []
            if prev is not None and cfg.pac:
                att.append((cfg.sigma1, regrid(prev[1].attention, prev[0], grid, bottleneck, box=box)))
            out = path(tile(img, grid), grid=grid, cues=cues, attention=att)
            # Images and masks have 3 channels: the pyramid's resampling runs faster on them laid out as planes.
            outputs.append(untile(out.image, grid, contiguous=True))
            if out.mask is not None:
                masks[i] = untile(out.mask, grid, contiguous=True)
            prev = (grid, out)
        if g.mask is not None:
            masks[2] = g.mask
        b1, b2, b3 = outputs
        if cfg.synthesis == "s1":
            image = b1
        else:
            image = laplacian_synthesis(b1, b2, g.image, b3, [masks[k] for k in sorted(masks)] or None, high_scales=cfg.high_scales)
        return image, [g.image, *outputs]


def laplacian_synthesis(b1: Tensor, b2: Tensor, bg: Tensor, b3: Tensor, masks: list[Tensor] | None = None, *, high_scales: int = 3) -> Tensor:
    """Eq. 6-7: B_out = h1*M1 + Up(h2*M2 + Up(h3*M3 + l)).

    h1, h2, h3 are the high-frequency bands of B_1 (full), B_2 (1/2) and B_g (1/4); our reading of
    l is the low-pass band of B_3 on the 1/4 grid, Up(Down(B_3)), so that h3 + l has the 1/4 map's
    full spectrum and, with every mask at 1, pathway outputs that form an image's pyramid
    reconstruct that image exactly. ``masks=None`` means every mask is 1; else one mask per kept band,
    finest first.

    ``high_scales`` < 3 keeps only the finest bands (Table V): with 2, B_out = h1*M1 + Up(h2*M2 + B_3),
    with 1, B_out = h1*M1 + Up(B_2): the pathway below the last kept band gives that level whole.
    """

    def high(t: Tensor) -> Tensor:
        return t - up2(down2(t))

    m = masks if masks is not None else [1.0] * high_scales
    if high_scales == 1:
        return high(b1) * m[0] + up2(b2)
    coarse = b3 if high_scales == 2 else high(bg) * m[2] + up2(down2(b3))
    return high(b1) * m[0] + up2(high(b2) * m[1] + up2(coarse))


_FULL = GLSGNConfig()
_LITE = replace(_FULL, widths=(8, 16, 32, 64, 128), enc_blocks=(0, 0, 0, 0), dec_blocks=(1, 0, 0, 0), mid_blocks=1)
_CPU = replace(_FULL, widths=(24, 48, 96, 192), stem=2, enc_blocks=(0, 0, 0), dec_blocks=(1, 0, 0), mid_blocks=1)


def _build(base: GLSGNConfig, kwargs: dict[str, Any], **switches: Any) -> GLSGN:
    """``base`` with the variant's ``switches``, then the caller's overrides (weights metadata holds
    whole configs, so a variant's own switches never override what a file says)."""
    return GLSGN(**{**asdict(replace(base, **switches)), **upgrade_config(kwargs)})


@register_model
def glsgn_full(**kwargs) -> GLSGN:
    """The paper's model (Table I scale: about 15.7 M parameters)."""
    return _build(_FULL, kwargs)


@register_model
def glsgn_lite(**kwargs) -> GLSGN:
    """CPU-sized GLSGN: the same mechanisms at under 1/6 of the full model's FLOPs."""
    return _build(_LITE, kwargs)


@register_model
def glsgn_cpu(**kwargs) -> GLSGN:
    """GLSGN for CPUs: a 2x2 pixel-unshuffle stem, so no convolution is narrower than 24 channels."""
    return _build(_CPU, kwargs)


# Table III ablations, each one switch away from the next: global-only -> +local -> +PN -> +PAC -> +LP (full).
@register_model
def glsgn_pac(**kwargs) -> GLSGN:
    """Table III "GLSGN-PAC": the full model without the Laplacian pyramid (B_out is S1's output)."""
    return _build(_FULL, kwargs, synthesis="s1")


@register_model
def glsgn_pn(**kwargs) -> GLSGN:
    """Table III "GLSGN-PN": global-local with patch normalisation (no PAC, no pyramid)."""
    return _build(_FULL, kwargs, synthesis="s1", pac=False)


@register_model
def glsgn_global_local(**kwargs) -> GLSGN:
    """Table III "Global-Local": four pathways with iterative decoding only."""
    return _build(_FULL, kwargs, synthesis="s1", pac=False, pn=False)


@register_model
def glsgn_global_only(**kwargs) -> GLSGN:
    """Table III "Global-Only": the global pathway alone."""
    return _build(_FULL, kwargs, synthesis="s1", pac=False, pn=False, local=False)


@register_model
def glsgn_no_lp(**kwargs) -> GLSGN:
    """Without LP: the full model with B_out taken from S1 alone (the same model as glsgn-pac)."""
    return _build(_FULL, kwargs, synthesis="s1")


@register_model
def glsgn_lp_nomask(**kwargs) -> GLSGN:
    """The full model's pyramid with every mask fixed at 1 (no learned masks)."""
    return _build(_FULL, kwargs, synthesis="lp-nomask")


# Table V: LP against an SSIM loss, and fewer high-frequency scales in the pyramid.
@register_model
def glsgn_ssim(**kwargs) -> GLSGN:
    """Table V "GLSGN_SSIM": no pyramid, trained with an SSIM loss on B_out beside L1."""
    return _build(_FULL, kwargs, synthesis="s1", ssim_loss=1.0)


@register_model
def glsgn_h0(**kwargs) -> GLSGN:
    """Table V "GLSGN_h0": the pyramid keeps S1's high band only; S2's output gives the rest."""
    return _build(_FULL, kwargs, high_scales=1)


@register_model
def glsgn_h0h1(**kwargs) -> GLSGN:
    """Table V "GLSGN_h0+h1": the pyramid keeps S1's and S2's high bands; S3's output gives the rest."""
    return _build(_FULL, kwargs, high_scales=2)
