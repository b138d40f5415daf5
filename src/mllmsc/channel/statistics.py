"""A channel's fading as a receiver with perfect CSI sees it: the law of ``|h|²`` and how long it holds.

Every channel describes itself once, as a :class:`Fading` (``channel.fading``); whoever needs the
statistics (the capacity behind ``digital-capacity``, the MCS choice, the uncoded BER closed forms,
``mllmsc channel``) reads that description instead of asking which class or name the channel has::

    channel ─► .fading ─► Fading(k_factor, coherence, exact)
                    ├─ law: none (|h|² = 1) · rayleigh (|h|² ~ Exp(1)) · rician (scaled noncentral χ²)
                    ├─ quadrature() ─► nodes gᵢ, weights wᵢ:  E[f(|h|²)] ≈ Σ wᵢ f(gᵢ)
                    ├─ expectation(f), cdf(g), ergodic_capacity(snr_db)
                    └─ coherence: symbols per fade (None: one per item, 1: per symbol)

One family covers the three laws: Rician with factor ``K`` and ``E|h|² = 1``, for which
``2(K+1)|h|²`` is noncentral χ² with 2 degrees of freedom and noncentrality ``2K``; ``K = 0`` is
Rayleigh and ``K = ∞`` is no fading (AWGN, or a known-phase line of sight).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

# scipy.stats costs ~1.5 s to import: it loads where a fading law is evaluated, not at start-up.

Law = Literal["none", "rayleigh", "rician"]

#: Quadrature cells: log-spaced edges from 1e-7 to 60 (plus [0, 1e-7] and [60, ∞)). Deep fades
#: drive outage and bit errors, so the cells are narrow near 0; each edge ratio is ~1.005.
_QUAD_LOW, _QUAD_HIGH, _QUAD_POINTS = 1e-7, 60.0, 4000
#: Linear cells over the central mass (all but 1e-12 at each end) of a Rician law, added to the
#: log cells: at large K the law is narrower than one log cell.
_BULK_POINTS = 200


@dataclass(frozen=True)
class Fading:
    """The statistics of the channel gain ``|h|²`` (``E|h|² = 1``) and its coherence.

    Attributes:
        k_factor: Rician factor ``K`` (linear): ``0`` Rayleigh, ``math.inf`` no fading.
        coherence: channel symbols that share one ``h``: ``None`` one per item (block fading over
            an image), ``1`` a new ``h`` per symbol, ``N`` per ``N`` consecutive symbols.
        exact: ``False`` when the law is a stand-in that callers assume rather than the channel's
            own (OFDM over TDL); closed forms that would claim to be the channel's theory (the
            uncoded BER) are then not given.
        note: why the law is a stand-in, when it is one.
    """

    k_factor: float = math.inf
    coherence: int | None = None
    exact: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        if not self.k_factor >= 0:  # also refuses NaN
            raise ValueError(f"k_factor must be >= 0, got {self.k_factor}")
        if self.coherence is not None and self.coherence < 1:
            raise ValueError(f"coherence must be a positive number of symbols, got {self.coherence}")

    @classmethod
    def none(cls) -> Fading:
        """No fading: ``|h|² = 1`` (AWGN)."""
        return cls(math.inf)

    @classmethod
    def rayleigh(cls, coherence: int | None = None) -> Fading:
        """Rayleigh fading, ``h ~ CN(0, 1)``: ``|h|² ~ Exp(1)``."""
        return cls(0.0, coherence)

    @classmethod
    def rician(cls, k_factor: float, coherence: int | None = None) -> Fading:
        """Rician fading with factor ``k_factor`` (linear) and ``E|h|² = 1``."""
        return cls(float(k_factor), coherence)

    @property
    def law(self) -> Law:
        """``"none"``, ``"rayleigh"`` or ``"rician"``: which closed forms apply."""
        if math.isinf(self.k_factor):
            return "none"
        return "rayleigh" if self.k_factor == 0 else "rician"

    def quadrature(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes ``g`` and weights ``w`` with ``E[f(|h|²)] ≈ Σ w f(g)``: the one quadrature of the package.

        The cells are log-spaced (see :data:`_QUAD_POINTS`), with linear cells added over the bulk
        of a Rician law. Each weight is the exact probability of its cell (CDF or survival-function
        differences) and each node the exact mean of ``|h|²`` within it (from the partial first
        moment), so ``Σ w = 1`` and ``Σ w g = E|h|² = 1`` hold to rounding and any ``f`` linear
        within a cell is integrated exactly. No fading: one node at 1.

        Shapes:
            returns two ``[G]`` float64 arrays (read-only, cached per ``k_factor``).
        """
        return _quadrature(float(self.k_factor))

    def expectation(self, f: Callable[[np.ndarray], np.ndarray]) -> float | np.ndarray:
        """``E[f(|h|²)]`` by :meth:`quadrature`.

        Args:
            f: vectorised function of the gain; it gets the ``[G]`` nodes and returns ``[G]`` or
                ``[G, ...]`` (several functions at once, e.g. one per MCS).

        Shapes:
            returns a float for ``[G]`` values, else an array of the trailing shape ``[...]``.
        """
        nodes, weights = self.quadrature()
        value = np.tensordot(weights, np.asarray(f(nodes), dtype=np.float64), axes=(0, 0))
        return float(value) if np.ndim(value) == 0 else value

    def cdf(self, gain: float | np.ndarray) -> float | np.ndarray:
        """``P(|h|² <= gain)``.

        Shapes:
            gain: float or any array → the same shape.
        """
        g = np.asarray(gain, dtype=np.float64)
        if self.law == "none":
            out = (g >= 1.0).astype(np.float64)
        elif self.law == "rayleigh":
            out = -np.expm1(-np.maximum(g, 0.0))
        else:
            scale = 2 * (self.k_factor + 1)
            from scipy import stats

            out = stats.ncx2.cdf(scale * np.maximum(g, 0.0), df=2, nc=2 * self.k_factor)
        return float(out) if out.ndim == 0 else out

    def ergodic_capacity(self, snr_db: float) -> float:
        """``E[log2(1 + SNR·|h|²)]`` in bit per complex symbol (perfect CSI at the receiver).

        No fading: ``log2(1 + SNR)``. Rayleigh: ``e^{1/SNR} E1(1/SNR) / ln 2`` (closed form, E1
        the exponential integral). Rician: :meth:`expectation`.

        The ergodic value is what an ideal code achieves when each codeword sees many fades; with
        one fade per image (``coherence=None``) no fixed rate reaches it without CSI at the
        transmitter, so it is an optimistic bound there, which is what an upper bound should be.
        """
        snr = 10 ** (snr_db / 10)
        if self.law == "none":
            return math.log2(1 + snr)
        if self.law == "rayleigh":
            return _exp_e1(1 / snr) / math.log(2)
        return self.expectation(lambda g: np.log2(1 + snr * g))


