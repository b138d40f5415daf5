"""Semantic guidance: image + user intent + channel state → importance map (MLLM-SC's edge module).

>>> from mllmsc.guidance import GUIDANCE, build_guidance
>>> guide = build_guidance("auto")                      # clipseg → tiny-refseg → saliency
>>> imp = guide(x, "what colour is the car?", ChannelState(snr_db=10.0, cbr=1 / 16))
>>> imp.soft, imp.mask, imp.phrases, imp.used_query, imp.backend

Backends (registry :data:`GUIDANCE`, default :data:`DEFAULT_GUIDANCE` = ``auto``):

========== ============================================================== ===================
name       what                                                           needs
========== ============================================================== ===================
auto       the first of clipseg, tiny-refseg, saliency that is here        nothing
           (tiny-refseg only for queries inside its world: auto.py)
clipseg    CLIPSeg maps of the intent's noun phrases (max-combined)        CLIPSeg weights
llava      LLaVA names the targets from image+intent+channel; CLIPSeg maps LLaVA + CLIPSeg
saliency   spectral-residual saliency, query-agnostic                      nothing
tiny-refseg the embedded text-conditioned segmenter                        shipped weights
mask, box  a region the user gives (never tightened by the channel)       --mask / --box
uniform    no guidance (the Deep JSCC / ADJSCC baseline)                   nothing
========== ============================================================== ===================

Predicted maps narrow as SNR and budget fall (the rule is in :mod:`mllmsc.guidance.base`).
Modules that need ``transformers`` import it only when their backend is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mllmsc.errors import UserError
from mllmsc.registry import Registry

if TYPE_CHECKING:
    from mllmsc.guidance.base import Guidance

# Every backend loads on first use (torch, transformers): a name can be checked
# (GUIDANCE.require) before anything heavy is imported.
GUIDANCE: Registry[Guidance] = Registry("guidance backend")
GUIDANCE.register_lazy("uniform", "mllmsc.guidance.base:UniformGuidance")
GUIDANCE.register_lazy("mask", "mllmsc.guidance.base:MaskGuidance")
GUIDANCE.register_lazy("box", "mllmsc.guidance.base:BoxGuidance")

DEFAULT_GUIDANCE = "auto"


@GUIDANCE.register("clipseg")
def _clipseg(**kwargs: Any) -> Guidance:
    from mllmsc.guidance.clipseg import CLIPSegGuidance

    return CLIPSegGuidance(**kwargs)


@GUIDANCE.register("llava")
def _llava(**kwargs: Any) -> Guidance:
    from mllmsc.guidance.llava import LlavaGuidance

    return LlavaGuidance(**kwargs)


@GUIDANCE.register("saliency")
def _saliency() -> Guidance:
    from mllmsc.guidance.saliency import SaliencyGuidance

    return SaliencyGuidance()


@GUIDANCE.register("tiny-refseg")
def _tiny_refseg(**kwargs: Any) -> Guidance:
    from mllmsc.guidance.refseg import TinyRefSegGuidance

    return TinyRefSegGuidance(**kwargs)


@GUIDANCE.register("auto")
def _auto(**kwargs: Any) -> Guidance:
    from mllmsc.guidance.auto import AutoGuidance

    return AutoGuidance(**kwargs)


# Which options each backend takes (the CLI passes only what was given).
_OPTIONS = {
    "clipseg": {"model", "device", "dtype"},
    "llava": {"model", "clipseg_model", "device", "dtype"},
    "tiny-refseg": {"model", "device"},
    "auto": {"model", "device"},
    "mask": {"mask"},
    "box": {"box"},
    "saliency": set(),
    "uniform": set(),
}


def build_guidance(name: str = DEFAULT_GUIDANCE, **options: Any) -> Guidance:
    """Build backend ``name`` from the options the user gave (``None`` values are dropped).

    Options: ``model`` (folder or cached hub id; ``--guidance-model``), ``clipseg_model``,
    ``device``, ``dtype``, ``mask``, ``box``. An option the backend does not take is a
    :class:`~mllmsc.errors.UserError` (so ``--guidance-model`` with ``saliency`` is not ignored
    silently).
    """
    factory = GUIDANCE.get(name)  # unknown names list the valid ones
    given = {k: v for k, v in options.items() if v is not None}
    allowed = _OPTIONS.get(name)
    if allowed is not None:
        extra = sorted(set(given) - allowed)
        if extra:
            flags = ", ".join("--guidance-model" if k == "model" else k for k in extra)
            raise UserError(f"guidance {name!r} does not take {flags}")
    return factory(**given)


_LAZY = ("BoxGuidance", "Guidance", "MaskGuidance", "UniformGuidance")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("mllmsc.guidance.base"), name)
    raise AttributeError(f"module 'mllmsc.guidance' has no attribute {name!r}")


__all__ = [
    "DEFAULT_GUIDANCE",
    "GUIDANCE",
    "BoxGuidance",
    "Guidance",
    "MaskGuidance",
    "UniformGuidance",
    "build_guidance",
]
