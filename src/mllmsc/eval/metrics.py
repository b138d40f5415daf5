"""Image metrics, one value per image: PSNR, ROI / background PSNR, MS-SSIM, IoU, VIF, NIQE, LPIPS, DISTS.

All take images in [0, 1], batched ``[B, C, H, W]`` or single ``[C, H, W]`` (counted as ``B = 1``),
and return a float64 tensor ``[B]``; averaging over a data set is the caller's choice (the mean of
per-image PSNR, as the deep JSCC literature reports it). Squared errors are accumulated in
float64, so a PSNR of 50 dB on a large image is not rounding noise; MS-SSIM runs in float32 (see
there why that is enough).

PSNR and MS-SSIM reward a blurred average over a sharp guess, so a generative decoder is also
judged by metrics that see texture, all computed offline:

    metric   reference?  better  computed with                            available
    vif      full        higher  torchmetrics' VIF-p arithmetic on luma   always
    niqe     none        lower   :mod:`mllmsc.eval.niqe`, shipped model   always (≥ 96×96 px)
    lpips    full        lower   torchmetrics + torchvision's AlexNet     weights cached locally
    dists    full        lower   torchmetrics' DISTS + a VGG16 checkpoint weights cached locally

A value that cannot be computed is NaN (``masked_psnr`` over an empty mask, ``vif`` / ``niqe`` of
an image too small for them) or ``None`` (``lpips`` / ``dists`` without their weights); the report
writers turn both into JSON ``null`` (DESIGN.md §4).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import torch

__all__ = [
    "background_psnr",
    "dists",
    "dists_available",
    "dists_unavailable_reason",
    "iou",
    "lpips",
    "lpips_available",
    "masked_psnr",
    "ms_ssim",
    "niqe",
    "psnr",
    "roi_psnr",
    "vif",
]

# Wang, Simoncelli & Bovik (2003): weights of scales 1 (full resolution) to 5.
_MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_MS_SSIM_KERNEL = 11
_MS_SSIM_SIGMA = 1.5
# Smallest image side MS-SSIM accepts: one scale with a 7-px window. Below that the window
# covers (nearly) the whole image and the "structure" term compares almost nothing.
_MS_SSIM_MIN_SIDE = 8


def psnr(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range² / MSE)`` in dB.

    Args:
        x: reconstructed images.
        y: reference images, same shape.
        data_range: peak value (1 for images in [0, 1]).

    Returns:
        PSNR in dB; ``inf`` where the images are identical.

    Shapes:
        x, y: ``[B, C, H, W]`` or ``[C, H, W]``.
        output: ``[B]`` float64 (``[1]`` for a single image).
    """
    x, y = _pair(x, y)
    mse = (x - y).square().flatten(1).mean(dim=1)
    return _psnr_from_mse(mse, data_range)


def masked_psnr(
    x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, *, data_range: float = 1.0
) -> torch.Tensor:
    """PSNR over the pixels where ``mask`` is true (all channels of those pixels).

    Args:
        x: reconstructed images.
        y: reference images, same shape.
        mask: the pixels to score, broadcast over channels (and over the batch when it is a
            single mask). Bool, or numeric: a float mask is true where ``> 0.5`` (so a soft map
            can be passed), an integer mask where non-zero.
        data_range: peak value.

    Returns:
        PSNR in dB over the masked pixels; ``inf`` where they are identical there; NaN where
        the mask is empty (no pixels, no PSNR: the caller reports ``null``).

    Shapes:
        x, y: ``[B, C, H, W]`` or ``[C, H, W]``.
        mask: ``[B, 1, H, W]``, ``[1, 1, H, W]``, ``[1, H, W]`` or ``[H, W]``.
        output: ``[B]`` float64.
    """
    x, y = _pair(x, y)
    m = _as_mask(mask, batch=x.shape[0], size=tuple(x.shape[-2:])).to(torch.float64)
    squared = (x - y).square().sum(dim=1, keepdim=True)  # summed over channels
    count = m.flatten(1).sum(dim=1) * x.shape[1]
    sse = (squared * m).flatten(1).sum(dim=1)
    mse = torch.where(count > 0, sse / count.clamp_min(1), torch.nan)
    return _psnr_from_mse(mse, data_range)


