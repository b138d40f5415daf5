"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, IEEE SPL 2013).

A no-reference score: how far the statistics of an image's local contrast-normalised luminance are
from those of pristine photos (lower is more natural). PSNR and MS-SSIM reward a blurred guess; a
diffusion decoder's sharp but invented texture is judged on its own here.

    grey image (8-bit luminance, 0..255)                             ×2 scales (full, then 1/2)
      ──► MSCN: (I − μ) / (σ + 1), μ, σ from a 7×7 Gaussian (σ = 7/6), replicated borders
      ──► 96×96 patches (48×48 at the half scale), each ──► 18 features:
            AGGD fit of the MSCN coefficients: α, (β_l + β_r) / 2
            AGGD fit of the products with the right, lower, lower-right, lower-left neighbour:
            α, η (the mean), β_l, β_r                                 (4 × 4)
      ──► 36 features per patch ──► MVG (μ_d, Σ_d) of the image's patches
      ──► NIQE = sqrt((μ_p − μ_d)ᵀ ((Σ_p + Σ_d) / 2)⁺ (μ_p − μ_d))

The pristine model (μ_p, Σ_p) is the MVG of the features of the *sharp* patches of pristine photos:
a patch is kept when its mean σ is above 0.75 of the sharpest patch of its photo. The authors fitted
theirs on 125 pristine photos of their own collection; ours (``weights/niqe``, fitted by
``benchmarks/fit_niqe.py``) on the project's 248 training photos in ``../shared/data/train``
(CBSD68, Sun & Hays, Urban100 at JPEG quality 95). Absolute values therefore differ from published
NIQE numbers; compare NIQE values with each other, within this project.

This follows the authors' MATLAB release (``niqe_release.zip``): the MSCN coefficients get the
same AGGD fit as the products and keep ``(β_l + β_r) / 2`` (for symmetric data that is the GGD fit
the paper describes), neighbour products wrap around inside each patch (``circshift``), the half
scale is MATLAB's ``imresize(I, 0.5)`` (antialiased bicubic), and grey is ``rgb2gray`` of the 8-bit
image. Not taken from a library on purpose: ``pyiqa`` and ``piq`` have NIQE, but both import
torchvision, which does not work beside this project's CPU torch wheel, and neither fits a new
pristine model from a folder.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "FEATURES",
    "NiqeConfig",
    "NiqeModel",
    "fit",
    "grey",
    "mscn",
    "niqe_score",
    "patch_features",
    "shipped_model",
]

#: Features per patch: 18 at each of the 2 scales.
FEATURES = 36
#: Name of the shipped pristine model (``mllmsc/weights/niqe``).
MODEL_NAME = "niqe"

# rgb2gray's luminance weights (ITU-R BT.601, as MATLAB rounds them).
_LUMA = (0.298936021293775, 0.587043074451121, 0.114020904255103)
# The shape parameters the moment-matching fit searches, as the release does.
_ALPHAS = np.arange(0.2, 10.0005, 0.001)
# Neighbour offsets (rows, columns) of the paired products: right, lower, lower-right, lower-left.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
# MATLAB imresize(I, 0.5): Keys cubic (a = -0.5) stretched by 2 (antialiasing), taps at ±0.5 … ±3.5
# input pixels from the output pixel's centre; these are its 8 normalised weights.
_HALF_TAPS = np.array([-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125,
                       -0.03515625, -0.01171875])  # fmt: skip


@dataclass(frozen=True)
class NiqeConfig:
    """How features are taken and which patches count as pristine.

    Attributes:
        patch: patch side at full scale in pixels (the half scale uses ``patch / 2``); even.
        sharpness: a pristine photo's patch is kept when its mean local σ exceeds this fraction of
            the photo's sharpest patch.
    """

    patch: int = 96
    sharpness: float = 0.75

    def __post_init__(self) -> None:
        if self.patch < 8 or self.patch % 2:
            raise ValueError(f"NIQE patch side must be even and at least 8, got {self.patch}")
        if not 0.0 <= self.sharpness < 1.0:
            raise ValueError(f"NIQE sharpness threshold must be in [0, 1), got {self.sharpness}")


