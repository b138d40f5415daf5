"""NIQE: its pieces against closed forms, the shipped model on bundled photos, fit / save / load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import gamma
from skimage import data

from mllmsc.eval import niqe as N
from mllmsc.eval.metrics import niqe
from mllmsc.pretrained import WeightsError


def _photo(name: str) -> torch.Tensor:
    """A photo bundled with scikit-image as ``[1, 3, H, W]`` in [0, 1]."""
    return torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].double() / 255


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    t = torch.arange(-6, 7, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = torch.nn.functional.pad(x, (6, 6, 6, 6), mode="reflect")
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0, 1)


def _texture(height: int, width: int, seed: int) -> np.ndarray:
    """A grey 0..255 image with structure at several scales."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((1, 1, height // 16, width // 16)))
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic")[0, 0].numpy()
    return np.clip(255 * (0.8 * smooth + 0.2 * rng.random((height, width))), 0, 255).round()


# ------------------------------------------------------------------------------------ pieces


def test_aggd_fit_recovers_the_shape_and_scale_of_known_distributions() -> None:
    rng = np.random.default_rng(0)
    gauss = rng.standard_normal((2, 200_000)) * np.array([[1.0], [3.0]])
    alpha, left, right = N._aggd(gauss)
    assert alpha == pytest.approx([2.0, 2.0], abs=0.03)
    # GGD scale of a Gaussian of std s: s·sqrt(Γ(1/2) / Γ(3/2)) = s·√2
    assert left == pytest.approx([math.sqrt(2), 3 * math.sqrt(2)], rel=0.02)
    assert right == pytest.approx(left, rel=0.02)
    laplace, _, _ = N._aggd(rng.laplace(size=(1, 200_000)))
    assert laplace == pytest.approx([1.0], abs=0.03)
    # an AGGD of shape 2 with twice the scale on the right: a side holds mass ∝ its scale (1/3 left)
    side = np.where(rng.random((1, 200_000)) < 1 / 3, -1.0, 2.0)
    skewed = np.abs(rng.standard_normal((1, 200_000))) * side
    alpha, left, right = N._aggd(skewed)
    assert alpha == pytest.approx([2.0], abs=0.05) and right / left == pytest.approx([2.0], rel=0.02)
    # no negative value: the left side is undefined, and so is the fit
    assert np.isnan(N._aggd(np.abs(gauss[:1]))[0]).all()


def test_alpha_lookup_equals_the_release_brute_force_search() -> None:
    rng = np.random.default_rng(1)
    r = rng.uniform(0.0, 0.8, 500)  # includes values off both ends of the table
    ratios = gamma(2 / N._ALPHAS) ** 2 / (gamma(1 / N._ALPHAS) * gamma(3 / N._ALPHAS))
    brute = np.argmin((ratios[None, :] - r[:, None]) ** 2, axis=1)
    assert np.array_equal(N._nearest(N._moment_ratios(), r), brute)
    assert len(N._ALPHAS) == 9801 and N._ALPHAS[-1] == pytest.approx(10.0)  # MATLAB's 0.2:0.001:10


def test_half_scale_is_matlab_imresize_on_a_ramp_and_keeps_a_constant() -> None:
    ramp = np.tile(np.arange(40.0), (20, 1))
    half = N._half(ramp)
    assert half.shape == (10, 20)
    # interior output pixel j sits at input 2j + 0.5; the kernel is symmetric and sums to 1
    assert half[:, 2:-2] == pytest.approx(np.tile(2 * np.arange(20.0) + 0.5, (10, 1))[:, 2:-2])
    assert N._half(np.full((12, 16), 7.0)) == pytest.approx(np.full((6, 8), 7.0))
    assert N._HALF_TAPS.sum() == pytest.approx(1.0)


def test_mscn_of_a_flat_image_is_zero_and_grey_is_8_bit_luminance() -> None:
    coefficients, sigma = N.mscn(np.full((20, 30), 128.0))
    # σ is sqrt(E[I²] − μ²): cancellation leaves ~1e-6 on the 0..255 scale, which the +1 swamps
    assert np.abs(coefficients).max() < 1e-9 and sigma.max() < 1e-4
    x = torch.zeros(3, 2, 2)
    x[0], x[1], x[2] = 1.0, 0.5, 0.25
    # rgb2gray of (255, 128, 64): 0.2989·255 + 0.5870·128 + 0.1140·64 = 158.6 → 159
    assert N.grey(x) == pytest.approx(np.full((2, 2), 159.0))
    assert N.grey(torch.full((1, 3, 3), 0.5)) == pytest.approx(np.full((3, 3), 128.0))


