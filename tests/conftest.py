"""Shared fixtures. Tests run offline and never need ../shared."""

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