@dataclass(frozen=True)
class NiqeModel:
    """A pristine multivariate Gaussian of NIQE features.

    Attributes:
        config: how its features were taken (a test image must use the same).
        mu: mean, ``[36]`` float64.
        cov: covariance, ``[36, 36]`` float64.
        metadata: provenance strings (data, counts, date), stored in the safetensors header.
    """

    config: NiqeConfig
    mu: np.ndarray
    cov: np.ndarray
    metadata: Mapping[str, str] = field(default_factory=dict)

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (float64) to ``directory`` (created)."""
        from mllmsc.pretrained import save_weights

        tensors = {"mu": torch.from_numpy(self.mu), "cov": torch.from_numpy(self.cov)}
        config = {"model": MODEL_NAME, **asdict(self.config)}
        return save_weights(directory, tensors, config, metadata=self.metadata)

    @classmethod
    def load(cls, directory: str | Path) -> NiqeModel:
        """Read a folder written by :meth:`save`.

        Raises:
            WeightsError: a missing or foreign file, or tensors of the wrong shape.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from mllmsc.pretrained import CONFIG_NAME, WEIGHTS_NAME, WeightsError, read_metadata

        directory = Path(directory)
        try:
            raw = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise WeightsError(f"NIQE model: cannot read {directory / CONFIG_NAME}: {err}") from None
        if not isinstance(raw, dict) or raw.pop("model", None) != MODEL_NAME:
            raise WeightsError(f"{directory / CONFIG_NAME} does not describe a {MODEL_NAME!r} model")
        try:
            config = NiqeConfig(**raw)
            tensors = load_file(str(directory / WEIGHTS_NAME))
        except (TypeError, ValueError) as err:
            raise WeightsError(f"NIQE model in {directory}: {err}") from None
        except (OSError, SafetensorError) as err:
            raise WeightsError(f"NIQE model: cannot read {directory / WEIGHTS_NAME}: {err}") from None
        mu, cov = tensors.get("mu"), tensors.get("cov")
        if mu is None or cov is None or mu.shape != (FEATURES,) or cov.shape != (FEATURES, FEATURES):
            raise WeightsError(f"{directory / WEIGHTS_NAME} holds no NIQE mu [36] and cov [36, 36]")
        return cls(config, mu.double().numpy(), cov.double().numpy(), read_metadata(directory))


@functools.cache
def shipped_model() -> NiqeModel:
    """The pristine model shipped as package data (``mllmsc/weights/niqe``), read once per process."""
    from mllmsc.weights import weights_path

    return NiqeModel.load(weights_path(MODEL_NAME))


def grey(x: torch.Tensor) -> np.ndarray:
    """The 8-bit luminance NIQE reads, as MATLAB's ``rgb2gray`` of the 8-bit image gives it.

    Args:
        x: one image in [0, 1], RGB or grey; rounded to 8 bits per channel first (what a PNG of it
            holds), then to 8-bit luminance.

    Shapes:
        x: ``[3, H, W]`` or ``[1, H, W]`` → ``[H, W]`` float64 with integer values in 0..255.
    """
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"expected one image [3, H, W] or [1, H, W], got {tuple(x.shape)}")
    levels = np.floor(x.detach().double().cpu().clamp(0, 1).numpy() * 255.0 + 0.5)
    if levels.shape[0] == 1:
        return levels[0]
    luma = np.tensordot(np.array(_LUMA), levels, axes=1)
    return np.floor(luma + 0.5)  # rgb2gray rounds half away from zero into uint8


