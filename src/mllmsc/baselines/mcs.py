"""Modulation and coding schemes: the coded link, its simulated BLER table, and the MCS choice.

The physical layer of the digital baseline, all Sionna blocks::

    payload bits ─► CRC24A ─► 5G LDPC (rate match + bit interleave) ─► QAM (unit power) ─► channel
    bits, ok ◄──── CRC check ◄── BP decoder (20 it.) ◄── APP demapper (LLRs) ◄── soft_symbols(ŷ, h)

Every codeword carries ``k`` bits (payload + 24 CRC bits) in ``n = 3840`` coded bits, so it fills
exactly ``n / m`` QAM symbols for every order ``m`` in {2, 4, 6, 8}. The MCS list (12 entries,
sorted by spectral efficiency ``m·r``) is in :data:`MCS_TABLE`.

BLER table (``bler_table.json``, rebuilt by ``python -m mllmsc.baselines.mcs --rebuild``): block
error rate per MCS and SNR for two simulated channels, on a 0.5 dB grid:

* ``awgn``: the AWGN channel;
* ``rayleigh-fast``: Rayleigh fading drawn per symbol (``coherence=1``), MMSE-equalised with
  perfect CSI: the full-diversity (ergodic) case.

Block fading (one ``h`` per codeword or per image) is not simulated: with perfect CSI a codeword
in a flat fade ``h`` sees exactly an AWGN channel at SNR ``·|h|²``, so its BLER is the AWGN curve
averaged over the distribution of ``|h|²`` (:meth:`BlerTable.block_fading_loss`), by the quadrature
of the channel's own fading description (:meth:`mllmsc.channel.Fading.expectation`).

Choosing the MCS (:func:`select_mcs`): the transmitter knows the SNR, not the outcome. "BLER ≤ 10 %"
is read as in 5G, per *transport block*: the image is one transport block, lost if any of its ``C``
codewords fails, so the rule is ``P(image lost) ≤ 10 %`` with

* independent codeword errors (AWGN, fast fading, OFDM): ``1 − (1 − p)^C``;
* one fade for the whole image (block fading, ``coherence=None``): ``E_h[1 − (1 − p_AWGN(SNR·|h|²))^C]``.

``C`` is the number of codewords that fill the symbol budget at that MCS (an upper bound on what is
sent). Points with no error in the simulated codewords are not taken as BLER 0: a waterfall
``Q((SNR_dB − μ) / σ)`` fitted to the simulated points takes their place (:func:`_extrapolate_tail`). A
per-*codeword* 10 % would lose almost every large image: a Kodak image at CBR 1/16 needs 40–120
codewords, and ``1 − 0.95^80 ≈ 98 %``. The SNR is rounded down to the table's grid, the BLER
curves are made non-increasing in SNR (a running maximum from the top: conservative), and the
highest-rate MCS of the longest eligible prefix of the list is taken, so a higher SNR never picks a
lower-rate MCS.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from scipy import optimize, stats

from mllmsc.channel import Channel, Fading
from mllmsc.errors import UserError
from mllmsc.types import ChannelOutput

__all__ = [
    "CODEWORD_BITS",
    "CRC_BITS",
    "MCS",
    "MCS_TABLE",
    "BlerTable",
    "CodedLink",
    "McsChoice",
    "load_bler_table",
    "mcs_by_name",
    "select_mcs",
    "simulate_bler",
    "soft_symbols",
]

CODEWORD_BITS = 3840  # n: divisible by 2, 4, 6 and 8, so a codeword fills whole QAM symbols
CRC = "CRC24A"
CRC_BITS = 24
LDPC_ITERATIONS = 20
TABLE_FILE = "bler_table.json"
_MIN_WATERFALL_DB = 0.35  # smallest σ of the fitted waterfall tail, see _extrapolate_tail


@dataclass(frozen=True)
class MCS:
    """One modulation and coding scheme.

    Attributes:
        name: e.g. ``"16qam-3/4"``.
        bits_per_symbol: QAM order ``m`` (2 QPSK, 4 16-QAM, 6 64-QAM, 8 256-QAM).
        code_rate: LDPC code rate ``r = k / n``.
    """

    name: str
    bits_per_symbol: int
    code_rate: Fraction

    @property
    def n(self) -> int:
        """Coded bits per codeword."""
        return CODEWORD_BITS

    @property
    def k(self) -> int:
        """LDPC information bits per codeword (payload + CRC)."""
        return int(self.code_rate * CODEWORD_BITS)

    @property
    def payload_bits(self) -> int:
        """Bits of the user's data per codeword (``k`` minus the CRC)."""
        return self.k - CRC_BITS

    @property
    def symbols_per_codeword(self) -> int:
        return self.n // self.bits_per_symbol

    @property
    def spectral_efficiency(self) -> float:
        """Information bits per channel symbol, ``m·r``."""
        return self.bits_per_symbol * float(self.code_rate)


