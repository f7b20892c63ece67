"""A conditional PatchGAN discriminator with spectral normalisation (paper Eq. 10).

"Conditional": it judges the restored (or ground-truth) image together with the degraded input, so
it learns what a plausible restoration *of this input* looks like rather than what a clean photo
looks like in general. Spectral normalisation on every convolution bounds its Lipschitz constant,
which is what keeps the adversarial term stable at the small weight (0.01) the paper uses.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Four stride-2 4x4 convolutions then a 3x3 head: one realism score per ~46-pixel patch.

    Kept light (about a GLSGN-lite forward pass at the same size) so it never dominates a step.
    """

    def __init__(self, in_chans: int = 6, widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for w in widths:
            layers += [spectral_norm(nn.Conv2d(cin, w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            cin = w
        layers.append(spectral_norm(nn.Conv2d(cin, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, degraded: Tensor, image: Tensor) -> Tensor:
        return self.net(torch.cat([degraded, image], dim=1))
