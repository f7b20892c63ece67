"""Training: the paper's losses (Eq. 8-11), a resumable, distributed loop, and its checkpoints.

Importing this package pulls in torch; the CLI imports it only inside ``glsgn train``.
"""

from glsgn_core.train.checkpoint import FORMAT as CHECKPOINT_FORMAT
from glsgn_core.train.checkpoint import load_checkpoint, save_checkpoint
from glsgn_core.train.discriminator import PatchDiscriminator
from glsgn_core.train.losses import LossWeights, PerceptualDistance, multi_stage
from glsgn_core.train.loop import TrainConfig, TrainResult, train
from glsgn_core.train.vgg import VGG19Features, load_vgg19

__all__ = [
    "CHECKPOINT_FORMAT",
    "LossWeights",
    "PatchDiscriminator",
    "PerceptualDistance",
    "TrainConfig",
    "TrainResult",
    "VGG19Features",
    "load_checkpoint",
    "load_vgg19",
    "multi_stage",
    "save_checkpoint",
    "train",
]