def roi_psnr(
    x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, *, data_range: float = 1.0
) -> torch.Tensor:
    """PSNR inside the region of interest (``mask`` true); see :func:`masked_psnr`."""
    return masked_psnr(x, y, mask, data_range=data_range)


def background_psnr(
    x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, *, data_range: float = 1.0
) -> torch.Tensor:
    """PSNR outside the region of interest (``mask`` false); see :func:`masked_psnr`."""
    x, y = _pair(x, y)
    inside = _as_mask(mask, batch=x.shape[0], size=tuple(x.shape[-2:]))
    return masked_psnr(x, y, ~inside, data_range=data_range)


#: Pixels per strip of :func:`ms_ssim_strips` (~120 MB of work space): torchmetrics holds ~15
#: full-size float32 maps at the finest scale, ~670 bytes per pixel (2.7 GB for a 4-Mpx image).
MS_SSIM_STRIP_PIXELS = 1 << 18


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM per image (Wang, Simoncelli & Bovik, 2003): torchmetrics' numbers.

    The standard setup is computed by :func:`ms_ssim_strips` (torchmetrics' arithmetic, equal to
    ~1e-6, without its import or its memory); the reduced setups below by torchmetrics itself.

    The standard setup, 5 scales with an 11-px Gaussian window (σ = 1.5), needs the smaller
    image side to be at least 176 px in torchmetrics (its check is ``side // (scales − 1)² ≥
    11``; the coarsest scale, ``side / 16``, must hold the window). Smaller images get a valid
    setup chosen by this rule:

    1. keep the 11-px window and use as many scales as fit (the first ``n`` standard weights,
       renormalised to sum to 1): 4 scales from 99 px, 3 from 44 px (so 64×64 uses 3), 2 from
       22 px, 1 (plain SSIM) from 11 px;
    2. below 11 px, one scale with the largest odd window that fits (σ scaled with it), down
       to 7 px, so the smallest side accepted is 8 px.

    Scores from different setups are not comparable with each other; compare images of one
    size. The ``relu`` normalisation of torchmetrics is kept, so the result is in [0, 1].

    Args:
        x: reconstructed images.
        y: reference images, same shape.
        data_range: peak value.

    Returns:
        MS-SSIM, 1 for identical images.

    Shapes:
        x, y: ``[B, C, H, W]`` or ``[C, H, W]``.
        output: ``[B]`` float64.

    Raises:
        ValueError: shapes differ, or the smaller side is under 8 px.
    """
    x, y = _pair(x, y)
    betas, kernel, sigma = _ms_ssim_setup(x.shape[-2], x.shape[-1])
    if data_range == 1.0 and len(betas) == 5:
        # The standard setup: torchmetrics' numbers, in bounded memory and without importing
        # torchmetrics (~2.4 s: it loads its text and audio metrics too).
        return ms_ssim_strips(x, y)
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    # float32 on purpose: grouped float64 convolutions are ~60x slower on CPU, and SSIM's
    # stabilising constants (C2 = 9e-4) dwarf float32 rounding in the local variances.
    value = multiscale_structural_similarity_index_measure(
        x.float(),
        y.float(),
        kernel_size=kernel,
        sigma=sigma,
        betas=betas,
        data_range=data_range,
        reduction="none",
    )
    return value.reshape(x.shape[0]).to(torch.float64)


def _ms_ssim_setup(height: int, width: int) -> tuple[tuple[float, ...], int, float]:
    """``(betas, kernel_size, sigma)`` for an image of this size; the rule is in :func:`ms_ssim`."""
    side = min(height, width)
    if side < _MS_SSIM_MIN_SIDE:
        raise ValueError(
            f"MS-SSIM needs images of at least {_MS_SSIM_MIN_SIDE}x{_MS_SSIM_MIN_SIDE} pixels, "
            f"got {height}x{width}"
        )
    k = _MS_SSIM_KERNEL
    for n in range(len(_MS_SSIM_BETAS), 0, -1):
        # The coarsest of n scales (side / 2^(n-1)) must hold the window, and torchmetrics'
        # own check, side // max(1, n-1)^2 > k - 1, must pass.
        if side // 2 ** (n - 1) >= k and side // max(1, n - 1) ** 2 >= k:
            betas = _MS_SSIM_BETAS[:n]
            total = sum(betas)
            return tuple(b / total for b in betas), k, _MS_SSIM_SIGMA
    k = side if side % 2 else side - 1
    return (1.0,), k, _MS_SSIM_SIGMA * k / _MS_SSIM_KERNEL


def ms_ssim_strips(
    x: torch.Tensor, y: torch.Tensor, *, strip_pixels: int = MS_SSIM_STRIP_PIXELS
) -> torch.Tensor:
    """:func:`mllmsc.eval.metrics.ms_ssim` in its standard setup (5 scales, 11-px window, σ 1.5,
    ``relu``), computed over row strips so its memory is bounded by the strip, not the image.

    The same arithmetic as torchmetrics: at each scale the SSIM map over the reflect-padded image
    (its mean over all ``H × W`` positions is the luminance × structure term) and the
    contrast-sensitivity map over the valid positions; a strip reads the 5 rows on either side
    of it (reflected at the image's own top and bottom), so only the order of the sums differs
    (float64 here): the values agree to ~1e-6.

    Shapes:
        x, y: ``[B, C, H, W]`` in [0, 1], smaller side at least 176 px → ``[B]`` float64.
    """
    import torch.nn.functional as F

    betas, _, sigma = _ms_ssim_setup(*x.shape[-2:])
    if x.shape != y.shape or x.dim() != 4 or len(betas) != 5:
        raise ValueError(
            f"need two [B, C, H, W] images of the same shape, each side >= 176 px, got {tuple(x.shape)}"
        )
    size = int(3.5 * sigma + 0.5) * 2 + 1  # torchmetrics' Gaussian window, 11 px
    pad = (size - 1) // 2
    c1, c2 = 0.01**2, 0.03**2
    channels = x.shape[1]
    dist = torch.arange((1 - size) / 2, (1 + size) / 2, 1, dtype=torch.float32)
    gauss = torch.exp(-((dist / sigma) ** 2) / 2)
    gauss = (gauss / gauss.sum())[None]
    kernel = (gauss.t() @ gauss).expand(channels, 1, size, size).to(x.device)
    xs, ys = x.float(), y.float()
    terms = []
    for scale in range(len(betas)):
        b, _, height, width = xs.shape
        rows = max(2 * pad, strip_pixels // max(width, 1))
        sim, cs = xs.new_zeros(b, dtype=torch.float64), xs.new_zeros(b, dtype=torch.float64)
        for top in range(0, height, rows):
            bottom = min(top + rows, height)
            lo, hi = max(top - pad, 0), min(bottom + pad, height)
            padding = (pad, pad, pad - (top - lo), pad - (hi - bottom))
            p = F.pad(xs[..., lo:hi, :], padding, mode="reflect")
            t = F.pad(ys[..., lo:hi, :], padding, mode="reflect")
            mu_p, mu_t, e_pp, e_tt, e_pt = F.conv2d(
                torch.cat((p, t, p * p, t * t, p * t)), kernel, groups=channels
            ).split(b)
            del p, t
            mu_pp, mu_tt, mu_pt = mu_p.pow(2), mu_t.pow(2), mu_p * mu_t
            upper = 2 * (e_pt - mu_pt) + c2
            lower = torch.clamp(e_pp - mu_pp, min=0.0) + torch.clamp(e_tt - mu_tt, min=0.0) + c2
            ssim_map = ((2 * mu_pt + c1) * upper) / ((mu_pp + mu_tt + c1) * lower)
            sim += ssim_map.double().sum(dim=(1, 2, 3))
            valid = slice(max(top, pad) - top, max(min(bottom, height - pad) - top, 0))
            cs += (upper / lower)[..., valid, pad : width - pad].double().sum(dim=(1, 2, 3))
        sim = torch.relu(sim / (channels * height * width))
        cs = torch.relu(cs / (channels * (height - 2 * pad) * (width - 2 * pad)))
        terms.append(sim if scale == len(betas) - 1 else cs)
        if scale < len(betas) - 1:
            xs, ys = F.avg_pool2d(xs, 2), F.avg_pool2d(ys, 2)
    stack = torch.stack(terms)
    return torch.prod(stack ** torch.tensor(betas, dtype=torch.float64).view(-1, 1), dim=0)


def iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Intersection over union of two masks, per image.

    Args:
        pred: predicted mask, bool (a float mask is true where ``> 0.5``, an integer one where
            non-zero).
        target: reference mask, same shape.

    Returns:
        ``|pred ∧ target| / |pred ∨ target|``; 1 where both masks are empty (they agree).

    Shapes:
        pred, target: ``[B, 1, H, W]``, ``[1, H, W]`` or ``[H, W]``.
        output: ``[B]`` float64.
    """
    if pred.shape != target.shape:
        raise ValueError(f"mask shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    batch = pred.shape[0] if pred.ndim == 4 else 1
    size = tuple(pred.shape[-2:])
    p = _as_mask(pred, batch=batch, size=size).flatten(1)
    t = _as_mask(target, batch=batch, size=size).flatten(1)
    inter = (p & t).sum(dim=1, dtype=torch.float64)
    union = (p | t).sum(dim=1, dtype=torch.float64)
    return torch.where(union > 0, inter / union.clamp_min(1), 1.0)


#: Smallest image side :func:`vif` scores: its first scale filters with a 17-px window and the
#: three coarser ones each halve the image (torchmetrics' own limit).
VIF_MIN_SIDE = 41
# ITU-R BT.601 luma weights: VIF is defined on grey images (Sheikh & Bovik score luminance).
_LUMA = (0.299, 0.587, 0.114)


def vif(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pixel-domain visual information fidelity (VIF-p; Sheikh & Bovik, IEEE TIP 2006) per image.

    The share of the reference's information (under a Gaussian scale mixture model with a visual
    noise of variance 2 on the 0..255 scale) that survives in the distorted image, summed over four
    scales: 1 for an identical image, lower for any loss (blur, noise, invented texture), above 1
    only for contrast enhancement. Asymmetric: ``y`` is the reference.

    The arithmetic is torchmetrics' ``visual_information_fidelity`` (see :func:`_vif_p`). Two
    things it leaves to the caller are set as the original does: VIF reads luminance (BT.601 luma of
    RGB, as ``piq`` and the authors' grey images), and 0..255 values (its noise variance 2 assumes
    them; on [0, 1] the "noise" would drown the signal). Runs in float32: on a Kodak image it agrees
    with float64 to ~1e-6 at a twentieth of the time.

    Args:
        x: distorted (received) images in [0, 1].
        y: reference images, same shape.

    Returns:
        VIF per image; NaN where a side is under :data:`VIF_MIN_SIDE` (41) pixels.

    Shapes:
        x, y: ``[B, 3, H, W]``, ``[B, 1, H, W]`` or ``[C, H, W]``.
        output: ``[B]`` float64.
    """
    x, y = _pair(x, y)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"VIF needs RGB or grey images [B, 3|1, H, W], got {tuple(x.shape)}")
    if min(x.shape[-2:]) < VIF_MIN_SIDE:
        return torch.full((x.shape[0],), torch.nan, dtype=torch.float64)
    return _vif_p(_luma255(x), _luma255(y)).to(torch.float64)


def _vif_p(preds: torch.Tensor, target: torch.Tensor, sigma_n_sq: float = 2.0) -> torch.Tensor:
    """torchmetrics' ``_vif_per_channel`` on one grey channel: its arithmetic, equal to float32 rounding.

    Written out, not imported: ``import torchmetrics`` loads all of it (its text metrics pull in
    transformers, its audio ones scipy.signal), ~2.4 s on a 2-core CPU, about as long as the rest of
    ``mllmsc transmit``. ``tests/eval/test_metrics.py`` holds the two equal.

    Shapes:
        preds, target: ``[B, 1, H, W]`` float32 on 0..255, sides ≥ 41 → ``[B]``.
    """
    import torch.nn.functional as F

    eps = torch.tensor(1e-10, dtype=preds.dtype, device=preds.device)
    num = preds.new_zeros(preds.shape[0])
    den = preds.new_zeros(preds.shape[0])
    for scale in range(4):
        n = 2 ** (4 - scale) + 1  # window 17, 9, 5, 3 px; σ = n / 5
        coords = torch.arange(n, dtype=preds.dtype, device=preds.device) - (n - 1) / 2
        g = coords**2
        kernel = torch.exp(-(g[None] + g[:, None]) / (2.0 * (n / 5) ** 2))
        kernel = (kernel / kernel.sum())[None, None]
        if scale > 0:  # low-pass, then keep every other pixel
            target = F.conv2d(target, kernel)[:, :, ::2, ::2]
            preds = F.conv2d(preds, kernel)[:, :, ::2, ::2]
        mu_t, mu_p = F.conv2d(target, kernel), F.conv2d(preds, kernel)
        var_t = torch.clamp(F.conv2d(target**2, kernel) - mu_t**2, min=0.0)
        var_p = torch.clamp(F.conv2d(preds**2, kernel) - mu_p**2, min=0.0)
        cov = F.conv2d(target * preds, kernel) - mu_t * mu_p
        gain = cov / (var_t + eps)
        var_v = var_p - gain * cov
        # Degenerate windows, in torchmetrics' order (and in place, as it does, for its memory):
        # a flat reference carries no information, a flat distorted image passes none, and a
        # negative gain is counted as none.
        flat = var_t < eps
        gain[flat] = 0
        var_v[flat] = var_p[flat]
        var_t[flat] = 0
        flat = var_p < eps
        gain[flat] = 0
        var_v[flat] = 0
        flat = gain < 0
        var_v[flat] = var_p[flat]
        gain[flat] = 0
        var_v = torch.clamp(var_v, min=eps)
        num += torch.log10(1.0 + gain**2 * var_t / (var_v + sigma_n_sq)).sum(dim=(1, 2, 3))
        den += torch.log10(1.0 + var_t / sigma_n_sq).sum(dim=(1, 2, 3))
    return num / den


def _luma255(x: torch.Tensor) -> torch.Tensor:
    """``[B, 3|1, H, W]`` in [0, 1] → luminance ``[B, 1, H, W]`` float32 on 0..255."""
    x = x.clamp(0, 1)
    if x.shape[1] == 3:
        x = (x * x.new_tensor(_LUMA).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return (255.0 * x).float()


def niqe(x: torch.Tensor) -> torch.Tensor:
    """NIQE per image (Mittal, Soundararajan & Bovik, IEEE SPL 2013): no reference, lower is more natural.

    Against the pristine model shipped in ``mllmsc/weights/niqe``, fitted by
    ``benchmarks/fit_niqe.py`` on the project's 248 training photos (the authors fitted theirs on
    125 pristine photos of their own), so values are comparable with each other, not with published
    NIQE numbers. See :mod:`mllmsc.eval.niqe` for the features.

    Args:
        x: images in [0, 1], RGB or grey (read as MATLAB ``rgb2gray`` of the 8-bit image).

    Returns:
        NIQE per image; NaN where it is undefined: a side under one 96-px patch, or no textured
        patch at all (a flat image).

    Shapes:
        x: ``[B, 3|1, H, W]`` or ``[C, H, W]``.
        output: ``[B]`` float64.
    """
    from mllmsc.eval.niqe import grey, niqe_score, shipped_model

    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"NIQE needs images [B, 3|1, H, W] or [C, H, W], got {tuple(x.shape)}")
    model = shipped_model()
    if min(x.shape[-2:]) < model.config.patch:
        return torch.full((x.shape[0],), torch.nan, dtype=torch.float64)
    return torch.tensor([niqe_score(grey(image), model) for image in x], dtype=torch.float64)


def lpips(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """LPIPS (AlexNet) per image, or ``None`` when it cannot be computed here.

    LPIPS needs torchvision's AlexNet with ImageNet weights, which torchvision would download on
    first use. This project never downloads at run time, so LPIPS is computed only when
    torchvision is installed *and* its AlexNet checkpoint is already in the torch hub cache
    (``$TORCH_HOME/hub/checkpoints``); the linear heads ship with torchmetrics. Both files are
    read with ``torch.load(weights_only=True)``, which loads tensors and never runs pickled code.
    The probe runs once per process and is cheap when torchvision is absent.

    Args:
        x: reconstructed images in [0, 1].
        y: reference images, same shape.

    Returns:
        LPIPS distance (lower is closer), or ``None``: the caller reports ``null``.

    Shapes:
        x, y: ``[B, 3, H, W]`` or ``[3, H, W]``.
        output: ``[B]`` float64.
    """
    model = _lpips_model()
    if model is None:
        return None
    x, y = _pair(x, y)
    if x.shape[1] != 3:
        raise ValueError(f"LPIPS needs RGB images [B, 3, H, W], got {tuple(x.shape)}")
    with torch.no_grad():
        value = model(x.clamp(0, 1).float(), y.clamp(0, 1).float(), normalize=True)
    return value.reshape(x.shape[0]).to(torch.float64)


def lpips_available() -> bool:
    """Whether :func:`lpips` returns numbers in this environment (see there for the rule)."""
    return _lpips_model() is not None


@functools.cache
def _lpips_model() -> torch.nn.Module | None:
    """torchmetrics' LPIPS built from local files only; ``None`` when they are not all here."""
    if importlib.util.find_spec("torchvision") is None:
        return None
    try:
        import torchvision
        from torchmetrics.functional.image.lpips import _NoTrainLpips

        checkpoint = _cached_hub_file(torchvision.models.AlexNet_Weights.DEFAULT.url)
        if checkpoint is None:
            return None
        backbone = torchvision.models.alexnet(weights=None)
        backbone.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        # pnet_rand builds the backbone without weights (so nothing is fetched); the pretrained
        # linear heads are loaded from torchmetrics' package data.
        model = _NoTrainLpips(net="alex", pretrained=True, pnet_rand=True)
        for stage in model.net.children():
            # torchmetrics' AlexNet stages hold torchvision's `features` layers under their
            # original indices, so the weights go back where they came from.
            for index, layer in stage.named_children():
                layer.load_state_dict(backbone.features[int(index)].state_dict())
    except Exception:
        # Any mismatch of versions or files means "LPIPS not available", never a crash of an
        # evaluation that has other metrics to report.
        return None
    return model.eval()


def dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """DISTS per image (Ding, Ma, Wang & Simoncelli, IEEE TPAMI 2020), or ``None`` when not computable here.

    DISTS compares the means (texture) and correlations (structure) of VGG16 feature maps; lower is
    closer, 0 for identical images. It needs two sets of weights: the learnt α, β, which ship with
    torchmetrics, and torchvision's ImageNet VGG16, which torchvision would download on first use.
    This project never downloads at run time, so DISTS is computed only when that checkpoint
    (``vgg16-397923af.pth``) is already in the torch hub cache (``$TORCH_HOME/hub/checkpoints``).
    torchvision itself is not needed: the 13 convolutions are rebuilt here in plain torch under
    torchvision's layer indices and torchmetrics' ``DISTSNetwork`` runs its own forward on them.
    Checkpoints are read with ``torch.load(weights_only=True)`` (tensors only, no pickled code).
    :func:`dists_unavailable_reason` says what is missing. Costly on a CPU: VGG16 over both images
    takes seconds for a 768×512 pair on two cores.

    Args:
        x: reconstructed images in [0, 1].
        y: reference images, same shape.

    Returns:
        DISTS distance, or ``None``: the caller reports ``null``.

    Shapes:
        x, y: ``[B, 3, H, W]`` or ``[3, H, W]``, sides at least 32 px (VGG's four poolings).
        output: ``[B]`` float64.
    """
    model, _ = _dists_model()
    if model is None:
        return None
    x, y = _pair(x, y)
    if x.shape[1] != 3:
        raise ValueError(f"DISTS needs RGB images [B, 3, H, W], got {tuple(x.shape)}")
    value = model(x.clamp(0, 1).float(), y.clamp(0, 1).float())
    return value.reshape(x.shape[0]).to(torch.float64)


def dists_available() -> bool:
    """Whether :func:`dists` returns numbers in this environment (see there for the rule)."""
    return _dists_model()[0] is not None


def dists_unavailable_reason() -> str | None:
    """Why :func:`dists` returns ``None`` here (one line), or ``None`` when it is available."""
    return _dists_model()[1]


#: torchvision's ImageNet VGG16 (``VGG16_Weights.IMAGENET1K_V1``), the backbone DISTS was trained on.
VGG16_CHECKPOINT = "vgg16-397923af.pth"
# torchvision's vgg16().features: channels of each 3×3 convolution, "M" a 2×2 max-pool.
_VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


@functools.cache
def _dists_model() -> tuple[torch.nn.Module | None, str | None]:
    """DISTS built from local files only: ``(model, None)``, or ``(None, why not)``."""
    checkpoint = _cached_hub_file(VGG16_CHECKPOINT)
    if checkpoint is None:
        return None, f"no VGG16 weights ({VGG16_CHECKPOINT}) in {Path(torch.hub.get_dir()) / 'checkpoints'}"
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        return _build_dists(features), None
    except Exception as err:
        # A mismatch of versions or files means "DISTS not available", never a crash of an
        # evaluation that has other metrics to report.
        text = str(err).strip().splitlines()
        return None, f"DISTS could not be built: {text[0] if text else type(err).__name__}"


def _build_dists(vgg_features: dict[str, torch.Tensor]) -> torch.nn.Module:
    """torchmetrics' DISTS network on VGG16 ``features`` weights (keys ``"0.weight"``, ...) and its α, β.

    Raises:
        FileNotFoundError: torchmetrics ships no DISTS weights (a version without DISTS).
        RuntimeError: the VGG16 tensors do not fit.
    """
    from torch import nn
    from torchmetrics.functional.image import dists as tm_dists

    layers: list[nn.Module] = []
    channels = 3
    for spec in _VGG16_LAYERS:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU(inplace=True)]
            channels = spec
    vgg = nn.Sequential(*layers)
    vgg.load_state_dict(vgg_features)
    alpha_beta = torch.load(tm_dists._PATH_WEIGHT_DISTS, map_location="cpu", weights_only=True)

    class _Dists(tm_dists.DISTSNetwork):
        def __init__(self) -> None:
            # DISTSNetwork.__init__ would import torchvision and fetch VGG16; the stages are the
            # same layers (its max-pools replaced by L2 pooling), built from the local checkpoint.
            nn.Module.__init__(self)
            stages = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))
            pooled = {4: 64, 9: 128, 16: 256, 23: 512}
            for n, (lo, hi) in enumerate(stages, start=1):
                stage = nn.Sequential()
                for i in range(lo, hi):
                    stage.add_module(
                        str(i), tm_dists.L2pooling(channels=pooled[i]) if i in pooled else vgg[i]
                    )
                setattr(self, f"stage{n}", stage)
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
            self.chns = [3, 64, 128, 256, 512, 512]
            self.alpha = nn.Parameter(alpha_beta["alpha"], requires_grad=False)
            self.beta = nn.Parameter(alpha_beta["beta"], requires_grad=False)

    model = _Dists().eval()
    for param in model.parameters():
        param.requires_grad = False
    return model