def _exp_e1(x: float) -> float:
    """``e^x E1(x)`` without overflow: the closed form up to x = 50, then its asymptotic series."""
    if x <= 50:
        from scipy import special

        return math.exp(x) * float(special.exp1(x))
    # e^x E1(x) ~ (1/x) Σ (-1)^n n! / x^n; five terms are exact to ~1e-9 at x = 50.
    return sum((-1) ** n * math.factorial(n) / x ** (n + 1) for n in range(6))


@functools.cache
def _quadrature(k_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell means and masses of ``|h|²`` for Rician ``k_factor`` (see :meth:`Fading.quadrature`)."""
    from scipy import stats

    if math.isinf(k_factor):
        nodes, weights = np.ones(1), np.ones(1)
    else:
        # u = s·|h|² ~ χ'²(2, λ); u·pdf₂(u) = 2·pdf₄(u) + λ·pdf₆(u) (the noncentral χ² recursion), so the
        # partial mean E[|h|²; |h|² <= x] = (2·F₄(s·x) + λ·F₆(s·x)) / s, with F_d the CDF of χ'²(d, λ).
        scale, nc = 2 * (k_factor + 1), 2 * k_factor
        edges = np.logspace(np.log10(_QUAD_LOW), np.log10(_QUAD_HIGH), _QUAD_POINTS)
        if nc > 0:
            # A large K narrows |h|² around 1 to less than a log cell: add linear cells over its bulk.
            bulk = stats.ncx2(2, nc)
            edges = np.union1d(edges, np.linspace(bulk.ppf(1e-12), bulk.isf(1e-12), _BULK_POINTS) / scale)
        edges = np.concatenate([[0.0], edges, [np.inf]])
        u = scale * edges

        def law(df: int):
            return stats.chi2(df) if nc == 0 else stats.ncx2(df, nc)

        # Differences of the CDF below the median and of the survival function above it: a
        # difference of two numbers near 1 would lose the small masses of the upper tail.
        lower = np.diff(law(2).cdf(u)), np.diff((2 * law(4).cdf(u) + nc * law(6).cdf(u)) / scale)
        upper = -np.diff(law(2).sf(u)), -np.diff((2 * law(4).sf(u) + nc * law(6).sf(u)) / scale)
        above = law(2).cdf(u[:-1]) >= 0.5
        mass = np.where(above, upper[0], lower[0])
        moment = np.where(above, upper[1], lower[1])
        keep = mass > 0  # far tails underflow to zero mass: no node there
        # The mean of a cell lies inside it; rounding in the moment differences may not know that.
        nodes = np.clip(moment[keep] / mass[keep], edges[:-1][keep], edges[1:][keep])
        weights = mass[keep]
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


__all__ = ["Fading", "Law"]
