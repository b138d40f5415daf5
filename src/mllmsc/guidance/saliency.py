"""``saliency``: query-agnostic spectral-residual saliency (Hou & Zhang, CVPR 2007).

The log amplitude spectrum of natural images is smooth; what sticks out of its local average,
the *spectral residual*, belongs to what is unexpected in the image, i.e. the salient regions::

    x ─► grey, resized to n px on the long side ─► FFT ─► A = log(|F| + ε), P = angle(F)
      R = A − mean₃ₓ₃(A)                         (the spectral residual)
      Sₙ = |IFFT(exp(R + iP))|² ─► Gaussian blur ─► resize to H×W ─► / mean
      S = mean of Sₙ over n = 16, 32, 64        (the paper uses n = 64 only; see WORK_SIZES)
      soft = S / (S + 3·mean(S))                 (0.5 exactly at 3× the mean saliency)

``soft >= 0.5`` is Hou & Zhang's object map (saliency above three times its mean). The intent is
not used (``used_query=False``): this is the fallback when no text-conditioned model is here.

Our own numpy/scipy implementation, not OpenCV's ``StaticSaliencySpectralResidual``: that class
lives in opencv-contrib (``cv2.saliency``), a large binary wheel that this project does not depend
on, for some twenty lines of FFT.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from mllmsc.guidance.base import Guidance

#: Sides, in pixels, of the long edge the spectrum is computed at. Hou & Zhang use 64; a plain
#: object larger than a few working pixels then lights up only at its corners, so the maps of three
#: scales (each divided by its mean) are averaged, which fills the inside of larger objects.
WORK_SIZES = (16, 32, 64)
#: Standard deviation of the smoothing Gaussian, as a fraction of the working size.
BLUR = 0.05
#: Regulariser of the log amplitude, as a fraction of the mean amplitude: a synthetic image has
#: exact zeros in its spectrum, whose log would dominate the residual with a lattice of artefacts.
EPS = 0.1


def spectral_residual(grey: np.ndarray, *, work_size: int = 64, blur: float = BLUR) -> np.ndarray:
    """Spectral-residual saliency of a grey image at one scale, resized to the image, mean 1.

    Shapes:
        grey: ``[H, W]`` float → ``[H, W]`` float64, non-negative.
    """
    h, w = grey.shape
    scale = work_size / max(h, w)
    small = ndimage.zoom(grey.astype(np.float64), (max(scale * h, 1) / h, max(scale * w, 1) / w), order=1)
    spectrum = np.fft.fft2(small)
    amplitude = np.abs(spectrum)
    log_amp = np.log(amplitude + EPS * amplitude.mean() + 1e-12)
    residual = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="wrap")
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = ndimage.gaussian_filter(sal, sigma=blur * work_size, mode="nearest")
    sal = ndimage.zoom(sal, (h / sal.shape[0], w / sal.shape[1]), order=1, grid_mode=True, mode="nearest")
    mean = sal.mean()
    return sal / mean if mean > 0 else np.zeros_like(sal)


def saliency_map(grey: np.ndarray) -> np.ndarray:
    """Multi-scale spectral residual → soft map ``S / (S + 3·mean(S))`` in [0, 1).

    Shapes:
        grey: ``[H, W]`` float → ``[H, W]`` float32.
    """
    s = np.mean([spectral_residual(grey, work_size=n) for n in WORK_SIZES], axis=0)
    mean = float(s.mean())
    return (s / (s + 3 * mean) if mean > 0 else np.zeros_like(s)).astype(np.float32)


class SaliencyGuidance(Guidance):
    """Spectral-residual saliency; ignores the intent (``used_query=False``, no phrases)."""

    name = "saliency"
    channel_aware = True

    def predict(self, x, intent, csi):
        grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).detach().float().cpu().numpy()
        soft = torch.from_numpy(np.stack([saliency_map(g) for g in grey])[:, None]).to(x.device)
        return soft, [], False
