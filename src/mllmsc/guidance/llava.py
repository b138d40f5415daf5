"""``llava``: a multimodal LLM reasons over image + intent + channel state; CLIPSeg maps its answer.

This is MLLM-SC's guidance as the paper builds it (LLaVA names the targets, CLIPSeg turns names
into a map)::

    x, intent, csi ─► prompt (image + request + the link in words) ─► LLaVA.generate ─► answer
    answer ─► parse_answer ─► phrases (fallback: extract_phrases(intent)) ─► CLIPSeg ─► max ─► soft

The channel enters the prompt in words, by buckets: SNR < 0 dB "very poor", 0–5 "poor", 5–10
"fair", 10–15 "good", >= 15 "excellent"; CBR < 1/32 "tight", < 1/12 "moderate", else
"generous"; and the consequence ("only a small region can be sent well, so name only what is
essential") with the number of targets asked for (1 on a poor or very poor link, 2 on a fair one,
3 otherwise, one fewer on a tight budget, never fewer than 1). Because the prompt depends on the
buckets only, answers are cached per (image hash, intent, SNR bucket, CBR bucket): calling the
backend again for the same image and request at 4 and 4.5 dB costs one generation.

Weights: ``llava-hf/llava-1.5-7b-hf`` by default (≈14 GB in bf16), the paper's
``llava-hf/llava-1.5-13b-hf`` or any folder saved by ``save_pretrained`` via ``model=``; loaded
with ``local_files_only=True`` (a missing model is a UserError naming what to download).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import torch

from mllmsc.data.io import images_to_pil
from mllmsc.guidance.base import Guidance
from mllmsc.guidance.clipseg import DEFAULT_CLIPSEG, CLIPSegGuidance, combine
from mllmsc.guidance.phrases import extract_phrases, parse_answer
from mllmsc.hub import missing_model_error, model_present
from mllmsc.types import ChannelState
from mllmsc.vlm import LocalVLM

# (upper bound in dB, word, how much of the image can be sent well, targets to name)
_SNR_BUCKETS = (
    (0.0, "very poor", "SNR below 0 dB"),
    (5.0, "poor", "SNR 0 to 5 dB"),
    (10.0, "fair", "SNR 5 to 10 dB"),
    (15.0, "good", "SNR 10 to 15 dB"),
    (float("inf"), "excellent", "SNR 15 dB or more"),
)
_TARGETS = {"very poor": 1, "poor": 1, "fair": 2, "good": 3, "excellent": 3, None: 3}


def snr_bucket(snr_db: float | None) -> str | None:
    """The SNR in words (``None`` when unknown)."""
    if snr_db is None:
        return None
    for upper, word, _ in _SNR_BUCKETS:
        if snr_db < upper:
            return word
    return _SNR_BUCKETS[-1][1]  # pragma: no cover - inf catches all


def cbr_bucket(cbr: float | None) -> str | None:
    """The bandwidth budget in words (``None`` when unknown)."""
    if cbr is None:
        return None
    return "tight" if cbr < 1 / 32 else "moderate" if cbr < 1 / 12 else "generous"


def n_targets(csi: ChannelState | None) -> int:
    """How many targets the prompt asks for under ``csi``."""
    snr = snr_bucket(csi.snr_db) if csi else None
    budget = cbr_bucket(csi.cbr) if csi else None
    return max(1, _TARGETS[snr] - (1 if budget == "tight" else 0))


def describe_channel(csi: ChannelState | None) -> str:
    """The channel condition as a sentence for the prompt.

    >>> describe_channel(ChannelState(snr_db=1.0, cbr=1 / 64))[:70]
    'The link is poor (SNR 0 to 5 dB) and the bandwidth budget is tight, so'
    """
    snr = snr_bucket(csi.snr_db) if csi else None
    budget = cbr_bucket(csi.cbr) if csi else None
    if snr is None and budget is None:
        return "The channel condition is unknown."
    parts = []
    if snr is not None:
        rng = next(r for _, w, r in _SNR_BUCKETS if w == snr)
        parts.append(f"the link is {snr} ({rng})")
    if budget is not None:
        parts.append(f"the bandwidth budget is {budget}")
    sentence = " and ".join(parts)
    sentence = sentence[0].upper() + sentence[1:]
    if snr in ("very poor", "poor") or budget == "tight":
        return f"{sentence}, so only a small region can be sent well: name only what is essential."
    if snr == "fair" or budget == "moderate":
        return f"{sentence}, so only part of the image can be sent well: name the main targets."
    return f"{sentence}, so most of the image can be sent well."


def build_prompt(intent: str | None, csi: ChannelState | None) -> str:
    """The question put to the multimodal LLM (the image comes with it)."""
    request = (
        f'"{intent.strip()}"'
        if intent and intent.strip()
        else "not given (choose what a viewer looks at first)"
    )
    k = n_targets(csi)
    return (
        "This image is being sent to a receiver over a wireless link. "
        f"The receiver's request is {request}. {describe_channel(csi)} "
        "Which objects or regions of the image does the receiver need to fulfil the request? "
        f"Answer only with a comma-separated list of at most {k} short object name"
        f"{'s' if k > 1 else ''}, most important first."
    )


def image_hash(x: torch.Tensor) -> str:
    """SHA-1 of an image's 8-bit pixels and shape (``[3, H, W]`` in [0, 1])."""
    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().contiguous()
    h = hashlib.sha1(str(tuple(u8.shape)).encode())
    h.update(u8.numpy().tobytes())
    return h.hexdigest()


