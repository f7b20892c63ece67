"""VGG-19 feature extractor for the perceptual loss (paper Eq. 9), with explicit weight loading.

Only the convolutional trunk up to ``relu3_4`` is built: low- and mid-level features are what a
restoration loss needs, and at a 960x540 crop the layers past ``relu3_4`` would add about half
again to the cost of an already heavy loss. Layer indices follow torchvision's ``vgg19().features``
so its ImageNet state dict (``vgg19-dcbb9e9d.pth``) loads directly. The weights cannot be
downloaded on every machine, so they are never fetched implicitly: pass a file, or keep
torchvision's copy in the torch hub cache where it is looked for.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from glsgn_core.errors import GlsgnError

TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's name; the hex part is its sha256 prefix
TORCHVISION_URL = f"https://download.pytorch.org/models/{TORCHVISION_FILE}"
# torchvision's VGG-19 ``features`` layout: channel counts, "M" for max-pooling.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
# Feature taps: index of the ReLU in ``features`` whose output is compared.
FEATURE_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_4": 17}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsMissing(GlsgnError):
    """No VGG-19 weights were given or found, but the perceptual loss is on."""


class VGG19Features(nn.Module):
    """Frozen VGG-19 trunk returning the :data:`FEATURE_LAYERS` activations of an RGB batch in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        last = max(FEATURE_LAYERS.values())
        layers: list[nn.Module] = []
        cin = 3
        for spec in _LAYOUT:
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, spec, 3, padding=1), nn.ReLU(inplace=False)]
                cin = spec
        self.features = nn.Sequential(*layers[: last + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG19Features:
        return super().train(False)  # a fixed feature extractor: never in training mode

    def forward(self, x: Tensor) -> list[Tensor]:
        taps = set(FEATURE_LAYERS.values())
        h = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in taps:
                out.append(h)
        return out


def default_vgg_path() -> Path:
    """Where torchvision keeps its download: ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def load_vgg19(path: str | os.PathLike | None = None) -> VGG19Features:
    """Build :class:`VGG19Features` with ImageNet weights from ``path`` (torchvision .pth or safetensors).

    Without ``path`` the torch hub cache is tried. Keys may carry torchvision's ``features.`` prefix
    or not; classifier weights are ignored. Never unpickles arbitrary objects.
    """
    if path is None:
        found = default_vgg_path()
        if not found.is_file():
            raise VGGWeightsMissing(
                f"the perceptual loss needs VGG-19 ImageNet weights ({TORCHVISION_URL}) and none were found "
                f"at {found}; pass --vgg-weights PATH, or --perceptual-weight 0 to train without it"
            )
        path = found
    path = Path(path)
    state = _read_state_dict(path)
    state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    model = VGG19Features()
    wanted = model.features.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise GlsgnError(f"{path}: not VGG-19 weights (no {missing[0]!r}); expected torchvision's {TORCHVISION_FILE}")
    for k, v in wanted.items():
        if state[k].shape != v.shape:
            raise GlsgnError(f"{path}: {k} has shape {tuple(state[k].shape)}, VGG-19 needs {tuple(v.shape)}")
    model.features.load_state_dict({k: state[k].float() for k in wanted})
    return model


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise GlsgnError(f"{path}: VGG-19 weights file not found; pass --vgg-weights PATH or --perceptual-weight 0")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad file to the user
        raise GlsgnError(f"{path}: cannot read VGG-19 weights ({type(exc).__name__}: {exc})".splitlines()[0]) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise GlsgnError(f"{path}: not a state dict of tensors")
    return state