def _cached_hub_file(url: str) -> Path | None:
    """Path of ``url``'s file (or of a bare file name) in the torch hub cache, where torchvision keeps
    downloads."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return path if path.is_file() else None


# ------------------------------------------------------------------------------------ helpers


def _pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes, make both ``[B, C, H, W]`` float64."""
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.ndim == 3:
        x, y = x[None], y[None]
    if x.ndim != 4:
        raise ValueError(f"expected images [B, C, H, W] or [C, H, W], got {tuple(x.shape)}")
    return x.to(torch.float64), y.to(torch.float64)


def _as_mask(mask: torch.Tensor, *, batch: int, size: tuple[int, ...]) -> torch.Tensor:
    """Bool ``[B, 1, H, W]`` view of a mask ``[B|1, 1, H, W]``, ``[1, H, W]`` or ``[H, W]``."""
    shape = tuple(mask.shape)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3 and shape[0] == 1:
        mask = mask[None]
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, batch):
        raise ValueError(
            f"expected a mask [B, 1, H, W], [1, H, W] or [H, W] for a batch of {batch}, got {shape}"
        )
    if tuple(mask.shape[-2:]) != size:
        raise ValueError(f"mask is {tuple(mask.shape[-2:])}, images are {size} (H, W)")
    if mask.dtype != torch.bool:
        mask = mask > 0.5 if mask.is_floating_point() else mask != 0
    return mask.expand(batch, 1, *size)


def _psnr_from_mse(mse: torch.Tensor, data_range: float) -> torch.Tensor:
    # MSE 0 gives +inf (identical images) and NaN stays NaN, both on purpose.
    return 10.0 * torch.log10(data_range**2 / mse)
