"""GLA-Net: shapes, window attention against a direct computation, masking, dense connections,
the bilinear skip, registry and complexity."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from glsgn_core.complexity import measure
from glsgn_core.models import create_model, list_models
from glsgn_core.models.glanet import (
    GLANet,
    Inception,
    WindowAttention,
    shifted_window_mask,
    window_partition,
    window_reverse,
)

# The smallest GLA-Net with every mechanism: two blocks (one dense fusion), two layers each (one shifted).
TINY = dict(embed_dim=12, depths=(2, 2), num_heads=2, upsampler_dim=8)
ABLATIONS = {"glanet-no-dense": "dense", "glanet-no-inception": "inception"}


def tiny(name: str = "glanet-full", **overrides) -> GLANet:
    return create_model(name, **{**TINY, **overrides})


# --- shapes and the model contract ----------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("h,w", [(17, 23), (64, 40), (8, 8), (9, 31)])
def test_shapes_odd_sizes_both_scales(scale, h, w, device, dtype):
    model = tiny(scale=scale).to(device, dtype).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, h, w, device=device, dtype=dtype))
    assert model.scale == scale and model.pad_multiple == 8
    assert out.shape == (2, 3, h * scale, w * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("h,w", [(7, 20), (20, 7), (1, 1)])
def test_exception_too_small(h, w, device, dtype):
    with pytest.raises(ValueError, match="at least 8x8"):
        tiny().to(device, dtype)(torch.rand(1, 3, h, w, device=device, dtype=dtype))


@pytest.mark.parametrize("bad", [dict(scale=3), dict(embed_dim=10, num_heads=4), dict(inception_kernels=(1, 2))])
def test_exception_bad_config(bad):
    with pytest.raises(ValueError):
        tiny(**bad)


def test_smoke_every_registered_glanet_configuration_runs(device, dtype):
    names = list_models("glanet-*")
    assert set(names) == {"glanet-full", "glanet-lite", "glanet-tiny", *ABLATIONS}
    x = torch.rand(1, 3, 8, 11, device=device, dtype=dtype)
    for name in names:
        model = create_model(name).to(device, dtype).eval()
        cfg = model.config
        assert (cfg.window_size, cfg.num_heads, model.scale) == (8, 3 if name == "glanet-tiny" else 6, 2), name
        with torch.no_grad():
            out = model(x)
        assert out.shape == (1, 3, 16, 22) and torch.isfinite(out).all(), name
    assert create_model("glanet-lite", scale=4).scale == 4


def test_config_roundtrip_from_json_lists():
    """Checkpoints carry the config as JSON: lists must come back as the same frozen config."""
    model = tiny()
    again = GLANet(**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()})
    assert again.config == model.config
    again.load_state_dict(model.state_dict())


def test_ablations_differ_from_full_in_one_field():
    full = asdict(create_model("glanet-full").config)
    for name, field in ABLATIONS.items():
        cfg = asdict(create_model(name).config)
        assert {k for k in full if full[k] != cfg[k]} == {field}, name
        assert full[field] is True and cfg[field] is False


def test_complexity_lite_is_at_most_an_eighth_of_full_and_tiny_a_hundredth():
    full, lite, tiny_ = (measure(n, (64, 48)) for n in ("glanet-full", "glanet-lite", "glanet-tiny"))
    assert lite["flops"] <= full["flops"] / 8 and tiny_["flops"] <= full["flops"] / 100
    assert tiny_["params"] < lite["params"] < full["params"]


# --- windows and attention ------------------------------------------------------------------------


def test_roundtrip_window_partition():
    x = torch.randn(2, 16, 24, 5)
    windows = window_partition(x, 8)
    assert windows.shape == (2 * 2 * 3, 64, 5)
    torch.testing.assert_close(window_reverse(windows, 8, 16, 24), x, rtol=0, atol=0)
    # Window 4 is image 0's second row, second column: a contiguous 8x8 block, row-major.
    torch.testing.assert_close(windows[4], x[0, 8:16, 8:16].reshape(64, 5), rtol=0, atol=0)
    assert torch.equal(windows[6], x[1, :8, :8].reshape(64, 5))


def _same_side_of_wrap(i: int, j: int, ki: int, kj: int, shift: int) -> bool:
    """Rolling by -shift moves rows/columns [0, shift) to the far end: those are not neighbours of the rest."""
    return (i < shift) == (ki < shift) and (j < shift) == (kj < shift)


def direct_window_attention(attn: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Reference: for each pixel, softmax attention over exactly the keys of its (shifted) window that
    were its neighbours before rolling, by explicit loops in image coordinates."""
    b, h, w, c = x.shape
    win, s, heads = attn.window, attn.shift, attn.num_heads
    q, k, v = attn.qkv(x).view(b, h, w, 3, heads, c // heads).unbind(3)
    table = attn.bias_table.view(2 * win - 1, 2 * win - 1, heads)
    out = torch.empty(b, h, w, heads, c // heads, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            ri, rj = (i - s) % h, (j - s) % w  # where pixel (i, j) sits in the rolled image
            keys = [
                (ki, kj)
                for ki in range(h)
                for kj in range(w)
                if (ki - s) % h // win == ri // win
                and (kj - s) % w // win == rj // win
                and _same_side_of_wrap(i, j, ki, kj, s)
            ]
            logits = []
            for ki, kj in keys:
                dy, dx = ri - (ki - s) % h, rj - (kj - s) % w  # offset inside the window
                dot = (q[:, i, j] * k[:, ki, kj]).sum(-1) * (c // heads) ** -0.5
                logits.append(dot + table[dy + win - 1, dx + win - 1])
            weights = torch.softmax(torch.stack(logits, dim=-1), dim=-1)  # (b, heads, n_keys)
            values = torch.stack([v[:, ki, kj] for ki, kj in keys], dim=-2)  # (b, heads, n_keys, d)
            out[:, i, j] = (weights[..., None] * values).sum(-2)
    return out.reshape(b, h, w, c)


@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("h,w", [(8, 12), (4, 8)])
def test_window_attention_matches_direct_computation(shift, h, w):
    torch.manual_seed(0)
    attn = WindowAttention(6, num_heads=2, window=4, shift=shift).double()
    with torch.no_grad():
        attn.bias_table.normal_()  # a large bias, so a wrong offset or head shows
    x = torch.randn(2, h, w, 6, dtype=torch.float64)
    with torch.no_grad():
        got = attn(x, shifted_window_mask(h, w, 4))
        expected = direct_window_attention(attn, x)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_mask_blocks_attention_across_regions():
    torch.manual_seed(0)
    h, w, win = 8, 12, 4
    attn = WindowAttention(6, num_heads=2, window=win, shift=True)
    captured = []
    attn.softmax.register_forward_hook(lambda m, inp, out: captured.append(out))
    with torch.no_grad():
        attn(torch.randn(1, h, w, 6), shifted_window_mask(h, w, win))
    weights = captured[0]  # (nW, heads, N, N), windows row-major over the rolled image
    assert weights.shape == (6, 2, 16, 16)
    s = win // 2
    regions_per_window = []
    for n in range(6):
        top, left = n // 3 * win, n % 3 * win
        # Image coordinates of the window's tokens: rolled position p holds image position p + shift.
        pixels = [((top + t // win + s) % h, (left + t % win + s) % w) for t in range(win * win)]
        regions_per_window.append(len({(i < s, j < s) for i, j in pixels}))
        for a, (i, j) in enumerate(pixels):
            for b, (ki, kj) in enumerate(pixels):
                pair = weights[n, :, a, b]
                if _same_side_of_wrap(i, j, ki, kj, s):
                    assert (pair > 0).all()
                else:
                    assert (pair == 0).all(), (n, (i, j), (ki, kj))
    # Interior windows are whole; the last column splits in two, the corner in four.
    assert regions_per_window == [1, 1, 2, 2, 2, 4]


# --- building blocks and connections --------------------------------------------------------------


def test_inception_keeps_channels_and_max_pool_spreads_a_spike():
    module = Inception(10, (1, 3, 5))  # 10 channels over 4 branches: an uneven split
    x = torch.zeros(1, 10, 9, 9)
    x[0, 0, 4, 4] = 1.0
    with torch.no_grad():
        pool_conv = module.pool[1]
        pool_conv.weight.zero_()
        pool_conv.bias.zero_()
        pool_conv.weight[0, 0] = 1.0  # the pool branch's first output channel: channel 0, max-pooled
        out = module(x)
    assert out.shape == (1, 10, 9, 9)
    expected = torch.zeros(9, 9)
    expected[3:6, 3:6] = 1.0
    assert torch.equal(out[0, 0], expected)


def test_dense_fusion_picking_the_last_output_equals_the_plain_chain(device, dtype):
    torch.manual_seed(0)
    chain = tiny("glanet-no-dense", depths=(1, 1, 1)).to(device, dtype).eval()
    dense = tiny("glanet-full", depths=(1, 1, 1)).to(device, dtype).eval()
    missing, unexpected = dense.load_state_dict(chain.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith("fusions.") for k in missing) and missing
    c = dense.config.embed_dim
    x = torch.rand(1, 3, 16, 16, device=device, dtype=dtype)
    with torch.no_grad():
        for fusion in dense.fusions:  # identity on the newest block output (last C channels)
            fusion.weight.zero_()
            fusion.bias.zero_()
            fusion.weight[:, -c:, 0, 0] = torch.eye(c)
        torch.testing.assert_close(dense(x), chain(x))
        for fusion in dense.fusions:  # now pick the shallow features (first C channels)
            fusion.weight.zero_()
            fusion.weight[:, :c, 0, 0] = torch.eye(c)
        seen = []
        hooks = [blk.register_forward_pre_hook(lambda m, args: seen.append(args[0])) for blk in dense.blocks]
        dense(x)
        f_s = dense.shallow(x)  # 16 x 16 needs no padding
    for hook in hooks:
        hook.remove()
    assert len(seen) == 3
    for block_input in seen:
        torch.testing.assert_close(block_input, f_s)


def test_bilinear_skip_with_the_deep_path_zeroed(device, dtype):
    for scale in (2, 4):
        model = tiny(scale=scale).to(device, dtype).eval()
        with torch.no_grad():
            model.upsampler[-1].weight.zero_()
            model.upsampler[-1].bias.zero_()
            x = torch.rand(2, 3, 17, 23, device=device, dtype=dtype)
            out = model(x)
        expected = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_gradients_reach_every_parameter(device, dtype):
    torch.manual_seed(0)
    for name in ("glanet-full", "glanet-no-dense", "glanet-no-inception"):
        model = tiny(name, scale=4).to(device, dtype)
        model(torch.rand(1, 3, 16, 16, device=device, dtype=dtype)).square().mean().backward()
        dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert dead == [], name


def test_determinism_eval_mode(device, dtype):
    torch.manual_seed(1)
    a = tiny().to(device, dtype).eval()
    torch.manual_seed(1)
    b = tiny().to(device, dtype).eval()
    x = torch.rand(1, 3, 20, 13, device=device, dtype=dtype)
    with torch.no_grad():
        out_a1, out_a2, out_b = a(x), a(x), b(x)
    assert torch.equal(out_a1, out_a2)
    assert torch.equal(out_a1, out_b)


def test_batch_items_are_independent(device, dtype):
    """Windows of different images must never mix (partition, roll and mask work per image)."""
    model = tiny().to(device, dtype).eval()
    x = torch.rand(3, 3, 16, 24, device=device, dtype=dtype)
    with torch.no_grad():
        both = model(x)
        alone = model(x[1:2])
    torch.testing.assert_close(both[1:2], alone, rtol=1e-5, atol=1e-6)
