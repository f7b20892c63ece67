"""The contract between the Restorer and a model: what a model declares, and how it is run.

The Restorer reads nothing else from a model. It runs ``restore`` on the whole image, on windows,
or on a downscaled copy (guided), and it converts pixels to tensors on the device itself. A model
that needs to see the whole image while it restores a window (GLSGN's global pathway) says so by
also implementing :class:`WindowContext`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

from torch import Tensor

from glsgn_core.windows import Window

# ``view(factor)``: the whole image averaged over ``factor x factor`` blocks (edge blocks completed
# by repetition, so it covers ``ceil(H / factor) * factor`` rows and likewise columns), as a
# (1, 3, h, w) float tensor on the model's device, in [0, 1].
ImageView = Callable[[int], Tensor]


@runtime_checkable
class RestorationModel(Protocol):
    min_size: int  # smallest input side the model accepts
    pad_multiple: int  # input sides it runs without padding; windows are cut to multiples of it
    scale: int  # output side over input side (1 for restoration)

    def restore(self, x: Tensor, context: Any = None) -> Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 3, H * scale, W * scale); the model pads and crops itself.

        ``context`` is what :meth:`WindowContext.window_context`'s function gave for the window ``x``
        is, or None for a whole image.
        """
        ...


@runtime_checkable
class WindowContext(Protocol):
    def window_context(self, size: tuple[int, int], window: tuple[int, int], view: ImageView) -> Callable[[Window], Any]:
        """Prepare the whole-image view for windows of at most ``window`` (height, width) pixels of
        an image of ``size`` (height, width); ``view`` gives the image downscaled. Returns the
        function that gives each window's ``context`` for :meth:`RestorationModel.restore`.

        Called once per image, under the Restorer's inference mode and precision.
        """
        ...
