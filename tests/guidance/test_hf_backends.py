"""clipseg and llava end to end through from_pretrained, on tiny random models saved to a folder.

Both processors are built offline: CLIPSeg's from a tiny CLIP BPE vocabulary, LLaVA's from a
WordLevel tokenizer (``tokenizers``) wrapped in ``PreTrainedTokenizerFast`` plus a CLIP image
processor and a chat template, saved with ``save_pretrained`` and loaded back by the backend.
"""

import json

import pytest
import torch

from mllmsc.guidance import GUIDANCE, build_guidance
from mllmsc.types import ChannelState

torch.set_num_threads(1)

WORDS = [
    "<unk>", "<s>", "</s>", "<pad>", "<image>", "USER", ":", "ASSISTANT", "the", "red", "circle",
    "blue", "star", ",", ".", "and", "a", "square", "1", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def clipseg_dir(tmp_path_factory):
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPTokenizer,
        ViTImageProcessor,
    )

    path = tmp_path_factory.mktemp("tiny-clipseg")
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {c: i for i, c in enumerate(letters)}
    vocab |= {c + "</w>": len(letters) + i for i, c in enumerate(letters)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    images = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    torch.manual_seed(0)
    config = CLIPSegConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=32, bos_token_id=len(vocab) - 2,
            eos_token_id=len(vocab) - 1, pad_token_id=len(vocab) - 1,
        ),
        vision_config=dict(
            hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=8,
        ),
        projection_dim=8, extract_layers=[1], reduce_dim=8, decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )  # fmt: skip
    CLIPSegForImageSegmentation(config).save_pretrained(path)
    CLIPSegProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    path = tmp_path_factory.mktemp("tiny-llava")
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.add_special_tokens(["<image>", "<s>", "</s>", "<pad>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    template = (
        "{% for m in messages %}{{ m['role'].upper() }}: {% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}"
        "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}),
        tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, image_token="<image>", chat_template=template,
    )  # fmt: skip
    torch.manual_seed(0)
    config = LlavaConfig(
        vision_config=dict(
            model_type="clip_vision_model", hidden_size=16, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, image_size=28, patch_size=14,
        ),
        text_config=dict(
            model_type="llama", vocab_size=len(WORDS), hidden_size=16, intermediate_size=32,
            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        ),
        image_token_index=WORDS.index("<image>"), vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )  # fmt: skip
    LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_clipseg_end_to_end(clipseg_dir):
    guide = GUIDANCE.build("clipseg", model=str(clipseg_dir))
    x = torch.rand(2, 3, 40, 56)
    imp = guide(x, "focus on the red circle and the blue star")
    assert imp.soft.shape == (2, 1, 40, 56) and imp.mask.shape == (2, 1, 40, 56)
    assert imp.mask.dtype == torch.bool and imp.soft.min() >= 0 and imp.soft.max() <= 1
    assert imp.phrases == ["red circle", "blue star"] and imp.used_query and imp.backend == "clipseg"
    # one map per phrase, combined by the max
    per_phrase = guide.segment(x, imp.phrases)
    assert per_phrase.shape == (2, 2, 40, 56)
    assert torch.allclose(imp.soft, per_phrase.amax(dim=1, keepdim=True), atol=1e-6)
    single = guide(x[:1], "the red circle")  # a batch of one (CLIPSeg squeezes it)
    assert single.soft.shape == (1, 1, 40, 56)
    assert torch.allclose(single.soft, per_phrase[:1, :1], atol=1e-5)
    empty = guide(x, "")  # nothing to look for: everything matters, the query is not used
    assert torch.all(empty.soft == 1) and empty.used_query is False


def test_auto_picks_clipseg_when_it_is_here(clipseg_dir):
    guide = build_guidance("auto", model=str(clipseg_dir))
    assert guide(torch.rand(1, 3, 24, 24), "the star").backend == "clipseg"
    assert guide.reason == "auto chose clipseg"


def test_llava_end_to_end_with_the_channel_in_the_prompt(clipseg_dir, llava_dir):
    from mllmsc.guidance.llava import build_prompt, describe_channel

    guide = GUIDANCE.build(
        "llava", model=str(llava_dir), clipseg_model=str(clipseg_dir), dtype="float32", max_new_tokens=6
    )
    x = torch.rand(2, 3, 36, 44)
    imp = guide(x, "what colour is the square?", ChannelState(snr_db=1.0, cbr=1 / 64))
    assert imp.soft.shape == (2, 1, 36, 44) and imp.backend == "llava" and imp.used_query
    assert len(guide.last_answers) == 2 and imp.phrases  # junk answers fall back to the intent
    assert "poor" in describe_channel(ChannelState(snr_db=1.0))
    prompt = build_prompt("the red car", ChannelState(snr_db=1.0, cbr=1 / 64))
    assert "the red car" in prompt and "only a small region can be sent well" in prompt
    assert "at most 1 short object name," in prompt
    assert "most of the image" in build_prompt("x", ChannelState(snr_db=20.0, cbr=0.5))
    # cached per (image, intent, SNR bucket, CBR bucket): same bucket, no new generation
    calls = []
    original = guide.ask
    guide.ask = lambda *a: calls.append(a) or original(*a)
    guide(x, "what colour is the square?", ChannelState(snr_db=2.0, cbr=1 / 64))
    assert calls == []
    guide(x[:1], "what colour is the square?", ChannelState(snr_db=12.0, cbr=1 / 64))
    assert len(calls) == 1


def test_llava_answers_become_phrases_and_maps(clipseg_dir, llava_dir):
    guide = GUIDANCE.build(
        "llava", model=str(llava_dir), clipseg_model=str(clipseg_dir), dtype="float32", max_new_tokens=2
    )
    guide.ask = lambda image, intent, csi: "1. The red circle\n2. the blue star (it is small)"
    imp = guide(torch.rand(1, 3, 32, 32), "what is in the picture?", None)
    assert imp.phrases == ["red circle", "blue star"]
    expected = guide.clipseg.segment(torch.rand(1, 3, 32, 32) * 0, []).shape  # empty → no maps
    assert expected == (1, 0, 32, 32)
