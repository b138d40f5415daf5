"""The weights shipped as package data load and work on a real photo."""

import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from skimage import data

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC
from mllmsc.eval.metrics import psnr
from mllmsc.pipeline import Pipeline
from mllmsc.weights import shipped_weights, weights_path


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


def test_shipped_codec_rebuilds_a_bundled_photo_above_25_db_at_20_db_cbr_1_8():
    torch.set_num_threads(1)
    x = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float()[None] / 255  # 300×451, not a multiple of 16
    codec = IAJSCC.from_pretrained(weights_path("ia-jscc")).eval()
    result = Pipeline(codec, CHANNELS.build("awgn"))(
        x, 20.0, 1 / 8, generator=torch.Generator().manual_seed(0)
    )
    assert result.x_hat.shape == x.shape
    value = float(psnr(x, result.x_hat)[0])
    flat = float(psnr(x, x.mean(dim=(2, 3), keepdim=True).expand_as(x))[0])  # the mean colour alone
    assert value > 25.0 and value > flat + 5
