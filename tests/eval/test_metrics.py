"""Metrics against hand-computed values and their documented edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from mllmsc.eval import metrics
from mllmsc.eval.metrics import (
    background_psnr,
    iou,
    lpips,
    lpips_available,
    masked_psnr,
    ms_ssim,
    psnr,
    roi_psnr,
    vif,
)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _smooth(size: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Natural-ish images: low-frequency noise, upsampled, in [0, 1]."""
    coarse = _rand(batch, 3, size // 8, size // 8, seed=seed)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)


def _noisy(x: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


# ----------------------------------------------------------------------------------------- PSNR


def test_psnr_hand_computed() -> None:
    x = torch.full((2, 3, 8, 8), 0.25, dtype=torch.float64)
    y = x + 0.1  # MSE 0.01 → 10·log10(1 / 0.01) = 20 dB
    y[1] = x[1] + 0.01  # MSE 1e-4 → 40 dB
    got = psnr(y, x)
    assert got.shape == (2,) and got.dtype == torch.float64
    assert torch.allclose(got, torch.tensor([20.0, 40.0], dtype=torch.float64), atol=1e-9)
    # data_range scales the peak: 255-range images with the same relative error.
    assert torch.allclose(psnr(y * 255, x * 255, data_range=255.0), got, atol=1e-9)


def test_psnr_single_image_and_identical() -> None:
    x = _rand(3, 5, 7)
    assert psnr(x, x).shape == (1,)
    assert psnr(x, x).item() == math.inf


def test_psnr_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))


# ---------------------------------------------------------------------------------- masked PSNR


def test_masked_psnr_with_full_mask_equals_psnr() -> None:
    x, y = _rand(2, 3, 9, 11, seed=0), _rand(2, 3, 9, 11, seed=1)
    full = torch.ones(2, 1, 9, 11, dtype=torch.bool)
    assert torch.allclose(masked_psnr(x, y, full), psnr(x, y), atol=1e-12)
    assert torch.allclose(masked_psnr(x, y, torch.ones(9, 11)), psnr(x, y), atol=1e-12)


def test_error_only_inside_the_mask() -> None:
    x = torch.full((3, 8, 8), 0.5, dtype=torch.float64)
    y = x.clone()
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[:, 2:6, 2:6] = True
    y[:, mask[0]] += 0.1  # every ROI value off by 0.1: ROI MSE 0.01
    assert roi_psnr(y, x, mask).item() == pytest.approx(20.0, abs=1e-9)
    assert background_psnr(y, x, mask).item() == math.inf
    # Whole image: 16 of 64 pixels wrong → MSE 0.0025 → 26.02 dB.
    assert psnr(y, x).item() == pytest.approx(10 * math.log10(1 / 0.0025), abs=1e-9)


def test_masked_psnr_empty_mask_is_nan() -> None:
    x, y = _rand(2, 3, 4, 4, seed=0), _rand(2, 3, 4, 4, seed=1)
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[1, 0, 0, 0] = True
    got = roi_psnr(x, y, mask)
    assert math.isnan(got[0].item()) and math.isfinite(got[1].item())
    assert torch.isnan(background_psnr(x, y, torch.ones(2, 1, 4, 4, dtype=torch.bool))).all()


def test_float_mask_is_thresholded_and_shapes_checked() -> None:
    x, y = _rand(3, 4, 4, seed=0), _rand(3, 4, 4, seed=1)
    soft = torch.zeros(1, 4, 4)
    soft[0, :2] = 0.9
    soft[0, 2:] = 0.3
    hard = soft > 0.5
    assert torch.equal(masked_psnr(x, y, soft), masked_psnr(x, y, hard))
    assert torch.equal(background_psnr(x, y, soft), masked_psnr(x, y, ~hard))
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(x, y, torch.ones(1, 4, 5, dtype=torch.bool))


# ------------------------------------------------------------------------------------- MS-SSIM


@pytest.mark.parametrize("size", [64, 256])
def test_ms_ssim_identical_is_one_and_noise_lowers_it(size: int) -> None:
    x = _smooth(size, batch=2)
    same = ms_ssim(x, x)
    assert same.shape == (2,) and same.dtype == torch.float64
    assert torch.allclose(same, torch.ones(2, dtype=torch.float64), atol=1e-5)
    light, heavy = ms_ssim(_noisy(x, 0.02), x), ms_ssim(_noisy(x, 0.2), x)
    assert ((heavy >= 0) & (heavy < light) & (light < 1)).all()


