"""The guidance interface: image + intent + channel state → importance map.

A backend implements :meth:`Guidance.predict` and returns a soft map; :meth:`Guidance.__call__`
validates the input, times the call and thresholds the map into the binary region of interest.

Channel awareness (MLLM-SC §III: the edge model "adapts the importance to the channel"): at a low
SNR or a small bandwidth budget the codec cannot send a large region well, so the region of
interest of a *predicted* map narrows to the pixels the backend is surest of. The rule, applied
here for every backend with ``channel_aware = True`` (``clipseg``, ``llava``, ``saliency``,
``tiny-refseg``) and never for a region the user gave (``mask``, ``box``) nor for ``uniform``::

    q_snr = Q_MIN + (1 - Q_MIN) · clip((snr_db - SNR_LOW) / (SNR_HIGH - SNR_LOW), 0, 1)
    q_cbr = Q_MIN + (1 - Q_MIN) · clip(log2(cbr / CBR_LOW) / log2(CBR_HIGH / CBR_LOW), 0, 1)
    q     = q_snr · q_cbr                       (1 when a field of the channel state is None)

    mask  = the top-q fraction (by soft value) of the pixels with soft >= threshold
          = soft >= t_q, with t_q the q-quantile from the top of the soft values inside the mask
    soft  ← soft ** γ with γ = log(threshold) / log(t_q) >= 1, so that soft >= threshold is again
            exactly the tightened mask and the allocator, which spends symbols by the soft map,
            narrows with it.

With ``SNR_LOW = 0 dB``, ``SNR_HIGH = 12 dB``, ``CBR_LOW = 1/64``, ``CBR_HIGH = 1/8`` and
``Q_MIN = 0.4``: at 12 dB and CBR 1/8 or more nothing changes; at 0 dB and CBR 1/64 the mask keeps
the surest 16 % of its pixels. The kept sets are nested (a higher quantile threshold keeps a
subset), so the mask area never grows as the SNR or the budget falls. Without channel state
(``csi=None`` or both fields ``None``) the map is returned as the backend made it.
"""

from __future__ import annotations

import math
import time

import torch

from mllmsc.errors import UserError
from mllmsc.types import ChannelState, ImportanceMap

# The channel-awareness rule (see the module docstring).
SNR_LOW_DB = 0.0
SNR_HIGH_DB = 12.0
CBR_LOW = 1 / 64
CBR_HIGH = 1 / 8
Q_MIN = 0.4


def keep_fraction(csi: ChannelState | None) -> float:
    """Fraction ``q`` in ``[Q_MIN², 1]`` of the region of interest that the channel state allows.

    Non-decreasing in ``snr_db`` and in ``cbr``; 1 without channel state.
    """
    if csi is None:
        return 1.0
    q = 1.0
    if csi.snr_db is not None:
        t = (float(csi.snr_db) - SNR_LOW_DB) / (SNR_HIGH_DB - SNR_LOW_DB)
        q *= Q_MIN + (1 - Q_MIN) * min(max(t, 0.0), 1.0)
    if csi.cbr is not None and csi.cbr > 0:
        t = math.log2(float(csi.cbr) / CBR_LOW) / math.log2(CBR_HIGH / CBR_LOW)
        q *= Q_MIN + (1 - Q_MIN) * min(max(t, 0.0), 1.0)
    return q


def tighten(soft: torch.Tensor, q: float, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the top-``q`` fraction of the region ``soft >= threshold``, per image.

    Args:
        soft: importance in [0, 1].
        q: fraction in (0, 1] of the region to keep; 1 keeps everything.
        threshold: the soft value at which a pixel is in the region.

    Returns:
        ``(soft, mask)``: the soft map sharpened by a power ``γ >= 1`` so that ``soft >= threshold``
        is (up to rounding) the tightened region, and the tightened region itself.

    Shapes:
        soft: ``[B, 1, H, W]`` float → soft ``[B, 1, H, W]`` float, mask ``[B, 1, H, W]`` bool.
    """
    mask = soft >= threshold
    if q >= 1.0:
        return soft, mask
    out_soft, out_mask = soft.clone(), mask.clone()
    for b in range(soft.shape[0]):
        inside = soft[b][mask[b]]
        if inside.numel() == 0:
            continue
        n_keep = max(1, math.ceil(q * inside.numel()))
        t_q = float(torch.topk(inside, n_keep, sorted=False).values.min())
        out_mask[b] = soft[b] >= t_q
        if t_q < 1.0:
            gamma = math.log(threshold) / math.log(max(t_q, threshold))
            out_soft[b] = soft[b].clamp_min(0).pow(gamma)
    return out_soft, out_mask


class Guidance:
    """Base class of the guidance backends registered in :data:`mllmsc.guidance.GUIDANCE`.

    Attributes:
        name: registry name, reported in results.
        threshold: soft importance at or above which a pixel is in the binary mask.
        channel_aware: whether the channel state tightens the mask (predicted maps only; see the
            module docstring for the rule).
    """

    name = "guidance"
    threshold = 0.5
    channel_aware = False

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
        check_images(x)
        start = time.perf_counter()
        soft, phrases, used_query = self.predict(x, intent, csi)
        return self.finish(soft, phrases, used_query, csi, start)

    def finish(
        self,
        soft: torch.Tensor,
        phrases: list[str],
        used_query: bool,
        csi: ChannelState | None,
        start: float,
    ) -> ImportanceMap:
        """This backend's :class:`ImportanceMap` of a predicted soft map: clamp, channel rule, mask.

        ``start`` is the ``time.perf_counter()`` at which the call began (the latency counts from it).

        Shapes:
            soft: ``[B, 1, H, W]`` → the map's soft and mask, ``[B, 1, H, W]`` float32 and bool.
        """
        soft = soft.clamp(0, 1).to(torch.float32)
        if self.channel_aware:
            soft, mask = tighten(soft, keep_fraction(csi), self.threshold)
        else:
            mask = soft >= self.threshold
        return ImportanceMap(
            soft=soft,
            mask=mask,
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


def check_images(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a non-empty batch of RGB images ``[B, 3, H, W]``."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"x must have shape [B, 3, H, W], got {tuple(x.shape)}")
    if x.shape[-1] == 0 or x.shape[-2] == 0 or x.shape[0] == 0:
        raise ValueError(f"x is empty: {tuple(x.shape)}")


class UniformGuidance(Guidance):
    """No guidance: every pixel matters equally (the Deep JSCC / ADJSCC baseline)."""

    name = "uniform"

    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        return x.new_ones(b, 1, h, w), [], False


class MaskGuidance(Guidance):
    """A region of interest the user gives: a mask image (white = important) or a bool tensor.

    Never tightened by the channel state: the user said what matters.

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
    """A rectangle ``(x0, y0, x1, y1)`` in pixels (end exclusive) as the region of interest.

    Never tightened by the channel state: the user said what matters.
    """

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
