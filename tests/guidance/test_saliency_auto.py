"""Saliency sanity, the auto fallback, tiny-refseg's hook and clear errors for missing models."""

import sys

import pytest
import torch

from mllmsc.errors import UserError
from mllmsc.eval.metrics import iou
from mllmsc.guidance import DEFAULT_GUIDANCE, GUIDANCE, build_guidance
from mllmsc.types import ChannelState


def _square(y0, x0, side):
    gen = torch.Generator().manual_seed(0)
    x = 0.3 + 0.02 * torch.randn(1, 3, 96, 128, generator=gen)
    x[..., y0 : y0 + side, x0 : x0 + side] += 0.6
    target = torch.zeros(1, 1, 96, 128, dtype=torch.bool)
    target[..., y0 : y0 + side, x0 : x0 + side] = True
    return x.clamp(0, 1), target


@pytest.mark.parametrize("side", [16, 24, 32, 40])
def test_the_square_is_where_the_saliency_is(side):
    x, target = _square(20, 40, side)
    soft = GUIDANCE.build("saliency")(x).soft
    assert soft[target].mean() > 3 * soft[~target].mean()


@pytest.mark.parametrize("y0, x0, side", [(30, 20, 28), (10, 70, 28), (50, 50, 28)])
def test_a_bright_square_on_a_flat_background_is_salient(y0, x0, side):
    gen = torch.Generator().manual_seed(0)
    x = 0.3 + 0.02 * torch.randn(1, 3, 96, 128, generator=gen)
    x[..., y0 : y0 + side, x0 : x0 + side] += 0.6
    target = torch.zeros(1, 1, 96, 128, dtype=torch.bool)
    target[..., y0 : y0 + side, x0 : x0 + side] = True
    imp = GUIDANCE.build("saliency")(x.clamp(0, 1), "ignored")
    assert imp.soft.shape == (1, 1, 96, 128) and imp.soft.min() >= 0 and imp.soft.max() <= 1
    assert float(iou(imp.mask, target)[0]) > 0.5
    assert imp.used_query is False and imp.phrases == [] and imp.backend == "saliency"


def test_auto_is_the_default_and_falls_back_to_saliency_saying_so(tmp_path, monkeypatch):
    import mllmsc.guidance.refseg as refseg

    monkeypatch.setattr(refseg, "default_weights_dir", lambda: tmp_path / "no-tiny-refseg")
    assert DEFAULT_GUIDANCE == "auto"
    guide = build_guidance("auto", model=str(tmp_path / "no-clipseg-here"))
    imp = guide(torch.rand(1, 3, 40, 40), "the red star", ChannelState(snr_db=5.0))
    assert imp.backend == "saliency" and imp.used_query is False
    assert "saliency" in guide.reason and "intent is not used" in guide.reason
    assert "no tiny-refseg weights" in guide.reason


def test_tiny_refseg_without_weights_is_a_clear_error(tmp_path, monkeypatch):
    import mllmsc.guidance.refseg as refseg

    monkeypatch.setattr(refseg, "default_weights_dir", lambda: tmp_path / "no-tiny-refseg")
    with pytest.raises(UserError, match="tiny-refseg weights missing"):
        GUIDANCE.build("tiny-refseg")
    with pytest.raises(UserError, match="needs config.json and model.safetensors"):
        GUIDANCE.build("tiny-refseg", model=str(tmp_path))


def test_missing_models_name_what_to_download(tmp_path):
    with pytest.raises(UserError, match=r"hf download CIDAS/clipseg-rd64-refined"):
        GUIDANCE.build("clipseg")
    with pytest.raises(UserError, match="not found"):
        GUIDANCE.build("clipseg", model=str(tmp_path / "missing"))
    with pytest.raises(UserError, match=r"hf download CIDAS/clipseg-rd64-refined"):
        GUIDANCE.build("llava")  # CLIPSeg is checked first: it is the small one
    with pytest.raises(UserError, match=r"does not take --guidance-model"):
        build_guidance("saliency", model="x")


def test_importing_guidance_does_not_import_transformers():
    import subprocess

    code = "import sys, mllmsc.guidance; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_probe_reads_the_hub_cache_that_the_tests_replace_with_an_empty_one(tmp_path, monkeypatch):
    # tests/conftest.py points the hub cache at an empty folder, so a CLIPSeg in the user's cache
    # cannot change what these tests see; the probe must read that same setting.
    import huggingface_hub.constants

    from mllmsc.guidance.clipseg import DEFAULT_CLIPSEG
    from mllmsc.hub import model_present

    assert not model_present(DEFAULT_CLIPSEG)
    repo = tmp_path / "models--CIDAS--clipseg-rd64-refined"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc")
    snapshot = repo / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert model_present(DEFAULT_CLIPSEG)
