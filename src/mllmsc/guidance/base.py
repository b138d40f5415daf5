"""The guidance interface: image + intent + channel state → importance map.

A backend implements :meth:`Guidance.predict` and returns a soft map; :meth:`Guidance.__call__`
validates the input, times the call and thresholds the map into the binary region of interest.
"""

from __future__ import annotations

import time

import torch

from mllmsc.errors import UserError
from mllmsc.types import ChannelState, ImportanceMap


class Guidance:
    """Base class of the guidance backends registered in :data:`mllmsc.guidance.GUIDANCE`.

    Attributes:
        name: registry name, reported in results.
        threshold: soft importance at or above which a pixel is in the binary mask.
    """

    name = "guidance"
    threshold = 0.5

    def __call__(
        self,
        x: torch.Tensor,
        intent: str | None = None,
        csi: ChannelState | None = None,
    ) -> ImportanceMap:
        """Importance of every pixel of ``x`` for the user's ``intent`` under channel state ``csi``.

        Shapes:
            x: ``[B, 3, H, W]`` in [0, 1] → soft ``[B, 1, H, W]`` float in [0, 1], mask bool same.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape [B, 3, H, W], got {tuple(x.shape)}")
        start = time.perf_counter()
        soft, phrases, used_query = self.predict(x, intent, csi)
        soft = soft.clamp(0, 1).to(torch.float32)
        return ImportanceMap(
            soft=soft,
            mask=soft >= self.threshold,
            phrases=list(phrases),
            used_query=used_query,
            backend=self.name,
            latency_ms=1000 * (time.perf_counter() - start),
        )

    def predict(
        self, x: torch.Tensor, intent: str | None, csi: ChannelState | None
    ) -> tuple[torch.Tensor, list[str], bool]:
        """Soft map ``[B, 1, H, W]``, the phrases targeted, whether the intent was used."""
        raise NotImplementedError


class UniformGuidance(Guidance):
    """No guidance: every pixel matters equally (the Deep JSCC / ADJSCC baseline)."""

    name = "uniform"

    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        return x.new_ones(b, 1, h, w), [], False


class MaskGuidance(Guidance):
    """A region of interest the user gives: a mask image (white = important) or a bool tensor.

    Args:
        mask: path of a PNG (any size: resized with nearest to the image) or a tensor
            ``[1, H, W]`` / ``[B, 1, H, W]``.
    """

    name = "mask"

    def __init__(self, mask: str | torch.Tensor | None = None) -> None:
        if mask is None:
            raise UserError("guidance 'mask' needs a mask: pass --mask PNG")
        self.mask = mask

    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        if isinstance(self.mask, torch.Tensor):
            m = self.mask.float()
            m = m if m.dim() == 4 else m.unsqueeze(0)
            if tuple(m.shape[-2:]) != (h, w):
                m = torch.nn.functional.interpolate(m, size=(h, w), mode="nearest")
        else:
            from mllmsc.data.io import read_mask

            m = read_mask(self.mask, size=(h, w)).float().unsqueeze(0)
        return m.expand(b, 1, h, w).to(x.device), [], False


class BoxGuidance(Guidance):
    """A rectangle ``(x0, y0, x1, y1)`` in pixels (end exclusive) as the region of interest."""

    name = "box"

    def __init__(self, box: tuple[int, int, int, int] | None = None) -> None:
        if box is None or len(box) != 4:
            raise UserError("guidance 'box' needs --box x0,y0,x1,y1")
        x0, y0, x1, y1 = (int(v) for v in box)
        if not (0 <= x0 < x1 and 0 <= y0 < y1):
            raise UserError(f"box must satisfy 0 <= x0 < x1 and 0 <= y0 < y1, got {box}")
        self.box = (x0, y0, x1, y1)

    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        x0, y0, x1, y1 = self.box
        if x0 >= w or y0 >= h:
            raise UserError(f"box {self.box} lies outside the {w}×{h} image")
        m = x.new_zeros(b, 1, h, w)
        m[..., y0:y1, x0:x1] = 1
        return m, [], False
