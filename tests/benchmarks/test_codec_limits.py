"""benchmarks/codec_limits.py: the linear part and the truncation ceiling it is compared with."""

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from mllmsc.codec import IAJSCC
from mllmsc.train.codec import evaluate_kodak_psnr

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("codec_limits", ROOT / "benchmarks" / "codec_limits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _images():
    gen = torch.Generator().manual_seed(0)
    return [
        F.interpolate(torch.rand(1, 3, 8, 12, generator=gen), size=(64, 96), mode="bilinear")
        for _ in range(2)
    ]


def test_the_linear_part_without_noise_is_the_truncated_transform(tiny_codec_dir):
    bench = _load()
    model = IAJSCC.from_pretrained(tiny_codec_dir).eval()
    with torch.no_grad():  # residuals that do something, so switching them off is visible
        for layer in (model.encoder.lf_head, model.decoder.tail):
            layer.weight.normal_(0, 0.05)
    images = _images()
    linear = bench.linear_only(model)
    noiseless = evaluate_kodak_psnr(linear, images, 60.0)
    ceiling = bench.truncation_psnr(model, images)
    assert abs(noiseless - ceiling) < 0.05
    assert abs(evaluate_kodak_psnr(model, images, 60.0) - ceiling) > 0.1  # the residuals were on
    assert evaluate_kodak_psnr(linear, images, 0.0) < noiseless - 1  # noise costs the linear code
    adaptive = bench.content_adaptive_psnr(model, images)
    assert 5 < adaptive < 60
