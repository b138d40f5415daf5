"""A local vision-language chat model (LLaVA and its kin): one image and one text in, text out.

The guidance backend ``llava`` asks it what the receiver needs; the answerer ``llava`` asks it the
user's question about the received image. Both hold one :class:`LocalVLM`::

    PIL image, text ─► chat template (the processor's, else LLaVA-1.5's "USER: <image>\\n… ASSISTANT:")
                    ─► processor ─► model.generate (greedy) ─► the new tokens, decoded ─► str

Weights load from a local folder or the Hugging Face cache only (:mod:`mllmsc.hub`).
"""

from __future__ import annotations

import os

import torch

from mllmsc.hub import load_pretrained, missing_model_error, model_present, resolve_dtype

DEFAULT_LLAVA = "llava-hf/llava-1.5-7b-hf"


class LocalVLM:
    """A LLaVA-style model and its processor, for greedy single-turn chats.

    Args:
        model: a folder saved with ``save_pretrained`` or a hub id in the local cache
            (default ``llava-hf/llava-1.5-7b-hf``).
        device: where it runs (the user owns the device).
        dtype: default bfloat16 on CPU (a 7B model in float32 needs 28 GB), float16 on an
            accelerator; or a name / torch dtype.
        max_new_tokens: length cap of an answer.
        option: the command-line option that names the model (for the missing-model message).

    Raises:
        UserError: the model is not on this machine, or does not load.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        max_new_tokens: int = 48,
        option: str = "--guidance-model",
    ) -> None:
        self.model_id = str(model) if model is not None else DEFAULT_LLAVA
        if not model_present(self.model_id):  # before importing transformers: errors stay fast
            raise missing_model_error("LLaVA", self.model_id, option)
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        if dtype is None:
            dtype = torch.bfloat16 if str(device).startswith("cpu") else torch.float16
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.model, self.processor = load_pretrained(
            "LLaVA", LlavaForConditionalGeneration, AutoProcessor, self.model_id, device=device,
            dtype=resolve_dtype(dtype, device),
        )  # fmt: skip

    def chat(self, text: str) -> str:
        """The full prompt string: the processor's chat template, else the LLaVA-1.5 format."""
        image_token = getattr(self.processor, "image_token", None) or "<image>"
        if getattr(self.processor, "chat_template", None):
            conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
            return self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        return f"USER: {image_token}\n{text} ASSISTANT:"

    @torch.inference_mode()
    def ask(self, image, text: str) -> str:
        """The model's reply (greedy) to ``text`` about one PIL ``image``."""
        inputs = self.processor(images=image, text=self.chat(text), return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        tokenizer = self.processor.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        out = self.model.generate(
            **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad
        )
        return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
