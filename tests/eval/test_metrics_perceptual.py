"""VIF, DISTS and the optional metrics in score() and sweeps: known behaviour, nulls, columns."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from mllmsc.eval import metrics
from mllmsc.eval.metrics import dists, dists_available, dists_unavailable_reason, vif
from mllmsc.eval.scoring import METRICS, OPTIONAL, score
from mllmsc.types import TransmissionResult


def _smooth(batch: int, size: int = 96, seed: int = 0) -> torch.Tensor:
    """Natural-ish images: low-frequency noise, upsampled, plus a little grain, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, size // 8, size // 8, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic")
    return (x + 0.05 * torch.rand(x.shape, generator=g)).clamp(0, 1)


def _noisy(x: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


@pytest.fixture
def no_local_weights(tmp_path, monkeypatch):
    """An empty torch hub cache: LPIPS and DISTS find no checkpoints, whatever this machine has."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    metrics._dists_model.cache_clear()
    metrics._lpips_model.cache_clear()
    yield
    metrics._dists_model.cache_clear()
    metrics._lpips_model.cache_clear()


# ------------------------------------------------------------------------------------------ VIF


def test_vif_of_an_image_with_itself_is_one() -> None:
    x = _smooth(2)
    got = vif(x, x)
    assert got.shape == (2,) and got.dtype == torch.float64
    assert got.tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert vif(x[0], x[0]).shape == (1,)


def test_vif_falls_monotonically_with_noise_and_with_blur() -> None:
    x = _smooth(1)
    values = [vif(_noisy(x, s), x).item() for s in (0.005, 0.02, 0.05, 0.1, 0.2)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert 0 < values[-1] < values[0] < 1
    blurred = torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
    assert vif(blurred, x).item() < 0.9


def test_vif_reads_luminance_on_the_0_255_scale() -> None:
    from torchmetrics.functional.image.vif import visual_information_fidelity

    x = _smooth(1)
    y = _noisy(x, 0.03)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    ref = visual_information_fidelity(
        255 * (y * luma).sum(1, keepdim=True).double(), 255 * (x * luma).sum(1, keepdim=True).double(),
        reduction="none",
    )  # fmt: skip
    assert vif(y, x).item() == pytest.approx(ref.item(), abs=1e-5)  # float32 inside, float64 here
    assert vif(y[:, :1], x[:, :1]).shape == (1,)  # grey images are scored as they are


def test_vif_is_nan_below_its_smallest_size_and_checks_shapes() -> None:
    x = torch.rand(2, 3, 40, 64)
    assert torch.isnan(vif(x, x)).all()
    with pytest.raises(ValueError, match="shapes differ"):
        vif(x, x[..., :63])


# ---------------------------------------------------------------------------------------- DISTS


def _vgg16_features() -> nn.Sequential:
    """torchvision's ``vgg16().features`` layout, randomly initialised."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    channels = 3
    for spec in metrics._VGG16_LAYERS:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU(inplace=True)]
            channels = spec
    return nn.Sequential(*layers)


def test_dists_is_none_without_local_vgg16_weights(no_local_weights) -> None:
    x = _smooth(1, 64)
    assert dists(x, x) is None
    assert dists_available() is False
    assert metrics.VGG16_CHECKPOINT in dists_unavailable_reason()


def test_dists_reports_a_broken_checkpoint_instead_of_crashing(no_local_weights, tmp_path) -> None:
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / metrics.VGG16_CHECKPOINT).write_bytes(b"not a checkpoint")
    assert dists(_smooth(1, 64), _smooth(1, 64, seed=1)) is None
    assert "could not be built" in dists_unavailable_reason()


def test_dists_network_is_torchmetrics_own_on_the_same_vgg(monkeypatch) -> None:
    """Built without torchvision, it computes what torchmetrics' DISTSNetwork computes."""
    from torchmetrics.functional.image import dists as tm_dists

    vgg = _vgg16_features()
    ours = metrics._build_dists(vgg.state_dict())
    # torchmetrics' own constructor, handed the same VGG where it would call torchvision
    monkeypatch.setattr(tm_dists, "_TORCHVISION_AVAILABLE", True)
    monkeypatch.setattr(tm_dists, "vgg16", lambda weights=None: SimpleNamespace(features=vgg), raising=False)
    monkeypatch.setattr(tm_dists, "VGG16_Weights", SimpleNamespace(DEFAULT=None), raising=False)
    theirs = tm_dists.DISTSNetwork().eval()
    x = _smooth(2, 64)
    y = _noisy(x, 0.1)
    assert torch.allclose(ours(y, x), theirs(y, x), atol=1e-6)
    assert ours(x, x).abs().max() < 1e-5  # identical images: distance 0
    noise = [ours(_noisy(x, s), x).mean().item() for s in (0.02, 0.1, 0.3)]
    assert noise[0] < noise[1] < noise[2]