def _mcs(order: str, m: int, rate: str) -> MCS:
    return MCS(f"{order}-{rate}", m, Fraction(rate))


# Sorted by spectral efficiency (0.4 … 6.67 bit/symbol). QPSK 1/5 reaches down to about −4 dB for
# low-SNR fading; 256-QAM 5/6 tops out near 7 dB below the Shannon limit's 6.67-bit SNR + margin.
MCS_TABLE: tuple[MCS, ...] = (
    _mcs("qpsk", 2, "1/5"),
    _mcs("qpsk", 2, "1/3"),
    _mcs("qpsk", 2, "1/2"),
    _mcs("qpsk", 2, "2/3"),
    _mcs("16qam", 4, "1/2"),
    _mcs("16qam", 4, "2/3"),
    _mcs("16qam", 4, "3/4"),
    _mcs("64qam", 6, "2/3"),
    _mcs("64qam", 6, "3/4"),
    _mcs("64qam", 6, "5/6"),
    _mcs("256qam", 8, "3/4"),
    _mcs("256qam", 8, "5/6"),
)


def mcs_by_name(name: str) -> MCS:
    """The MCS called ``name`` (e.g. ``"64qam-3/4"``)."""
    for mcs in MCS_TABLE:
        if mcs.name == name:
            return mcs
    raise UserError(f"unknown MCS {name!r}; choose one of: {', '.join(m.name for m in MCS_TABLE)}")


# ----------------------------------------------------------------------------------- coded link


