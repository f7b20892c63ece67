"""Training data: synthetic degradations (``glsgn_core.data.degrade``) and the datasets built on them.

The dispatcher is ``glsgn_core.data.degrade.degrade``; it is not re-exported here so that
``glsgn_core.data.degrade`` keeps naming the module.
"""

from glsgn_core.data.datasets import PairedFolder, SyntheticPairs, list_images, make_dataset, read_image
from glsgn_core.data.degrade import TASKS, add_haze, add_rain, add_reflection

__all__ = [
    "TASKS",
    "PairedFolder",
    "SyntheticPairs",
    "add_haze",
    "add_rain",
    "add_reflection",
    "list_images",
    "make_dataset",
    "read_image",
]