def test_features_have_18_per_scale_for_every_whole_patch() -> None:
    image = _texture(200, 300, seed=0)  # 2 × 3 whole 96-px patches; the rest is cropped
    features, sharpness = N.patch_features(image)
    assert features.shape == (6, N.FEATURES) == (6, 36) and sharpness.shape == (6,)
    assert np.isfinite(features).all() and (sharpness > 0).all()
    alphas = features[:, [0, 2, 6, 10, 14, 18, 20, 24, 28, 32]]  # the shape of every fit
    assert ((alphas >= 0.2) & (alphas <= 10 + 1e-9)).all()  # the searched range
    assert N.patch_features(image[:96, :96])[0].shape == (1, 36)
    small, _ = N.patch_features(image, patch=48)
    assert small.shape == (4 * 6, 36)


# ------------------------------------------------------------------------- the shipped model


def test_shipped_model_says_where_it_comes_from() -> None:
    model = N.shipped_model()
    assert model.config == N.NiqeConfig(patch=96, sharpness=0.75)
    assert model.mu.shape == (36,) and model.cov.shape == (36, 36)
    assert np.allclose(model.cov, model.cov.T) and np.linalg.eigvalsh(model.cov).min() > -1e-9
    meta = model.metadata
    assert meta["photos"] == "248" and "125 pristine" in meta["data"] and "train" in meta["data"]
    assert int(meta["patches_used"]) > 1000 and meta["script"] == "benchmarks/fit_niqe.py"


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_a_clean_photo_is_more_natural_than_it_blurred_or_noisy(name: str) -> None:
    x = _photo(name)
    clean, blurred, noisy = niqe(torch.cat([x, _blur(x, 2.0), _noisy(x, 0.1)])).tolist()
    assert clean < blurred and clean < noisy
    assert clean < 6.0  # a sharp photo sits near the pristine model (blur and noise land at 7 to 11)
    assert niqe(x[0]).shape == (1,) and niqe(x).dtype == torch.float64


def test_too_small_or_flat_images_have_no_niqe() -> None:
    tiny = torch.rand(2, 3, 64, 200, generator=torch.Generator().manual_seed(0))
    assert torch.isnan(niqe(tiny)).all()  # no 96-px patch fits: NaN, the report says null
    with pytest.raises(ValueError, match="at least one 96x96 patch"):
        N.niqe_score(N.grey(tiny[0]), N.shipped_model())
    assert math.isnan(niqe(torch.full((1, 3, 128, 128), 0.5)).item())  # no texture to judge


# --------------------------------------------------------------------------- fit, save, load


def test_a_fitted_model_round_trips_through_save_and_load(tmp_path) -> None:
    images = [_texture(192, 192, seed=s) for s in range(4)]
    model = N.fit(images, N.NiqeConfig(), metadata={"data": "four synthetic textures"})
    # each 192-px image has 4 patches; at least the sharpest of each is kept
    assert model.metadata["photos"] == "4" and model.metadata["patches"] == "16"
    assert 4 <= int(model.metadata["patches_used"]) <= 16
    model.save(tmp_path / "niqe")
    loaded = N.NiqeModel.load(tmp_path / "niqe")
    assert loaded.config == model.config
    assert np.array_equal(loaded.mu, model.mu) and np.array_equal(loaded.cov, model.cov)
    assert loaded.metadata["data"] == "four synthetic textures" and loaded.metadata["photos"] == "4"
    test = _texture(192, 288, seed=9)
    assert N.niqe_score(test, loaded) == N.niqe_score(test, model)
    # an image of the fitted kind is closer to the model than a blurred copy of it
    blurred = _blur(torch.from_numpy(images[0])[None, None], 3.0)[0, 0].numpy()
    assert N.niqe_score(images[0], model) < N.niqe_score(blurred, model)


def test_fit_needs_patches_and_load_rejects_foreign_folders(tmp_path) -> None:
    with pytest.raises(ValueError, match="at least two sharp patches"):
        N.fit([np.zeros((50, 50))])  # smaller than a patch: skipped, nothing left
    with pytest.raises(WeightsError):
        N.NiqeModel.load(tmp_path)
    (tmp_path / "config.json").write_text('{"model": "ia-jscc"}')
    with pytest.raises(WeightsError, match="niqe"):
        N.NiqeModel.load(tmp_path)
    with pytest.raises(ValueError, match="even"):
        N.NiqeConfig(patch=95)