def soft_symbols(out: ChannelOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """Unbiased symbol estimates and their noise variance, what the APP demapper needs.

    * AWGN (``h`` is None): ``y`` with ``N0``.
    * MMSE-equalised output ``ẑ = h* y / (|h|² + N0)``: ``ẑ`` is biased towards 0 (its gain is
      ``|h|² / (|h|² + N0)``); the demapper's QAM grid has unit scale, so we undo the bias,
      ``ẑ · (|h|² + N0) / |h|² = y / h``, whose noise variance is ``N0 / |h|²`` per symbol.
    * Raw output (``csi="decoder"``): ``y / h`` with the same ``N0 / |h|²``.

    Both are exact for perfect CSI; with estimated ``h`` (OFDM LS) the estimation error is ignored.

    Shapes:
        out.y, out.h: ``[B, N]`` complex; out.noise_var: ``[B]`` → two ``[B, N]`` tensors
        (complex64 symbols, float32 noise variance).
    """
    n0 = out.noise_var.view(-1, *([1] * (out.y.dim() - 1))).to(torch.float32)
    if out.h is None:
        return out.y, n0.expand(out.y.shape).contiguous()
    gain = out.h.abs().square().clamp_min(1e-12)  # a deep fade gives LLRs ≈ 0, not NaN
    if out.equalized:
        y = out.y * ((gain + n0) / gain).to(out.y.dtype)
    else:
        y = out.y / torch.where(out.h.abs() > 0, out.h, torch.ones_like(out.h))
    return y.to(torch.complex64), (n0 / gain).to(torch.float32)


class CodedLink:
    """Sionna's CRC + 5G LDPC + QAM chain for one MCS (built once per MCS, see :func:`coded_link`).

    Shapes:
        encode: bits ``[C, payload_bits]`` float {0, 1} → symbols ``[C, n/m]`` complex64, unit
        average power (Sionna's QAM is normalised).
        decode: y, noise_var ``[C, n/m]`` → bits ``[C, payload_bits]`` float, ok ``[C]`` bool.
    """

    def __init__(self, mcs: MCS) -> None:
        from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
        from sionna.phy.mapping import Demapper, Mapper

        self.mcs = mcs
        m = mcs.bits_per_symbol
        self.crc_encoder = CRCEncoder(CRC, k=mcs.payload_bits, device="cpu")
        self.crc_decoder = CRCDecoder(self.crc_encoder, device="cpu")
        # num_bits_per_symbol turns on the 38.212 bit interleaver (the decoder undoes it).
        self.encoder = LDPC5GEncoder(mcs.k, mcs.n, num_bits_per_symbol=m, device="cpu")
        self.decoder = LDPC5GDecoder(
            self.encoder, num_iter=LDPC_ITERATIONS, hard_out=True, return_infobits=True, device="cpu"
        )
        self.mapper = Mapper("qam", m, device="cpu")
        self.demapper = Demapper("app", "qam", m, device="cpu")

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        return self.mapper(self.encoder(self.crc_encoder(bits.to(torch.float32))))

    def decode(self, y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        llr = self.demapper(y, noise_var)
        bits, ok = self.crc_decoder(self.decoder(llr))
        return bits, ok.reshape(-1)


@functools.cache
def coded_link(name: str) -> CodedLink:
    """The :class:`CodedLink` of the MCS ``name``, built once per process (LDPC setup is slow)."""
    return CodedLink(mcs_by_name(name))


# ----------------------------------------------------------------------------------- BLER table


@dataclass(frozen=True)
class McsChoice:
    """The transmitter's decision for one budget and SNR.

    Attributes:
        mcs: the chosen MCS, ``None`` when none is reliable enough (or no codeword fits).
        codewords: codewords that fill the budget at that MCS (0 when ``mcs`` is None).
        loss_probability: predicted ``P(image lost)`` with ``codewords`` codewords (1 when None).
    """

    mcs: MCS | None
    codewords: int
    loss_probability: float


class BlerTable:
    """Simulated BLER curves, loaded from ``bler_table.json`` (see the module docstring).

    Attributes:
        data: the parsed JSON.
    """

    def __init__(self, data: dict) -> None:
        names = [m["name"] for m in data["mcs"]]
        if names != [m.name for m in MCS_TABLE]:
            raise ValueError("bler_table.json was built for another MCS list; rebuild it")
        self.data = data
        self._curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for model, table in data["models"].items():
            snr = np.asarray(table["snr_db"], dtype=np.float64)
            bler = np.asarray([table["bler"][m.name] for m in MCS_TABLE], dtype=np.float64)
            counts = table.get("codewords", {})
            counts = np.asarray([counts.get(m.name, [0] * len(snr)) for m in MCS_TABLE])
            bler = np.stack([_extrapolate_tail(snr, b, c) for b, c in zip(bler, counts, strict=True)])
            # Conservative monotone version: the BLER at s is the worst seen at any SNR >= s.
            bler = np.maximum.accumulate(bler[:, ::-1], axis=1)[:, ::-1]
            self._curves[model] = (snr, bler)

    @property
    def models(self) -> list[str]:
        return sorted(self._curves)

    def curve(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """``(snr_db [S], bler [len(MCS_TABLE), S])`` of a simulated model (monotone version)."""
        if model not in self._curves:
            raise UserError(f"no BLER curves for {model!r}; the table has: {', '.join(self.models)}")
        return self._curves[model]

    def bler(self, model: str, snr_db: float) -> np.ndarray:
        """BLER of every MCS at ``snr_db`` rounded *down* to the grid (1 below the grid).

        Shapes:
            returns ``[len(MCS_TABLE)]`` float64.
        """
        snr, bler = self.curve(model)
        i = int(np.searchsorted(snr, snr_db + 1e-9, side="right")) - 1
        return np.ones(len(MCS_TABLE)) if i < 0 else bler[:, i]

    def block_fading_loss(
        self, snr_db: float, codewords: np.ndarray, *, fading: Fading, shared: bool
    ) -> np.ndarray:
        """``P(image lost)`` per MCS in flat block fading whose ``|h|²`` follows ``fading``.

        With perfect CSI a codeword in fade ``h`` is an AWGN codeword at SNR·|h|², so
        ``p(h) = p_AWGN(SNR·|h|²)`` (linear interpolation on the AWGN grid, 1 below it, the last
        value above it). ``shared=True``: one fade for all ``C`` codewords of the image,
        ``E_h[1 − (1 − p(h))^C]``; ``shared=False``: a fade per codeword, ``1 − (1 − E_h p(h))^C``.

        Shapes:
            codewords: ``[len(MCS_TABLE)]`` int → returns ``[len(MCS_TABLE)]`` float64.
        """
        grid, bler = self.curve("awgn")
        c = np.maximum(np.asarray(codewords, dtype=np.int64), 1)  # [M]

        def p(gains: np.ndarray) -> np.ndarray:  # [G] → [G, M]: each MCS's BLER in each fade
            snr_h = snr_db + 10 * np.log10(gains)
            return np.stack([np.interp(snr_h, grid, b, left=1.0, right=b[-1]) for b in bler], axis=1)

        if shared:
            out = fading.expectation(lambda g: 1 - (1 - p(g)) ** c)
        else:
            out = 1 - (1 - fading.expectation(p)) ** c
        return np.clip(out, 0.0, 1.0)


def _extrapolate_tail(snr: np.ndarray, bler: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Replace the zeros after the waterfall by a fitted waterfall ``Q((s − μ) / σ)`` (s in dB).

    "0 errors in 200 codewords" is not 0: at the first clean point the BLER can still be ~1e-3,
    and an image of 80 codewords would then be lost one time in ten. The waterfall of an LDPC
    code is roughly a Gaussian tail in dB; ``μ, σ`` are fitted to the simulated points by binomial
    maximum likelihood, with ``σ >= 0.35 dB``, and the fit replaces the points after the last one
    that saw an error. The floor comes from a check with 1000 codewords: 16-QAM 1/2 over AWGN
    had 2/1000 errors at 7.0 dB where the free fit (σ ≈ 0.2 dB) said 3e-5; the tail is heavier
    than the steep top of the waterfall suggests.
    """
    out = bler.copy()
    sim = counts > 0
    measured = np.nonzero(bler > 0)[0]
    if len(measured) == 0 or measured[-1] + 1 >= len(bler) or sim.sum() < 2:
        return out
    s, n = snr[sim], counts[sim]
    e = np.round(bler[sim] * n)

    def nll(theta: np.ndarray) -> float:
        p = np.clip(stats.norm.sf((s - theta[0]) / np.exp(theta[1])), 1e-12, 1 - 1e-12)
        return -float(np.sum(e * np.log(p) + (n - e) * np.log1p(-p)))

    mid = snr[measured[-1]]
    floor = np.log(_MIN_WATERFALL_DB)
    fit = optimize.minimize(
        nll,
        x0=[mid, floor + 0.2],
        method="L-BFGS-B",
        bounds=[(snr[0] - 5, snr[-1] + 5), (floor, np.log(5.0))],
    )
    mu, sigma = fit.x[0], float(np.exp(fit.x[1]))
    last = measured[-1]
    out[last + 1 :] = stats.norm.sf((snr[last + 1 :] - mu) / sigma)
    return out


@functools.cache
def load_bler_table(path: str | None = None) -> BlerTable:
    """The BLER table shipped as package data (or the JSON at ``path``), parsed once."""
    if path is None:
        text = resources.files("mllmsc.baselines").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return BlerTable(json.loads(text))


#: Fades per codeword from which the simulated per-symbol Rayleigh curve stands in: a coherence of
#: at most this many symbols gives every codeword (≥ 480 symbols) at least 15 independent fades.
FAST_FADING_COHERENCE = 32


def bler_model_for(channel: Channel) -> tuple[str, dict]:
    """Which BLER model describes ``channel``, read from its fading description: ``(model, options)``.

    * no fading (``law == "none"``) → ``"awgn"``.
    * ``coherence=None`` (one fade per image) → ``"block"`` with ``shared=True``, averaged over the
      channel's own ``|h|²`` law (Rayleigh or Rician).
    * ``coherence`` ≤ :data:`FAST_FADING_COHERENCE` symbols → ``"rayleigh-fast"`` (for Rician too: a
      conservative stand-in, Rician fades less). OFDM over TDL describes itself as Rayleigh per
      symbol (a stand-in: per-slot normalised OFDM fades less within a codeword), so it lands here.
    * a longer ``coherence`` → ``"block"`` with a fade per codeword (conservative: a codeword that
      spans several blocks does better).
    """
    fading = channel.fading
    if fading.law == "none":
        return "awgn", {}
    if fading.coherence is None:
        return "block", {"fading": fading, "shared": True}
    if fading.coherence <= FAST_FADING_COHERENCE:
        return "rayleigh-fast", {}
    return "block", {"fading": fading, "shared": False}


def select_mcs(
    snr_db: float,
    budget: int,
    channel: Channel,
    *,
    target: float = 0.1,
    table: BlerTable | None = None,
) -> McsChoice:
    """The highest-rate MCS whose predicted image loss is at most ``target`` (see module docstring).

    Args:
        snr_db: the SNR the transmitter knows (Es/N0 per complex symbol).
        budget: channel symbols allowed.
        channel: the channel the image will cross (decides the BLER model, :func:`bler_model_for`).
        target: the largest acceptable ``P(image lost)``.
        table: BLER table (the shipped one by default).
    """
    table = table or load_bler_table()
    codewords = np.array([budget // m.symbols_per_codeword for m in MCS_TABLE])
    model, options = bler_model_for(channel)
    if model == "block":
        loss = table.block_fading_loss(snr_db, codewords, **options)
    else:
        p = table.bler(model, snr_db)
        loss = 1 - (1 - p) ** np.maximum(codewords, 1)
    chosen = None
    for j in range(len(MCS_TABLE)):
        # The longest eligible prefix: an MCS is only considered when every slower one is reliable,
        # which keeps the choice monotone in the SNR even where simulated curves cross.
        if codewords[j] == 0 or loss[j] > target:
            break
        chosen = j
    if chosen is None:
        return McsChoice(None, 0, 1.0)
    return McsChoice(MCS_TABLE[chosen], int(codewords[chosen]), float(loss[chosen]))


# ----------------------------------------------------------------------------------- simulation


def simulate_bler(
    mcs: MCS,
    channel: Channel,
    snr_db: float,
    *,
    codewords: int = 200,
    batch: int = 50,
    max_errors: int = 40,
    generator: torch.Generator | None = None,
) -> tuple[int, int]:
    """Monte-Carlo block errors of ``mcs`` over ``channel``: ``(errors, codewords simulated)``.

    Each codeword is one channel item (so ``coherence=None`` would mean a fade per codeword).
    A block error is a failed CRC *or* wrong bits that passed it. Stops early once ``max_errors``
    errors are counted (a high BLER needs fewer codewords for the same relative accuracy).
    """
    link = coded_link(mcs.name)
    errors = done = 0
    with torch.inference_mode():
        while done < codewords and errors < max_errors:
            b = min(batch, codewords - done)
            bits = torch.randint(0, 2, (b, mcs.payload_bits), generator=generator).to(torch.float32)
            out = channel(link.encode(bits), snr_db, generator=generator)
            y, no = soft_symbols(out)
            bits_hat, ok = link.decode(y, no)
            bad = ~ok | (bits_hat != bits).any(dim=1)
            errors += int(bad.sum())
            done += b
    return errors, done


def _shannon_snr_db(fading: Fading, efficiency: float) -> float:
    """SNR (dB) at which the Gaussian-input (ergodic) capacity of ``fading`` equals ``efficiency``."""
    if fading.law == "none":  # the inverse in closed form
        return 10 * math.log10(2**efficiency - 1)

    def gap(s_db: float) -> float:
        return fading.ergodic_capacity(s_db) - efficiency

    return float(optimize.brentq(gap, -30, 60))


def build_table(
    *,
    grids: dict[str, tuple[float, float]] | None = None,
    step: float = 0.5,
    codewords: int = 200,
    seed: int = 0,
    log=None,
) -> dict:
    """Simulate the BLER table (the JSON structure of ``bler_table.json``).

    For each MCS and model, SNRs below the Gaussian-input capacity limit of its spectral efficiency
    are set to BLER 1 without simulation (no code of this length gets through there); simulation
    starts at the grid point just below that limit and goes up until two consecutive points have
    no error in ``codewords`` codewords; higher SNRs are set to 0. Entries not simulated have a
    ``codewords`` count of 0 in the JSON.
    """
    from mllmsc.channel import CHANNELS

    grids = grids or {"awgn": (-5.0, 26.0), "rayleigh-fast": (-5.0, 36.0)}
    channels = {
        "awgn": CHANNELS.build("awgn"),
        "rayleigh-fast": CHANNELS.build("rayleigh", coherence=1, csi="equalize"),
    }
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    models = {}
    for model, (lo, hi) in grids.items():
        snr = np.round(np.arange(lo, hi + step / 2, step), 3)
        bler_out, count_out = {}, {}
        for mcs in MCS_TABLE:
            limit = _shannon_snr_db(channels[model].fading, mcs.spectral_efficiency)
            bler = np.ones(len(snr))
            count = np.zeros(len(snr), dtype=int)
            clean = 0
            for i, s in enumerate(snr):
                if s < limit - step:
                    continue
                if clean >= 2:
                    bler[i] = 0.0
                    continue
                errors, done = simulate_bler(
                    mcs, channels[model], float(s), codewords=codewords, generator=generator
                )
                bler[i], count[i] = errors / done, done
                clean = clean + 1 if errors == 0 else 0
                if log is not None:
                    log(f"{model} {mcs.name} {s:+.1f} dB: {errors}/{done}")
            bler_out[mcs.name] = [round(float(b), 5) for b in bler]
            count_out[mcs.name] = count.tolist()
        models[model] = {"snr_db": snr.tolist(), "bler": bler_out, "codewords": count_out}
    return {
        "version": 1,
        "description": (
            "Block error rate per MCS and Es/N0 (dB), CRC24A + 5G LDPC (n=3840, BP boxplus-phi, "
            "20 iterations) + Gray QAM with APP demapping. awgn: AWGN; rayleigh-fast: Rayleigh "
            "per symbol, MMSE-equalised with perfect CSI. codewords=0: not simulated (1 below the "
            "capacity limit, 0 after two clean points). Rebuild: python -m mllmsc.baselines.mcs --rebuild"
        ),
        "codeword_bits": CODEWORD_BITS,
        "crc": CRC,
        "ldpc_iterations": LDPC_ITERATIONS,
        "mcs": [
            {"name": m.name, "bits_per_symbol": m.bits_per_symbol, "code_rate": str(m.code_rate), "k": m.k}
            for m in MCS_TABLE
        ],
        "models": models,
        "simulation": {
            "codewords_per_point": codewords,
            "seed": seed,
            "seconds": round(time.perf_counter() - start, 1),
            "torch_threads": torch.get_num_threads(),
        },
    }


def thresholds(table: BlerTable, target: float = 0.1) -> dict[str, dict[str, float | None]]:
    """Lowest grid SNR with per-codeword BLER ≤ ``target``, per model and MCS (for reports)."""
    out: dict[str, dict[str, float | None]] = {}
    for model in table.models:
        snr, bler = table.curve(model)
        out[model] = {}
        for j, mcs in enumerate(MCS_TABLE):
            ok = np.nonzero(bler[j] <= target)[0]
            out[model][mcs.name] = float(snr[ok[0]]) if len(ok) else None
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="simulate the table and write it")
    parser.add_argument("--codewords", type=int, default=200, help="codewords per SNR point")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(TABLE_FILE))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.rebuild:
        data = build_table(codewords=args.codewords, log=lambda s: print(s, flush=True))
        from mllmsc.atomic import atomic_write_text

        atomic_write_text(args.out, json.dumps(data, indent=1) + "\n")
        print(f"wrote {args.out} in {data['simulation']['seconds']} s")
    table = load_bler_table(str(args.out)) if args.out.exists() else load_bler_table()
    for model, row in thresholds(table).items():
        print(model, {k: v for k, v in row.items()})


if __name__ == "__main__":
    main()
