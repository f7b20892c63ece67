"""The paper's training objective (Eq. 8-11).

    L = lambda1 * L_pixel + lambda2 * L_perc + lambda3 * L_adv
    L_pixel = alpha1 * sum_i L1(B_i, B at scale i) + beta1 * L1(B_out, B)
    L_perc  = alpha2 * sum_i D_vgg(B_i, B at scale i) + beta2 * D_vgg(B_out, B)

The ground truth for a pathway is resized to that pathway's scale by area averaging, which is the
exact box filter for the 1/2 and 1/4 scales the model uses. D_vgg is the mean absolute difference
of VGG-19 ``relu1_2``, ``relu2_2`` and ``relu3_4`` activations, averaged over the three layers.
The adversarial term uses the hinge formulation: the generator minimises -E[D(G(I))] (Eq. 10 as
written) and the discriminator minimises E[relu(1 - D(real))] + E[relu(1 + D(fake))].

Not in the paper: ``keep`` weighs :func:`coarse_keep`, an L1 on the coarse picture where the
degradation left it as it was, aimed at the harm the pixel term lets through (a frame darkened
by a few levels for a veil that is not there: docs/MODELS.md, glsgn-derain v5, session 13).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn


KEEP_TOL = 2.0  # levels of 255 a block mean may move and still count as untouched (coarse_keep)
KEEP_SCOPES = ("blocks", "pairs")  # coarse_keep counts untouched blocks anywhere, or only pairs untouched throughout


@dataclass(frozen=True)
class LossWeights:
    pixel: float = 1.0  # lambda1
    perceptual: float = 0.01  # lambda2
    adversarial: float = 0.01  # lambda3
    pathway: float = 0.1  # alpha1 = alpha2: each pathway's output
    final: float = 0.5  # beta1 = beta2: the synthesised output B_out
    keep: float = 0.0  # coarse_keep on B_out; 0: off
    keep_tol: float = KEEP_TOL  # coarse_keep's tol, in levels of 255: a block moved less than this counts as untouched
    keep_scope: str = "blocks"  # one of KEEP_SCOPES: coarse_keep's pairs_only


def at_scale(target: Tensor, like: Tensor) -> Tensor:
    """``target`` area-resized to ``like``'s height and width (unchanged when they already match)."""
    if target.shape[-2:] == like.shape[-2:]:
        return target
    return F.interpolate(target, size=like.shape[-2:], mode="area")


def multi_stage(
    distance: Callable[[Tensor, Tensor], Tensor],
    image: Tensor,
    pathways: Sequence[Tensor],
    target: Tensor,
    *,
    pathway_weight: float,
    final_weight: float,
) -> Tensor:
    """alpha * sum_i distance(B_i, B at scale i) + beta * distance(B_out, B)."""
    total = final_weight * distance(image, target)
    if pathway_weight:
        for b in pathways:
            total = total + pathway_weight * distance(b, at_scale(target, b))
    return total


def l1(a: Tensor, b: Tensor) -> Tensor:
    return F.l1_loss(a.float(), b.float())


def coarse_keep(
    image: Tensor, degraded: Tensor, target: Tensor, *, cell: int = 8, tol: float = KEEP_TOL / 255, pairs_only: bool = False
) -> Tensor:
    """L1 between ``cell``-pixel block means of ``image`` and ``target``, counted only in blocks
    whose mean the degradation changed by less than ``tol`` in every channel (zero elsewhere),
    averaged over all blocks. ``pairs_only``: count a pair's blocks only when every one of them is
    untouched (a clean pair, or a crop whose degradation is that faint everywhere), so the
    untouched parts of a degraded crop are left to the pixel term.

    Block means, because the camera stage's JPEG touches every input pixel a little but leaves
    block means nearly as they were, while a veil or a streak moves them; so the term sees where
    nothing was added, and there it weighs a shift of the whole picture (a veil lifted that was
    never laid) far more than the per-pixel L1 does.
    """
    means = [F.avg_pool2d(t, cell) for t in (image, degraded, target)]
    untouched = ((means[1] - means[2]).abs().amax(1, keepdim=True) < tol).float()
    if pairs_only:
        untouched = untouched.amin((2, 3), keepdim=True).expand_as(untouched)
    return ((means[0] - means[2]).abs() * untouched).mean()


class PerceptualDistance(nn.Module):
    """Mean L1 distance between VGG features, averaged over the tapped layers."""

    def __init__(self, vgg: nn.Module) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        pred = self.vgg(prediction)
        ref = self.vgg(target.detach())
        return sum(F.l1_loss(p.float(), r.float().detach()) for p, r in zip(pred, ref)) / len(pred)


def generator_adversarial(fake_scores: Tensor) -> Tensor:
    """Eq. 10: -E[D(G(I))]."""
    return -fake_scores.float().mean()


def discriminator_hinge(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    return F.relu(1.0 - real_scores.float()).mean() + F.relu(1.0 + fake_scores.float()).mean()