class LlavaGuidance(Guidance):
    """LLaVA names what the receiver needs, given the intent and the channel; CLIPSeg maps it.

    Args:
        model: LLaVA folder or cached hub id (default ``llava-hf/llava-1.5-7b-hf``).
        clipseg_model: CLIPSeg folder or cached hub id (default ``CIDAS/clipseg-rd64-refined``).
        device: where both models run.
        dtype: LLaVA's dtype; default bfloat16 on CPU (a 7B model in float32 needs 28 GB),
            float16 on an accelerator. CLIPSeg stays in float32 on CPU.
        max_new_tokens: length cap of the answer.
        cache_size: answers kept (LRU), keyed by (image hash, intent, SNR bucket, CBR bucket).
        max_phrases: the most phrases segmented per image.

    Attributes:
        last_answers: the raw answers of the last call, one per image (for reports and debugging).
    """

    name = "llava"
    channel_aware = True

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        clipseg_model: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        max_new_tokens: int = 48,
        cache_size: int = 256,
        max_phrases: int = 4,
    ) -> None:
        clipseg_id = str(clipseg_model) if clipseg_model is not None else DEFAULT_CLIPSEG
        # The small model's probe first: a missing CLIPSeg is reported before LLaVA loads.
        if not model_present(clipseg_id):
            raise missing_model_error("CLIPSeg", clipseg_id, "clipseg_model")
        self.vlm = LocalVLM(model, device=device, dtype=dtype, max_new_tokens=max_new_tokens)
        self.model_id = self.vlm.model_id
        self.clipseg = CLIPSegGuidance(clipseg_id, device=device, max_phrases=max_phrases)
        self.device = device
        self.max_phrases = max_phrases
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, tuple[str, list[str]]] = OrderedDict()
        self.last_answers: list[str] = []

    def ask(self, image, intent: str | None, csi: ChannelState | None) -> str:
        """LLaVA's raw answer for one PIL image."""
        return self.vlm.ask(image, build_prompt(intent, csi))

    def phrases_for_image(self, x1: torch.Tensor, image, intent, csi) -> tuple[str, list[str]]:
        """``(answer, phrases)`` for one image ``[3, H, W]``, through the cache."""
        key = (
            image_hash(x1),
            (intent or "").strip(),
            snr_bucket(csi.snr_db) if csi else None,
            cbr_bucket(csi.cbr) if csi else None,
        )
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        answer = self.ask(image, intent, csi)
        phrases = parse_answer(answer, max_phrases=self.max_phrases)
        if not phrases:  # junk or empty answer: fall back to the intent's own phrases
            phrases = extract_phrases(intent, max_phrases=self.max_phrases)
        self._cache[key] = (answer, phrases)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return answer, phrases

    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        images = images_to_pil(x)
        maps, all_phrases, answers = [], [], []
        for i in range(b):
            answer, phrases = self.phrases_for_image(x[i], images[i], intent, csi)
            answers.append(answer)
            if phrases:
                maps.append(combine(self.clipseg.segment(x[i : i + 1], phrases)))
            else:  # nothing named and no intent: everything matters
                maps.append(x.new_ones(1, 1, h, w))
            all_phrases += [p for p in phrases if p not in all_phrases]
        self.last_answers = answers
        used = bool(intent and intent.strip())
        return torch.cat(maps).to(x.device), all_phrases, used
