"""The weights shipped as package data load and work on a real photo."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from skimage import data

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC, allocate_uniform, symbol_budget
from mllmsc.eval.metrics import psnr
from mllmsc.pretrained import WeightsError
from mllmsc.weights import shipped_weights, weights_path


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread (a shared 2-core machine), and the caller's setting back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ia_jscc_is_shipped_as_safetensors_with_its_config_and_provenance():
    assert "ia-jscc" in shipped_weights()
    folder = weights_path("ia-jscc")
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == "ia-jscc" and config["k_max"] >= 96
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert int(meta["step"]) > 0 and meta["preset"] == "configs/codec.toml"
    tensors = load_file(str(folder / "model.safetensors"))
    assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}
    # the shipped config is exactly the config dataclass (no retired keys) and rebuilds the model
    assert IAJSCC.config_from_folder(folder) == IAJSCC.from_pretrained(folder).config


def test_a_missing_shipped_model_is_a_weights_error():
    with pytest.raises(WeightsError, match="'nonexistent' not found .*available: .*ia-jscc"):
        weights_path("nonexistent")


def test_shipped_codec_rebuilds_a_bundled_photo_above_25_db_at_20_db_cbr_1_8():
    x = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float()[None] / 255  # 300×451, not a multiple of 16
    codec = IAJSCC.from_pretrained(weights_path("ia-jscc")).eval()
    _, _, h, w = x.shape
    budget = symbol_budget(1 / 8, h, w)
    alloc = allocate_uniform(
        1, h, w, budget, cell=codec.cell, k_max=codec.k_max, reserved=codec.header_symbols
    )
    with torch.inference_mode():
        out = codec(x, alloc.k, 20.0, CHANNELS.build("awgn"), generator=torch.Generator().manual_seed(0))
    assert out.x_hat.shape == x.shape
    assert int(out.mask.sum()) + codec.header_symbols <= budget
    value = float(psnr(x, out.x_hat)[0])
    flat = float(psnr(x, x.mean(dim=(2, 3), keepdim=True).expand_as(x))[0])  # the mean colour alone
    assert value > 25.0 and value > flat + 5


def test_tiny_refseg_is_shipped_with_provenance():
    assert "tiny-refseg" in shipped_weights()
    with safe_open(str(weights_path("tiny-refseg") / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert int(meta["step"]) > 0 and meta["preset"] == "configs/tiny_refseg.toml"


def test_shipped_tiny_refseg_finds_what_each_query_names_on_unseen_scenes():
    from mllmsc.data.scenes import generate_scene
    from mllmsc.eval.metrics import iou
    from mllmsc.guidance import build_guidance

    guide = build_guidance("tiny-refseg")
    scores, distinct = [], 0
    for index in range(6):  # seed 7: neither the training (1) nor the validation (2) seed
        scene = generate_scene(7, index, size=256)  # procedural backgrounds: no ../shared needed
        x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
        masks = []
        for expr in scene.expressions:
            result = guide(x, expr.text)
            assert result.used_query and result.backend == "tiny-refseg"
            scores.append(float(iou(result.mask, torch.from_numpy(expr.mask)[None, None])[0]))
            masks.append(result.mask)
        # the same image with different queries gives different masks
        distinct += sum(not torch.equal(a, b) for a, b in zip(masks, masks[1:], strict=False))
    assert sum(scores) / len(scores) > 0.6
    assert distinct >= len(scores) // 2


def test_auto_uses_tiny_refseg_for_scene_queries_when_clipseg_is_absent(tmp_path):
    from mllmsc.data.scenes import generate_scene
    from mllmsc.guidance import build_guidance

    guide = build_guidance("auto", model=str(tmp_path / "no-clipseg"))
    # auto takes tiny-refseg's map only where it is crisp, as on a scene (not on noise or photos)
    scene = generate_scene(7, 0, size=256)
    x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
    assert guide(x, scene.expressions[0].text).backend == "tiny-refseg"
    assert guide(x, "the astronaut's face").backend == "saliency"


def test_tiny_vqa_is_shipped_with_provenance():
    assert "tiny-vqa" in shipped_weights()
    with safe_open(str(weights_path("tiny-vqa") / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert int(meta["step"]) > 0 and meta["preset"] == "configs/tiny_vqa.toml"


def test_shipped_tiny_vqa_answers_unseen_clean_scenes_far_above_chance():
    from mllmsc.data.scenes import generate_scene
    from mllmsc.tasks import ANSWERERS

    answerer = ANSWERERS.build("tiny-vqa")
    right = total = 0
    for index in range(8):  # seed 7: no training (3), validation (2) or benchmark (0) scene
        scene = generate_scene(7, index, size=256)  # procedural backgrounds: no ../shared needed
        questions = [e for e in scene.expressions if e.type == "question"]
        x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
        answers = answerer(x.expand(len(questions), -1, -1, -1), [q.text for q in questions])
        right += sum(a.text == q.answer for a, q in zip(answers, questions, strict=True))
        total += len(questions)
    # chance is 1/7 (shapes) to 1/9 (places); the shipped model is measured in BENCHMARKS.md
    assert total >= 20 and right / total > 0.6


def test_shipped_generative_refiner_adds_naturalness_within_its_psnr_budget_at_12_db():
    """The bundled astronaut photo over AWGN 12 dB, CBR 1/96: the refiner's posterior mean
    (perception 0) is no worse than the JSCC output, and ``generative-balanced`` is more natural
    (NIQE) at most 1.5 dB below it, for the same symbols."""
    from mllmsc.decoder import ReceiverContext
    from mllmsc.decoder.generative import GenerativeDecoder
    from mllmsc.decoder.refiner import GenerativeRefiner
    from mllmsc.eval.metrics import niqe
    from mllmsc.methods import METHODS

    assert "generative-refiner" in shipped_weights()
    folder = weights_path("generative-refiner")
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        assert f.metadata()["preset"] == "configs/generative.toml"
    x = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float()[None] / 255  # 512×512
    channel = CHANNELS.build("awgn")
    sent = {
        name: METHODS.build(name)(x, None, channel, 12.0, 1 / 96, generator=torch.Generator().manual_seed(0))
        for name in ("uniform-jscc", "generative-balanced")
    }
    fast, balanced = sent["uniform-jscc"], sent["generative-balanced"]
    assert torch.equal(balanced.symbols.total, fast.symbols.total)
    context = ReceiverContext(
        snr_db=torch.full((1,), 12.0), cbr=fast.symbols.total.float() / x[0].numel(),
        importance=torch.ones(1, 1, *x.shape[-2:]),
    )  # fmt: skip
    mean = GenerativeDecoder(
        "balanced", model=GenerativeRefiner.from_pretrained(folder), steps=1, perception=0.0
    )
    p_fast = float(psnr(x, fast.x_hat)[0])
    assert float(psnr(x, mean(fast.x_hat, context).x)[0]) > p_fast - 0.2
    assert float(psnr(x, balanced.x_hat)[0]) > p_fast - 1.5
    assert float(niqe(balanced.x_hat)[0]) < float(niqe(fast.x_hat)[0])
