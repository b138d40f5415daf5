"""Shared fixtures. Tests run offline and never need ../shared."""

import json
import os

import pytest
import torch

# Code under test must never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path_factory, monkeypatch):
    """Hide the user's Hugging Face cache: a CLIPSeg there would change what ``auto`` picks.

    The probe (``huggingface_hub.try_to_load_from_cache``) reads ``constants.HF_HUB_CACHE``, fixed at
    import, so that is patched besides the environment (which subprocesses inherit).
    """
    import huggingface_hub.constants

    empty = tmp_path_factory.getbasetemp() / "empty-hf-cache"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(empty))


@pytest.fixture
def one_thread():
    """One torch thread for the test (small ops crawl when two threads fight), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def gen():
    """A fresh seeded generator: every random draw in a test comes from it."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def symbols(gen):
    """``symbols(batch, n)``: complex Gaussian ``[batch, n]`` with power exactly 1 per item, from ``gen``."""
    from mllmsc.channel import power_normalize

    def draw(batch: int, n: int) -> torch.Tensor:
        return power_normalize(torch.randn(batch, n, dtype=torch.complex64, generator=gen))

    return draw


@pytest.fixture(scope="session")
def tiny_codec_dir(tmp_path_factory):
    """A tiny random IA-JSCC saved through the same save/load path as the shipped weights."""
    from mllmsc.codec import IAJSCC, IAJSCCConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-codec")
    IAJSCC(IAJSCCConfig(channels=(4, 4, 4, 4), k_max=192, res_blocks=1)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_refiner_dir(tmp_path_factory):
    """A tiny random generative refiner (2-level UNet of 8 channels) saved as shipped weights are."""
    from mllmsc.decoder.refiner import GenerativeRefiner, RefinerConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-refiner")
    config = RefinerConfig(block_out_channels=(8, 8), norm_num_groups=4, train_timesteps=50)
    GenerativeRefiner(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def photo_path(tmp_path_factory):
    """A small real photo (scikit-image's astronaut, 96×128) as PNG."""
    import numpy as np
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    image = Image.fromarray(data.astronaut()).resize((128, 96), Image.BICUBIC)
    image.save(path)
    assert np.asarray(Image.open(path)).shape == (96, 128, 3)
    return path


@pytest.fixture(scope="session")
def tiny_vqa_dir(tmp_path_factory):
    """A tiny random TinyVQA (receiver answerer) saved through the shipped weights' save/load path."""
    from mllmsc.guidance.tiny_refseg_model import TinyRefSegConfig
    from mllmsc.tasks.tiny_vqa_model import TinyVQA, TinyVQAConfig

    torch.manual_seed(0)
    words = ("<pad>", "<unk>", "what", "colour", "is", "the", "ring", "how", "many", "squares")
    grounding = TinyRefSegConfig(
        vocab=words, image_size=32, widths=(4, 8, 8), stem=4, embed=8, attn_layers=1, heads=2
    )
    path = tmp_path_factory.mktemp("tiny-vqa")
    TinyVQA(TinyVQAConfig(grounding=grounding, hidden=16)).save_pretrained(path)
    return path


# ---- tiny random Hugging Face models (CLIPSeg, LLaVA) saved to folders ----
# Both processors are built offline: CLIPSeg's from a tiny CLIP BPE vocabulary, LLaVA's from a
# WordLevel tokenizer (``tokenizers``) wrapped in ``PreTrainedTokenizerFast`` plus a CLIP image
# processor and a chat template, saved with ``save_pretrained`` and loaded back by the backends.

WORDS = [
    "<unk>", "<s>", "</s>", "<pad>", "<image>", "USER", ":", "ASSISTANT", "the", "red", "circle",
    "blue", "star", ",", ".", "and", "a", "square", "1", "2",
]  # fmt: skip


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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