def test_ms_ssim_single_image_and_non_square() -> None:
    x = _rand(3, 40, 72)
    assert ms_ssim(x, x).shape == (1,)
    assert ms_ssim(_noisy(x, 0.1), x).item() < 1.0


def test_ms_ssim_setup_rule() -> None:
    setup = metrics._ms_ssim_setup
    betas, kernel, sigma = setup(176, 300)
    assert len(betas) == 5 and kernel == 11 and sigma == 1.5
    assert [len(setup(s, s)[0]) for s in (175, 99, 98, 64, 44, 43, 22, 21, 11)] == [
        4, 4, 3, 3, 3, 2, 2, 1, 1,
    ]  # fmt: skip
    betas, kernel, sigma = setup(64, 64)
    assert kernel == 11 and sigma == 1.5 and sum(betas) == pytest.approx(1.0)
    assert setup(8, 8)[1] == 7 and setup(10, 12)[1] == 9
    assert ms_ssim(_rand(3, 8, 8), _rand(3, 8, 8, seed=1)).shape == (1,)


def test_ms_ssim_too_small() -> None:
    with pytest.raises(ValueError, match="at least 8x8"):
        ms_ssim(torch.zeros(1, 3, 7, 64), torch.zeros(1, 3, 7, 64))


# ----------------------------------------------------------------------------------------- IoU


def test_iou_hand_computed() -> None:
    a = torch.zeros(1, 1, 10, 10, dtype=torch.bool)
    b = torch.zeros_like(a)
    a[..., 0:4, 0:4] = True  # 16 pixels
    b[..., 2:6, 2:6] = True  # 16 pixels, 4 shared → union 28
    assert iou(a, b).item() == pytest.approx(4 / 28)
    assert iou(a, a).item() == 1.0
    assert iou(a, ~a).item() == 0.0


def test_iou_batch_and_empty() -> None:
    a = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    b = torch.zeros_like(a)
    b[1, 0, 0, 0] = True
    assert iou(a, b).tolist() == [1.0, 0.0]  # both empty agree; one empty vs one pixel does not
    assert iou(torch.ones(4, 4), torch.ones(4, 4)).tolist() == [1.0]


# --------------------------------------------------------------------------------------- LPIPS


def test_lpips_is_none_without_local_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without torchvision (not a dependency) LPIPS cannot be built offline: None, not a number.
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name, *a: None)
    metrics._lpips_model.cache_clear()
    try:
        assert lpips(_rand(1, 3, 32, 32), _rand(1, 3, 32, 32, seed=1)) is None
        assert lpips_available() is False
    finally:
        metrics._lpips_model.cache_clear()


def test_lpips_in_this_environment() -> None:
    if metrics.importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed; availability depends on its cached weights")
    assert lpips(_rand(1, 3, 32, 32), _rand(1, 3, 32, 32, seed=1)) is None


def test_ms_ssim_matches_torchmetrics_in_strips_and_whole() -> None:
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim

    from mllmsc.eval.metrics import ms_ssim_strips

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 200, 190, generator=g)
    y = (0.7 * x + 0.3 * torch.rand(2, 3, 200, 190, generator=g)).clamp(0, 1)
    expected = tm_ms_ssim(y, x, data_range=1.0, reduction="none").double()
    assert torch.allclose(ms_ssim_strips(y, x, strip_pixels=3000), expected, atol=1e-6)
    assert torch.allclose(ms_ssim(y, x), expected, atol=1e-6)


@pytest.mark.parametrize("case", ["noisy", "blurred", "flat_regions"])
def test_vif_is_torchmetrics_vif_on_luma(case: str) -> None:
    from torchmetrics.functional.image.vif import visual_information_fidelity

    y = _rand(2, 3, 96, 80)
    if case == "noisy":
        x = (y + 0.1 * _rand(2, 3, 96, 80, seed=1)).clamp(0, 1)
    elif case == "blurred":
        x = torch.nn.functional.avg_pool2d(y, 5, stride=1, padding=2)
    else:  # flat patches in both images exercise the degenerate-window masks
        y[..., :40, :40] = 0.5
        x = y.clone()
        x[..., 50:, 50:] = 0.2
    expected = visual_information_fidelity(metrics._luma255(x), metrics._luma255(y), reduction="none")
    assert torch.allclose(vif(x, y), expected.double(), rtol=1e-5, atol=0)  # float32 rounding