def mscn(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local σ.

    ``(I − μ) / (σ + 1)`` with μ and σ from a 7×7 Gaussian window (σ_w = 7/6) and replicated
    borders; the +1 (on the 0..255 scale) keeps flat regions from dividing by zero.

    Shapes:
        image: ``[H, W]`` float64 (0..255) → (coefficients ``[H, W]``, σ ``[H, W]``).
    """
    from scipy.ndimage import correlate1d

    t = np.arange(7) - 3
    window = np.exp(-(t**2) / (2 * (7 / 6) ** 2))
    window /= window.sum()  # the 2-D window is the outer product, normalised as fspecial's

    def blur(a: np.ndarray) -> np.ndarray:
        return correlate1d(correlate1d(a, window, axis=0, mode="nearest"), window, axis=1, mode="nearest")

    mu = blur(image)
    sigma = np.sqrt(np.abs(blur(image * image) - mu * mu))
    return (image - mu) / (sigma + 1.0), sigma


def patch_features(image: np.ndarray, patch: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """The NIQE features of every whole patch of a grey image, and each patch's sharpness.

    The image is cropped to a whole number of patches (bottom and right remainders dropped, as the
    release does); patches are in row-major order.

    Args:
        image: grey image on the 0..255 scale (:func:`grey`).
        patch: patch side at full scale (even).

    Returns:
        (features, sharpness): features ``[N, 36]`` (18 at full scale, then 18 at half scale; NaN
        where a patch has no negative or no positive coefficient, e.g. a flat patch) and the mean
        local σ of each patch at full scale ``[N]``.

    Raises:
        ValueError: the image is smaller than one patch.
    """
    height, width = image.shape
    rows, cols = height // patch, width // patch
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs at least one {patch}x{patch} patch, the image is {height}x{width}")
    image = np.asarray(image, dtype=np.float64)[: rows * patch, : cols * patch]
    features, sharpness = [], None
    for scale in range(2):
        side = patch >> scale
        coefficients, sigma = mscn(image)
        features.append(_block_features(_blocks(coefficients, side)))
        if scale == 0:
            sharpness = _blocks(sigma, side).mean(axis=(1, 2))
            image = _half(image)
    return np.concatenate(features, axis=1), sharpness


def niqe_score(image: np.ndarray, model: NiqeModel) -> float:
    """NIQE of one grey image against a pristine model (lower is more natural).

    Args:
        image: grey image on the 0..255 scale (:func:`grey`).
        model: the pristine model (:func:`shipped_model`, or one from :func:`fit`).

    Returns:
        The distance; NaN when no patch has finite features (a flat image).

    Raises:
        ValueError: the image is smaller than one patch.

    Shapes:
        image: ``[H, W]``, both sides at least ``model.config.patch``.
    """
    features, _ = patch_features(image, model.config.patch)
    complete = features[np.isfinite(features).all(axis=1)]
    if len(complete) == 0:
        return float("nan")
    mu = np.nanmean(features, axis=0)  # per feature over the patches that have it (nanmean)
    # nancov: over the complete patches; one patch has no spread (MATLAB's cov of one row is 0)
    cov = np.cov(complete, rowvar=False) if len(complete) > 1 else np.zeros((FEATURES, FEATURES))
    d = model.mu - mu
    return float(np.sqrt(max(d @ np.linalg.pinv((model.cov + cov) / 2) @ d, 0.0)))


def fit(
    images: Iterable[np.ndarray],
    config: NiqeConfig = NiqeConfig(),  # frozen: a shared default is safe
    *,
    metadata: Mapping[str, str] | None = None,
) -> NiqeModel:
    """The pristine model of a set of photos: the MVG of their sharp patches' features.

    Args:
        images: grey photos on the 0..255 scale (:func:`grey`); ones smaller than a patch are
            skipped.
        config: patch side and sharpness threshold.
        metadata: provenance strings to keep with the model; the patch counts are added.

    Raises:
        ValueError: fewer than two complete sharp patches in all (no covariance).
    """
    kept, total, photos = [], 0, 0
    for image in images:
        if min(image.shape) < config.patch:
            continue
        features, sharpness = patch_features(image, config.patch)
        total += len(features)
        photos += 1
        kept.append(features[sharpness > config.sharpness * sharpness.max()])
    pooled = np.concatenate(kept) if kept else np.zeros((0, FEATURES))
    complete = pooled[np.isfinite(pooled).all(axis=1)]
    if len(complete) < 2:
        raise ValueError(
            f"NIQE fit needs at least two sharp patches with finite features, got {len(complete)}"
        )
    info = {
        **(metadata or {}),
        "photos": str(photos),
        "patches": str(total),
        "patches_sharp": str(len(pooled)),
        "patches_used": str(len(complete)),
    }
    return NiqeModel(config, np.nanmean(pooled, axis=0), np.cov(complete, rowvar=False), info)


# ------------------------------------------------------------------------------------ helpers


def _blocks(a: np.ndarray, side: int) -> np.ndarray:
    """Non-overlapping ``side``² blocks in row-major order: ``[H, W]`` → ``[N, side, side]``."""
    rows, cols = a.shape[0] // side, a.shape[1] // side
    return a.reshape(rows, side, cols, side).transpose(0, 2, 1, 3).reshape(rows * cols, side, side)


def _half(image: np.ndarray) -> np.ndarray:
    """MATLAB's ``imresize(image, 0.5)`` (bicubic, antialiased, symmetric borders) of an even-sized image.

    At exactly one half every output pixel sits between two input pixels, so the resize is one
    8-tap filter (:data:`_HALF_TAPS`) at stride 2 along each axis. Spelled out because Pillow clips
    the kernel at the borders and scikit-image uses another kernel; either would shift the features
    of border patches away from the release's.
    """
    for axis in (0, 1):
        n = image.shape[axis] // 2
        padded = np.pad(image, [(4, 4) if a == axis else (0, 0) for a in range(2)], mode="symmetric")
        taps = [np.take(padded, np.arange(1 + k, 1 + k + 2 * n, 2), axis=axis) for k in range(8)]
        image = np.tensordot(_HALF_TAPS, np.stack(taps), axes=1)
    return image


def _aggd(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching fit of an asymmetric generalised Gaussian to each row of ``samples``.

    Returns:
        (α, β_l, β_r), each ``[N]``; NaN where a row has no negative or no positive value.

    Shapes:
        samples: ``[N, M]``.
    """
    from scipy.special import gamma

    with np.errstate(invalid="ignore", divide="ignore"):
        negative, positive = samples < 0, samples > 0
        squares = samples * samples
        left = np.sqrt(np.where(negative, squares, 0.0).sum(1) / negative.sum(1))
        right = np.sqrt(np.where(positive, squares, 0.0).sum(1) / positive.sum(1))
        g = left / right
        r = np.abs(samples).mean(1) ** 2 / squares.mean(1)
        r = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
        alpha = np.where(np.isfinite(r), _ALPHAS[_nearest(_moment_ratios(), np.nan_to_num(r))], np.nan)
        scale = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * scale, right * scale


@functools.cache
def _moment_ratios() -> np.ndarray:
    """``Γ(2/α)² / (Γ(1/α) Γ(3/α))`` over :data:`_ALPHAS`: E[|x|]² / E[x²] of a GGD of shape α."""
    from scipy.special import gamma

    return gamma(2 / _ALPHAS) ** 2 / (gamma(1 / _ALPHAS) * gamma(3 / _ALPHAS))


def _nearest(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the entry of an increasing ``table`` nearest each value (the first one on a tie).

    The release takes ``argmin((table - value)²)`` over the whole table; the moment ratio rises
    strictly with α, so a binary search finds the same entry without a ``[N, 9801]`` array.
    """
    upper = np.clip(np.searchsorted(table, values), 1, len(table) - 1)
    lower = upper - 1
    return np.where((values - table[lower]) ** 2 <= (table[upper] - values) ** 2, lower, upper)


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """18 features of each block of MSCN coefficients: ``[N, s, s]`` → ``[N, 18]``."""
    from scipy.special import gamma

    n = blocks.shape[0]
    alpha, beta_l, beta_r = _aggd(blocks.reshape(n, -1))
    columns = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        # circshift of the block: the neighbour wraps around inside the patch
        products = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(n, -1)
        alpha, beta_l, beta_r = _aggd(products)
        with np.errstate(invalid="ignore"):
            eta = (beta_r - beta_l) * gamma(2 / alpha) / gamma(1 / alpha)
        columns += [alpha, eta, beta_l, beta_r]
    return np.stack(columns, axis=1)