# --------------------------------------------------------------------------------------- score()


def _result(x_hat: torch.Tensor) -> TransmissionResult:
    return SimpleNamespace(x_hat=x_hat, importance=None)  # what score() reads of a result


def test_score_returns_every_metric_and_computes_the_optional_ones_on_request(no_local_weights) -> None:
    x = _smooth(2, 128)
    x_hat = _noisy(x, 0.05)
    full = score(x, _result(x_hat))
    assert [list(row) for row in full] == [list(METRICS)] * 2
    assert METRICS[:4] == ("psnr", "ms_ssim", "roi_psnr", "background_psnr")
    assert set(OPTIONAL) == {"vif", "niqe", "lpips", "dists"}
    for row in full:
        assert 0 < row["vif"] < 1 and row["niqe"] > 0
        assert row["lpips"] is None and row["dists"] is None  # no weights: null, not a number
    assert full[0]["vif"] == pytest.approx(vif(x_hat, x)[0].item())
    cheap = score(x, _result(x_hat), extra=())
    assert all(row[m] is None for row in cheap for m in OPTIONAL)
    assert cheap[0]["psnr"] == full[0]["psnr"]
    only_vif = score(x, _result(x_hat), extra=("vif",))[0]
    assert only_vif["vif"] == full[0]["vif"] and only_vif["niqe"] is None
    assert all(score(x, _result(x_hat), with_lpips=False)[0][m] is None for m in OPTIONAL)
    with pytest.raises(ValueError, match="unknown optional metric"):
        score(x, _result(x_hat), extra=("fid",))


def test_score_nulls_metrics_an_image_is_too_small_for() -> None:
    x = _smooth(1, 64)  # VIF fits (41 px), NIQE's 96-px patch does not
    row = score(x, _result(_noisy(x, 0.05)), extra=("vif", "niqe"))[0]
    assert row["vif"] is not None and row["niqe"] is None


# ---------------------------------------------------------------------------------------- sweep


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two 104×112 images: big enough for one NIQE patch."""
    root = tmp_path_factory.mktemp("perceptual")
    rng = np.random.default_rng(0)
    for i in range(2):
        yy, xx = np.mgrid[0:104, 0:112]
        img = np.stack([xx * 2, yy * 2, xx + yy], -1) + rng.integers(0, 60, (104, 112, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"im{i}.png")
    return root


def _read(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_eval_metrics_option_fills_the_new_columns(
    photos, tiny_codec_dir, tmp_path, no_local_weights, capsys
):
    from mllmsc.cli.main import main

    argv = [
        "eval", "--data", str(photos), "--snr", "1,10", "--cbr", "1/8", "--method", "uniform-jscc",
        "--weights", str(tiny_codec_dir),
    ]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "cheap")]) == 0
    cheap = _read(tmp_path / "cheap" / "results.csv")
    assert all(r[m] == "" for r in cheap for m in OPTIONAL) and all(r["psnr"] for r in cheap)

    assert main([*argv, "--out", str(tmp_path / "all"), "--metrics", "all"]) == 0
    assert "dists:" in capsys.readouterr().out  # says the DISTS column will stay empty, and why
    rows = _read(tmp_path / "all" / "results.csv")
    assert len(rows) == 4
    for r in rows:
        assert 0 < float(r["vif"]) <= 1 + 1e-6 and float(r["niqe"]) > 0
        assert r["lpips"] == "" and r["dists"] == ""  # not computable here: empty, not made up
    summary = _read(tmp_path / "all" / "summary.csv")
    assert list(summary[0])[-3:] == ["lost", "n", "roi_n"]
    for s in summary:
        mine = [float(r["vif"]) for r in rows if r["snr_db"] == s["snr_db"]]
        assert float(s["vif"]) == pytest.approx(sum(mine) / 2, abs=1e-5) and s["vif_ci95"]
        assert s["niqe"] and s["lpips"] == "" and s["lpips_ci95"] == "" and s["dists"] == ""
    # a higher SNR keeps more of the image
    by_snr = {float(s["snr_db"]): float(s["vif"]) for s in summary}
    assert by_snr[10.0] > by_snr[1.0]
    assert (tmp_path / "all" / "psnr_vs_snr.png").is_file()

    assert main([*argv, "--out", str(tmp_path / "bad"), "--metrics", "vif,fid"]) == 2
    assert "unknown metric 'fid'" in capsys.readouterr().err
