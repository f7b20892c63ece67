"""The training objective's parts: multi-stage L1, VGG-19 perceptual, and the discriminator."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from glsgn_core.errors import GlsgnError
from glsgn_core.train.discriminator import PatchDiscriminator
from glsgn_core.train.losses import PerceptualDistance, coarse_keep, discriminator_hinge, generator_adversarial, l1, multi_stage
from glsgn_core.train.vgg import FEATURE_LAYERS, VGG19Features, VGGWeightsMissing, load_vgg19


def _pyramid(seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 3, 32, 48, generator=g)
    image = torch.rand(2, 3, 32, 48, generator=g)
    pathways = [torch.rand(2, 3, 32 // s, 48 // s, generator=g) for s in (4, 1, 2, 4)]  # B_g, B_1, B_2, B_3
    return image, pathways, target


def test_multi_stage_l1_matches_hand_computation() -> None:
    image, pathways, target = _pyramid()
    expected = 0.5 * (image - target).abs().mean()
    for b in pathways:
        s = target.shape[-1] // b.shape[-1]
        gt = target if s == 1 else F.avg_pool2d(target, s)  # area resize to an exact 1/s scale
        expected = expected + 0.1 * (b - gt).abs().mean()
    got = multi_stage(l1, image, pathways, target, pathway_weight=0.1, final_weight=0.5)
    assert torch.allclose(got, expected, rtol=1e-6)


def test_multi_stage_zero_for_a_perfect_pyramid() -> None:
    target = torch.rand(1, 3, 16, 16)
    pathways = [F.avg_pool2d(target, 4), target, F.avg_pool2d(target, 2), F.avg_pool2d(target, 4)]
    assert multi_stage(l1, target, pathways, target, pathway_weight=0.1, final_weight=0.5).item() < 1e-7


def test_coarse_keep_counts_a_shift_only_where_nothing_was_added() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 32, 48, generator=g)
    degraded = target.clone()
    degraded[..., :, :24] = degraded[..., :, :24] * 0.8 + 0.15  # a veil over the left half
    assert coarse_keep(target, degraded, target).item() == 0.0  # the perfect output
    # A frame darkened by 3 levels: the term reads the shift over the untouched (right) half only.
    darker = target - 3 / 255
    assert coarse_keep(darker, degraded, target).item() == pytest.approx(0.5 * 3 / 255, rel=1e-5)
    # Leaving the veil in place costs nothing here: that is the pixel term's work.
    assert coarse_keep(degraded, degraded, target).item() == 0.0


def test_coarse_keep_ignores_zero_mean_detail_within_a_block() -> None:
    """Block means: the camera's JPEG (or grain) on the input does not make a block count as touched,
    and a change that keeps each block's mean is not a shift."""
    target = torch.full((1, 3, 16, 16), 0.5)
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1.0  # mean 0 in every 8x8 block
    degraded = target + 0.01 * checker
    assert coarse_keep(target + 0.05 * checker, degraded, target).item() == pytest.approx(0.0, abs=1e-7)
    assert coarse_keep(target + 0.02, degraded, target).item() == pytest.approx(0.02, rel=1e-4)
    # A block whose mean moved by 2 levels or more counts as degraded, and is left to the pixel term.
    assert coarse_keep(target + 0.02, target + 3 / 255, target).item() == 0.0


def test_coarse_keep_tol_sets_what_counts_as_untouched() -> None:
    """A block moved by 1.5 levels is untouched at the default tol (2 levels), touched at 1 level."""
    target = torch.full((1, 3, 16, 16), 0.5)
    faint = target.clone()
    faint[..., :8, :8] += 1.5 / 255  # faint rain in one block of four
    output = target + 0.02
    assert coarse_keep(output, faint, target).item() == pytest.approx(0.02, rel=1e-4)
    assert coarse_keep(output, faint, target, tol=1 / 255).item() == pytest.approx(0.75 * 0.02, rel=1e-4)


