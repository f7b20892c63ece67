"""GLSGN: shapes, gradients, the four consistency mechanisms, registry and complexity."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from glsgn_core.complexity import measure, parse_size
from glsgn_core.errors import ModelNotFoundError
from glsgn_core.models import GLSGN, create_model, list_models
from glsgn_core.models.glsgn import PatchNorm, laplacian_synthesis, patch_gain
from glsgn_core.ops import down2, tile

ABLATIONS = ["glsgn-global-only", "glsgn-global-local", "glsgn-pn", "glsgn-pac", "glsgn-full"]


def test_smoke_every_registered_configuration_runs(device, dtype):
    x = torch.rand(1, 3, 64, 64, device=device, dtype=dtype)
    for name in list_models("glsgn-*"):
        model = create_model(name).to(device, dtype).eval()
        with torch.no_grad():
            out = model(x)
        assert out.image.shape == x.shape, name
        assert torch.isfinite(out.image).all(), name


@pytest.mark.parametrize("h,w", [(64, 64), (65, 97), (100, 131), (128, 64)])
def test_shapes_odd_sizes(tiny_overrides, h, w, device, dtype):
    model = create_model("glsgn-full", **tiny_overrides).to(device, dtype).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, h, w, device=device, dtype=dtype))
    assert out.image.shape == (2, 3, h, w)
    b_g, b_1, b_2, b_3 = out.pathways
    quarter, half = (-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2))
    assert b_g.shape[-2:] == quarter and b_3.shape[-2:] == quarter
    assert b_2.shape[-2:] == half and b_1.shape[-2:] == (h, w)


def test_shapes_global_only_returns_one_pathway(tiny_overrides, device, dtype):
    model = create_model("glsgn-global-only", **tiny_overrides).to(device, dtype)
    out = model(torch.rand(1, 3, 64, 80, device=device, dtype=dtype))
    assert out.image.shape == (1, 3, 64, 80) and len(out.pathways) == 1


@pytest.mark.parametrize("h,w", [(63, 64), (64, 10), (1, 1)])
def test_exception_too_small(tiny_overrides, h, w, device, dtype):
    model = create_model("glsgn-lite", **tiny_overrides).to(device, dtype)
    with pytest.raises(ValueError, match="at least 64x64"):
        model(torch.rand(1, 3, h, w, device=device, dtype=dtype))


def test_gradients_reach_every_parameter(tiny_overrides, device, dtype):
    torch.manual_seed(0)
    model = create_model("glsgn-full", **tiny_overrides).to(device, dtype)
    out = model(torch.rand(1, 3, 64, 64, device=device, dtype=dtype))
    loss = out.image.square().mean() + sum(p.square().mean() for p in out.pathways)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def test_determinism_eval_mode(tiny_overrides, device, dtype):
    torch.manual_seed(1)
    a = create_model("glsgn-full", **tiny_overrides).to(device, dtype).eval()
    torch.manual_seed(1)
    b = create_model("glsgn-full", **tiny_overrides).to(device, dtype).eval()
    x = torch.rand(1, 3, 96, 80, device=device, dtype=dtype)
    with torch.no_grad():
        out_a1, out_a2, out_b = a(x).image, a(x).image, b(x).image
    assert torch.equal(out_a1, out_a2)
    assert torch.equal(out_a1, out_b)


def test_batch_items_are_independent(tiny_overrides, device, dtype):
    """Patches of different images must never mix (PN neighbours, regridding)."""
    model = create_model("glsgn-full", **tiny_overrides).to(device, dtype).eval()
    x = torch.rand(2, 3, 64, 64, device=device, dtype=dtype)
    with torch.no_grad():
        both = model(x).image
        first = model(x[:1]).image
    torch.testing.assert_close(both[:1], first, rtol=1e-5, atol=1e-6)


# --- patch normalisation (Eq. 4-5) --------------------------------------------------------------


def test_pn_gain_hand_computed_2x2():
    # One image, 2x2 patches, one channel; input all ones, output constant per patch 1, 2, 3, 4.
    x_in = torch.ones(4, 1, 3, 3)
    x_out = torch.stack([torch.full((1, 3, 3), v) for v in (1.0, 2.0, 3.0, 4.0)])
    gain = patch_gain(x_in, x_out, grid=2, eps=1e-12, max_gain=100.0).flatten()
    # patch (0,0) has neighbours (0,1)=2 and (1,0)=3; (0,1): 1 and 4; (1,0): 1 and 4; (1,1): 2 and 3.
    expected = torch.tensor([2.5 / 1, 2.5 / 2, 2.5 / 3, 2.5 / 4])
    torch.testing.assert_close(gain, expected)


def test_pn_gain_centre_patch_uses_four_neighbours_and_abs_ratio():
    r = torch.arange(1.0, 10.0)  # 3x3 grid of intensities 1..9, centre = 5
    x_in = -torch.ones(9, 2, 2, 2)  # negative inputs: the ratio is of magnitudes
    x_out = r.view(9, 1, 1, 1).expand(9, 2, 2, 2).clone()
    gain = patch_gain(x_in, x_out, grid=3, eps=1e-12, max_gain=100.0)
    assert gain.shape == (9, 2, 1, 1)
    torch.testing.assert_close(gain[4, :, 0, 0], torch.full((2,), (2 + 4 + 6 + 8) / 4 / 5))


def test_pn_gain_is_bounded_and_finite_for_zero_input():
    x_in = torch.zeros(4, 1, 2, 2)
    x_out = torch.tensor([1.0, 1000.0, 1.0, 1.0]).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    gain = patch_gain(x_in, x_out, grid=2, eps=1e-2, max_gain=4.0)
    assert torch.isfinite(gain).all()
    assert gain.max() <= 4.0 and gain.min() >= 0.25


def test_pn_single_patch_is_identity_gain():
    pn = PatchNorm(3, eps=1e-2, max_gain=4.0)
    y = torch.randn(1, 3, 5, 5)
    torch.testing.assert_close(pn(torch.randn(1, 3, 5, 5), y, grid=1), y)  # B starts at zero


def test_pn_module_vs_function():
    pn = PatchNorm(2, eps=1e-2, max_gain=4.0)
    torch.nn.init.normal_(pn.bias.weight)
    x_in, x_out = torch.randn(16, 2, 4, 4), torch.randn(16, 2, 4, 4)
    expected = patch_gain(x_in, x_out, 4, 1e-2, 4.0) * x_out + pn.bias(x_out)
    torch.testing.assert_close(pn(x_in, x_out, 4), expected)


# --- Laplacian-pyramid synthesis (Eq. 6-7) -------------------------------------------------------


def test_lp_all_masks_one_reconstructs_the_pyramid_exactly(dtype):
    img = torch.rand(2, 3, 64, 96, dtype=dtype)
    half = down2(img)
    quarter = down2(half)
    ones = [torch.ones_like(t) for t in (img, half, quarter)]
    for masks in (None, ones):
        out = laplacian_synthesis(img, half, quarter, quarter, masks)
        torch.testing.assert_close(out, img, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_lp_zero_masks_keep_only_the_low_band():
    img = torch.rand(1, 3, 32, 32)
    b3 = torch.rand(1, 3, 8, 8)
    zeros = [torch.zeros(1, 3, s, s) for s in (32, 16, 8)]
    out = laplacian_synthesis(img, down2(img), torch.rand(1, 3, 8, 8), b3, zeros)
    up = torch.nn.functional.interpolate
    low = up(down2(b3), scale_factor=2.0, mode="bilinear", align_corners=False)
    expected = up(up(low, scale_factor=2.0, mode="bilinear"), scale_factor=2.0, mode="bilinear")
    torch.testing.assert_close(out, expected)


# --- PAC (Eq. 2-3) and iterative decoding ---------------------------------------------------------


def test_pac_with_zero_sigmas_equals_plain_attention(tiny_overrides, device, dtype):
    torch.manual_seed(0)
    pac = create_model("glsgn-full", **tiny_overrides, sigma1=0.0, sigma2=0.0).to(device, dtype).eval()
    plain = create_model("glsgn-full", **tiny_overrides, pac=False).to(device, dtype).eval()
    missing, unexpected = plain.load_state_dict(pac.state_dict(), strict=False)
    assert missing == [] and all("decoded_attention" in k for k in unexpected)
    x = torch.rand(1, 3, 64, 64, device=device, dtype=dtype)
    with torch.no_grad():
        torch.testing.assert_close(pac(x).image, plain(x).image)
        weighted = create_model("glsgn-full", **tiny_overrides).to(device, dtype).eval()
        weighted.load_state_dict(pac.state_dict())
        assert not torch.allclose(weighted(x).image, pac(x).image)


def test_global_pathway_cues_reach_local_pathways(tiny_overrides, device, dtype):
    """Changing only the global pathway's weights changes S1's output (F_g is decoded into S1)."""
    torch.manual_seed(0)
    model = create_model("glsgn-full", **tiny_overrides).to(device, dtype).eval()
    x = torch.rand(1, 3, 64, 64, device=device, dtype=dtype)
    with torch.no_grad():
        before = model(x).pathways[1].clone()
        for p in model.sg.parameters():
            p.add_(0.05 * torch.randn_like(p))
        after = model(x).pathways[1]
    assert not torch.allclose(before, after)


def test_local_pathways_run_on_tiles_of_one_size(tiny_overrides, device, dtype):
    model = create_model("glsgn-full", **tiny_overrides).to(device, dtype)
    seen = []
    for i, path in enumerate(model.locals):
        path.intro.register_forward_hook(lambda m, inp, out, i=i: seen.append((i, tuple(inp[0].shape))))
    model.sg.intro.register_forward_hook(lambda m, inp, out: seen.append(("g", tuple(inp[0].shape))))
    model(torch.rand(1, 3, 128, 256, device=device, dtype=dtype))
    assert seen == [("g", (1, 3, 32, 64)), (0, (16, 3, 32, 64)), (1, (4, 3, 32, 64)), (2, (1, 3, 32, 64))]


def test_local_patches_are_the_hierarchy_tiles(tiny_overrides, device, dtype):
    model = create_model("glsgn-full", **tiny_overrides).to(device, dtype)
    captured = {}

    def grab(module, inputs, output):
        captured["s1"] = inputs[0]

    model.locals[0].intro.register_forward_hook(grab)
    x = torch.rand(1, 3, 128, 128, device=device, dtype=dtype)
    model(x)
    assert torch.equal(captured["s1"], tile(x, 4))


# --- registry and configuration -----------------------------------------------------------------


def test_registry_lists_the_ablation_ladder():
    assert set(ABLATIONS + ["glsgn-lite"]) <= set(list_models())
    assert list_models("glsgn-p*") == ["glsgn-pac", "glsgn-pn"]


def test_ablations_are_one_switch_apart():
    from dataclasses import asdict

    cfgs = [asdict(create_model(n).config) for n in ABLATIONS]
    for a, b in zip(cfgs, cfgs[1:]):
        assert len([k for k in a if a[k] != b[k]]) == 1, (a, b)


def test_exception_unknown_model():
    with pytest.raises(ModelNotFoundError, match="glsgn-full"):
        create_model("glsgn-huge")


def test_exception_bad_config():
    with pytest.raises(ValueError, match="sigma"):
        GLSGN(sigma1=1.5)
    with pytest.raises(ValueError, match="enc_blocks"):
        GLSGN(widths=(8, 16), enc_blocks=(1, 1), dec_blocks=(1,))


def test_config_accepts_lists_from_json(tiny_overrides):
    as_lists = {k: list(v) if isinstance(v, tuple) else v for k, v in tiny_overrides.items()}
    assert create_model("glsgn-full", **as_lists).config == create_model("glsgn-full", **tiny_overrides).config


# --- complexity (Table I) ---------------------------------------------------------------------


def test_complexity_full_model_matches_table_one():
    full = measure("glsgn-full", (3840, 2160))
    assert abs(full["params"] - 15.69e6) / 15.69e6 < 0.10
    assert abs(full["flops"] - 0.625e12) / 0.625e12 < 0.10
    assert full["flops"] == 2 * full["macs"]
    assert sum(p["flops"] for p in full["pathways"].values()) == full["flops"]
    assert set(full["pathways"]) == {"Sg", "S1", "S2", "S3"}


def test_complexity_lite_is_at_most_a_sixth_of_full():
    full = measure("glsgn-full", (3840, 2160))["flops"]
    assert measure("glsgn-lite", (3840, 2160))["flops"] <= full / 6


def test_complexity_scales_with_pixels():
    a = measure("glsgn-lite", (1024, 1024))["flops"]
    b = measure("glsgn-lite", (2048, 2048))["flops"]
    assert b == 4 * a


@pytest.mark.parametrize("text", ["axb", "0x10", "-5x5", "1x2x3", "0"])
def test_exception_parse_size(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_parse_size_takes_one_number_for_a_square():
    assert parse_size("3840x2160") == (3840, 2160) and parse_size("256") == (256, 256)


# --- iterative decoding at matching resolution (Eq. 1) ---------------------------------------------


def _recording_regrid(monkeypatch) -> list:
    """Record every cue resize of the model: (from_grid, to_grid, tile size, output)."""
    import glsgn_core.models.glsgn as glsgn_module

    calls, real = [], glsgn_module.regrid

    def recorder(x, from_grid, to_grid, tile_size, **kw):
        out = real(x, from_grid, to_grid, tile_size, **kw)
        calls.append((from_grid, to_grid, tuple(tile_size), out))
        return out

    monkeypatch.setattr(glsgn_module, "regrid", recorder)
    return calls


def test_previous_pathway_features_reach_the_next_at_full_tile_resolution(tiny_overrides, monkeypatch):
    """One pixel of S1's decoded features F_1, changed, changes S2's level-0 cue at the matching pixel
    alone, by a quarter (the 2x2 box that takes F_1 to S2's scale): the cue keeps its resolution, and
    through the join it changes S2's restored image there."""
    torch.manual_seed(0)
    model = create_model("glsgn-full", **tiny_overrides).eval()
    torch.nn.init.normal_(model.locals[1].joins["0"].weight)  # joins start at zero
    calls = _recording_regrid(monkeypatch)
    x = torch.rand(1, 3, 128, 128)  # S1: 16 tiles of 32x32; S2: 4 tiles of 32x32 over the 64x64 half image
    y, x_ = 37, 90  # a pixel of the whole full-resolution map

    def run(bump: float):
        def perturb(module, inputs, out):
            f = out.features.clone()
            f[(y // 32) * 4 + x_ // 32, :, y % 32, x_ % 32] += bump
            return out._replace(features=f)

        hook = model.locals[0].register_forward_hook(perturb)
        calls.clear()
        with torch.no_grad():
            out = model(x)
        hook.remove()
        cue = next(o for g_from, g_to, size, o in calls if (g_from, g_to, size) == (4, 2, (32, 32)))
        return cue, out.pathways[2]

    (cue0, s2_0), (cue1, s2_1) = run(0.0), run(1.0)
    change = cue1 - cue0
    assert change.shape == (4, tiny_overrides["widths"][0], 32, 32)
    ty, tx = y // 2, x_ // 2  # the pixel on S2's whole half-size map
    where = ((ty // 32) * 2 + tx // 32, slice(None), ty % 32, tx % 32)
    torch.testing.assert_close(change[where], torch.full_like(change[where], 0.25))
    change[where] = 0
    assert change.abs().max() == 0
    diff = (s2_1 - s2_0).abs().sum(dim=(0, 1))  # S2's restored image, 64x64
    assert diff[ty, tx] > 0 and diff[ty, tx] >= 0.2 * diff.max()


def test_global_features_join_every_local_pathway_at_the_tile_resolution(tiny_overrides, monkeypatch):
    """F_g (decoded at a quarter of the image) reaches each local pathway's first level resized to the
    tile's resolution: S1's 4x4 tiles of the full image, S2's 2x2 tiles of the half image, S3 whole."""
    torch.manual_seed(0)
    model = create_model("glsgn-full", **tiny_overrides).eval()
    w0 = tiny_overrides["widths"][0]
    for path in model.locals:  # F_g's block of each join: the identity, so the resized cue is F_g itself
        path.joins["0"].weight.data.zero_()
        path.joins["0"].weight.data[:, :w0, 0, 0] = torch.eye(w0)
    assert [p.joins["0"].in_channels for p in model.locals] == [w0, 2 * w0, 2 * w0]
    seen, calls = {}, _recording_regrid(monkeypatch)
    model.sg.register_forward_hook(lambda m, inp, out: seen.update(fg=out.features))
    with torch.no_grad():
        model(torch.rand(1, 3, 128, 192))
    fg = seen["fg"]  # 32 x 48
    for grid, scale in ((4, 4), (2, 2), (1, 1)):
        got = next(o for g_from, g_to, size, o in calls if (g_from, g_to, size) == (1, grid, (32, 48)))
        whole = torch.nn.functional.interpolate(fg, scale_factor=scale, mode="bilinear", align_corners=False) if scale > 1 else fg
        torch.testing.assert_close(got, tile(whole, grid) if grid > 1 else whole)


def test_stem_model_shapes_windows_context_and_channels_last():
    """glsgn-cpu's pixel-unshuffle stem: shapes; a window that is the whole image, given the whole
    image's context through ``window_context``, restores as the image does alone; the same result in
    channels-last layout (tile and untile keep it)."""
    from glsgn_core.restorer import area_downscale
    from glsgn_core.windows import Window

    torch.manual_seed(0)
    cfg = dict(widths=(4, 8, 8, 8), stem=2, enc_blocks=(1, 0, 0), dec_blocks=(1, 1, 0), mid_blocks=1)
    model = create_model("glsgn-cpu", **cfg).eval()
    for path in model.locals:
        torch.nn.init.normal_(path.joins["0"].weight, 0.0, 0.5)
    assert model.pad_multiple == 64 and model.feature_stride == 8
    x = torch.rand(1, 3, 100, 131)
    with torch.no_grad():
        out = model(x)
        assert out.image.shape == x.shape and [p.shape[-1] for p in out.pathways] == [33, 131, 66, 33]
        image = torch.rand(128, 192, 3).numpy()
        xp = torch.from_numpy(image).permute(2, 0, 1)[None]
        contexts = model.window_context((128, 192), (128, 192), lambda f: torch.from_numpy(area_downscale(image, f)).permute(2, 0, 1)[None])
        ctx = contexts(Window(0, 0, 128, 192))
        a = model(xp).image
        torch.testing.assert_close(model(xp, context=ctx).image, a, rtol=1e-4, atol=1e-5)
        shifted = contexts(Window(0, 8, 128, 200))  # the view sampled 8 px to the right: another context
        assert not torch.allclose(shifted.features, ctx.features)
        cl = model.to(memory_format=torch.channels_last)(xp.contiguous(memory_format=torch.channels_last)).image
        torch.testing.assert_close(cl, a, rtol=1e-4, atol=1e-5)
        # An image whose quarter view (33 x 49) is not a whole number of stem blocks: the context still
        # samples the global pass's features at their own pixel centres.
        odd = torch.rand(132, 196, 3).numpy()
        view = lambda f: torch.from_numpy(area_downscale(odd, f)).permute(2, 0, 1)[None]  # noqa: E731
        ctx = model.to(memory_format=torch.contiguous_format).window_context((132, 196), (132, 196), view)(Window(0, 0, 132, 196))
        g = model.global_pass(view(4))
        assert g.features.shape[-2:] == (17, 25)
        torch.testing.assert_close(ctx.features[..., :17, :25], g.features, rtol=1e-4, atol=1e-5)


# --- ablation switches (Table III, Table V) --------------------------------------------------------

SWITCHES = {"glsgn-no-lp": {"synthesis": "s1"}, "glsgn-lp-nomask": {"synthesis": "lp-nomask"},
            "glsgn-h0": {"high_scales": 1}, "glsgn-h0h1": {"high_scales": 2},
            "glsgn-ssim": {"synthesis": "s1", "ssim_loss": 1.0}}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_each_variant_is_its_switch_and_changes_the_output(name, tiny_overrides):
    from dataclasses import asdict

    full, variant = asdict(create_model("glsgn-full").config), asdict(create_model(name).config)
    assert {k: v for k, v in variant.items() if full[k] != v} == SWITCHES[name]
    torch.manual_seed(0)
    ref = create_model("glsgn-full", **tiny_overrides).eval()
    model = create_model(name, **tiny_overrides).eval()
    missing, _ = model.load_state_dict(ref.state_dict(), strict=False)
    assert missing == []  # every weight the variant has, the full model has too
    for m in (ref, model):  # masks away from 1, so dropping them shows
        for path in (m.sg, *m.locals):
            if path.mask is not None:
                torch.nn.init.normal_(path.mask.bias, 0.0, 1.0)
    model.load_state_dict({k: v for k, v in ref.state_dict().items() if k in model.state_dict()})
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        a, b = ref(x), model(x)
    assert not torch.allclose(a.image, b.image, atol=1e-4)
    if SWITCHES[name].get("synthesis") == "s1":
        assert torch.equal(b.image, b.pathways[1])  # B_out is S1's restored image, reassembled


def test_mask_heads_follow_the_kept_bands():
    def heads(name):
        m = create_model(name, **{"widths": (4, 8, 8, 8, 8), "enc_blocks": (0,) * 4, "dec_blocks": (0,) * 4})
        return [p.mask is not None for p in (m.locals[0], m.locals[1], m.sg)]

    assert heads("glsgn-full") == [True, True, True]
    assert heads("glsgn-h0h1") == [True, True, False]
    assert heads("glsgn-h0") == [True, False, False]
    assert heads("glsgn-lp-nomask") == heads("glsgn-no-lp") == [False, False, False]


@pytest.mark.parametrize("scales", [1, 2])
def test_lp_fewer_scales_reconstruct_the_pyramid_exactly(scales, dtype):
    img = torch.rand(2, 3, 64, 96, dtype=dtype)
    half, noise = down2(img), torch.rand(2, 3, 16, 24, dtype=dtype)
    for masks in (None, [torch.ones_like(t) for t in (img, half)][:scales]):
        out = laplacian_synthesis(img, half, noise, down2(half), masks, high_scales=scales)
        torch.testing.assert_close(out, img, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_weights_of_earlier_sessions_build_and_restore_as_they_were_trained():
    """Weights files of sessions 1-8 name ``lp`` in their config: they build with the cues joined at the
    bottleneck only, and the bundled v1 models give the outputs the code of that time gave
    (tests/golden: computed at commit 531e980 on this input, stored as float16)."""
    import numpy as np

    from glsgn_core.weights.files import load_weights_file

    golden = np.load(Path(__file__).parent / "golden" / "glsgn-lite-v1-outputs.npz")
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:80, 0:112] / 100.0
    img = np.stack([0.5 + 0.3 * np.sin(6 * x + 2 * y), 0.4 + 0.2 * np.cos(5 * y), 0.3 + 0.4 * x * y], -1)
    img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1).astype(np.float32)
    for name in ("glsgn-derain-lite-v1", "glsgn-dehaze-lite-v1"):
        model, _ = load_weights_file(Path(__file__).parent / "golden" / f"{name}.safetensors")  # once bundled
        assert model.config.cues == "bottleneck" and all(len(p.joins) == 0 for p in model.locals)
        with torch.no_grad():
            out = model(torch.from_numpy(img).permute(2, 0, 1)[None]).image[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(out, golden[name.replace("-", "_")].astype(np.float32), atol=5e-4, rtol=0)
