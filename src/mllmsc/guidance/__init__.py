"""Semantic guidance: image + user intent + channel state → importance map (MLLM-SC's edge module).

>>> from mllmsc.guidance import GUIDANCE
>>> guide = GUIDANCE.build("mask", mask="roi.png")
>>> imp = guide(x, "what colour is the car?", ChannelState(snr_db=10.0, cbr=1 / 16))
>>> imp.soft, imp.mask, imp.phrases, imp.used_query

Backends now: ``uniform`` (no guidance), ``mask`` (a given PNG), ``box`` (a given rectangle).
The semantic backends (CLIPSeg, LLaVA, saliency, the embedded text-conditioned segmenter) plug into
the same registry.
"""

from mllmsc.guidance.base import BoxGuidance, Guidance, MaskGuidance, UniformGuidance
from mllmsc.registry import Registry

GUIDANCE: Registry[Guidance] = Registry("guidance backend")
GUIDANCE.register("uniform")(UniformGuidance)
GUIDANCE.register("mask")(MaskGuidance)
GUIDANCE.register("box")(BoxGuidance)

__all__ = ["GUIDANCE", "BoxGuidance", "Guidance", "MaskGuidance", "UniformGuidance"]