def test_coarse_keep_pairs_only_counts_pairs_with_nothing_to_remove() -> None:
    """pairs_only: a rainy crop's untouched blocks no longer count; a pair untouched throughout counts
    in full, averaged over all blocks of the batch as before."""
    target = torch.full((2, 3, 16, 16), 0.5)
    degraded = target.clone()
    degraded[0, :, :8, :8] += 0.2  # rain in one block of four of the first pair; the second is clean
    output = target - 0.02  # a frame darkened everywhere
    assert coarse_keep(output, degraded, target).item() == pytest.approx(7 / 8 * 0.02, rel=1e-4)
    assert coarse_keep(output, degraded, target, pairs_only=True).item() == pytest.approx(4 / 8 * 0.02, rel=1e-4)
    assert coarse_keep(output, target, target, pairs_only=True).item() == pytest.approx(0.02, rel=1e-4)


def test_gradcheck_coarse_keep() -> None:
    g = torch.Generator().manual_seed(1)
    target = torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64)
    image = (target + 0.1 * torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: coarse_keep(x, target, target), (image,))
    assert torch.autograd.gradcheck(lambda x: coarse_keep(x, target, target, pairs_only=True), (image,))


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> tuple[str, VGG19Features]:
    """A randomly initialised VGG-19 saved in torchvision's state-dict layout (with a classifier)."""
    torch.manual_seed(0)
    ref = VGG19Features()
    state = {f"features.{k}": v for k, v in ref.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save(state, path)
    return str(path), ref


def test_roundtrip_vgg_torchvision_layout(vgg_file, device, dtype) -> None:
    path, ref = vgg_file
    ref = copy.deepcopy(ref).to(device, dtype)  # the fixture's model is shared: moved as a copy
    loaded = load_vgg19(path).to(device, dtype)
    x = torch.rand(1, 3, 32, 32, device=device, dtype=dtype)
    for a, b in zip(loaded(x), ref(x)):
        assert torch.equal(a, b)
    assert len(loaded(x)) == len(FEATURE_LAYERS)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_roundtrip_vgg_safetensors(vgg_file, tmp_path) -> None:
    from safetensors.torch import save_file

    _, ref = vgg_file
    path = tmp_path / "vgg.safetensors"
    save_file({k: v.contiguous() for k, v in ref.features.state_dict().items()}, str(path))
    x = torch.rand(1, 3, 24, 24)
    assert all(torch.equal(a, b) for a, b in zip(load_vgg19(path)(x), ref(x)))


def test_perceptual_distance_against_features(vgg_file, device) -> None:
    # device only: the distance is taken in float32 whatever the features' type (it runs under autocast)
    path, _ = vgg_file
    vgg = load_vgg19(path).to(device)
    dist = PerceptualDistance(vgg)
    a, b = torch.rand(2, 3, 32, 32, device=device), torch.rand(2, 3, 32, 32, device=device)
    expected = sum((fa - fb).abs().mean() for fa, fb in zip(vgg(a), vgg(b))) / len(FEATURE_LAYERS)
    assert torch.allclose(dist(a, b), expected)
    assert dist(a, a).item() == 0.0
    a.requires_grad_(True)
    dist(a, b).backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_exception_vgg_missing_names_the_way_out(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(VGGWeightsMissing) as info:
        load_vgg19(None)
    msg = str(info.value)
    assert "\n" not in msg and "--vgg-weights" in msg and "--perceptual-weight 0" in msg


def test_exception_vgg_wrong_file(tmp_path) -> None:
    bad = tmp_path / "not-vgg.pth"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(GlsgnError, match="not VGG-19"):
        load_vgg19(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(GlsgnError, match="junk.pth"):
        load_vgg19(junk)


def test_discriminator_is_spectrally_normalised(device, dtype) -> None:
    torch.manual_seed(0)
    disc = PatchDiscriminator().to(device, dtype)
    convs = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") and hasattr(m.parametrizations, "weight") for m in convs)
    x = torch.rand(2, 3, 64, 64, device=device, dtype=dtype)
    for _ in range(30):  # power iterations run in training-mode forwards
        scores = disc(x, x)
    assert scores.shape == (2, 1, 4, 4)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert abs(sigma.item() - 1.0) < 0.05


def test_hinge_losses() -> None:
    assert discriminator_hinge(torch.full((4,), 2.0), torch.full((4,), -2.0)).item() == 0.0
    assert discriminator_hinge(torch.zeros(4), torch.zeros(4)).item() == 2.0
    assert generator_adversarial(torch.tensor([1.0, 3.0])).item() == -2.0
