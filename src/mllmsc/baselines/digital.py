"""Digital separation baseline: an image codec, then 5G LDPC + QAM, or an ideal capacity code.

The classic scheme that deep JSCC is measured against (Bourtsoulatze et al. 2019; Yang et al.,
SwinJSCC): BPG (here HEIF, the same HEVC intra coding) or JPEG, then a practical channel code::

    x ─► codec at the best quality that fits ─► [32-bit length | file] ─► C codewords of CRC24A +
         5G LDPC (n = 3840) ─► QAM ─► channel (one item, C·n/m symbols) ─► APP demapper ─► BP ─►
         CRC: all pass ─► decode the file ─► x̂          any fails ─► mid-grey x̂, lost (the cliff)

Transmitter, knowing only the SNR and the budget ``floor(cbr·3·H·W)`` symbols:

1. MCS: the highest-rate scheme whose predicted image loss is at most ``target_loss`` (10 %), from
   the simulated BLER table (:func:`mllmsc.baselines.mcs.select_mcs`; the image is one transport
   block, so its loss counts all of its codewords).
2. Quality: the best file whose bits plus the 32-bit length header fill at most
   ``C·(k − 24)`` payload bits, ``C`` the codewords that fit the budget. What is sent is padded to
   whole codewords (each fills whole QAM symbols), so ``symbols_used ≤ budget``.

If no MCS is reliable enough at that SNR, or not even the lowest quality fits, nothing is sent:
the receiver shows mid-grey and the result is marked lost.

``capacity=True`` (``digital-capacity``) replaces steps 1–2 and the channel by an ideal code:
``floor(budget · C)`` bits get through error-free, ``C`` the channel's (ergodic) capacity per
symbol (:mod:`mllmsc.baselines.capacity`); no header, never a channel loss. The upper bound of
separation with this codec.

QAM symbols from Sionna's mapper have unit average power over the constellation, which is the
transmitter's power normalisation here; the channel's ``snr_db`` is Es/N0 per complex symbol.
All codewords of an image go through the channel as one item, so a fading channel with
``coherence=None`` puts one fade on the whole image.

Speed: the BP decoder runs ~40 ms per codeword on one CPU thread (a Kodak image at CBR 1/16 is
40–120 codewords); HEIF (x265, preset slow) takes 1–5 s per encode and the quality search
needs a few. On a busy CPU, run with ``torch.set_num_threads(1)``: the decoder's many small
tensor ops slow down ~10x when two threads compete for loaded cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from mllmsc.baselines.capacity import capacity_bits, channel_capacity
from mllmsc.baselines.mcs import MCS, BlerTable, coded_link, select_mcs, soft_symbols
from mllmsc.baselines.source import EncodeCache, Encoded, best_fit, from_pixels, get_codec, to_pixels
from mllmsc.channel import CHANNELS, Channel
from mllmsc.codec.allocation import symbol_budget
from mllmsc.errors import UserError
from mllmsc.latency import StageClock

__all__ = ["GREY", "HEADER_BITS", "DigitalBaseline", "DigitalResult", "Plan"]

GREY = 0.5  # what the receiver shows for a lost image
HEADER_BITS = 32  # the file length in bytes, so the receiver can strip the codeword padding
_DECODE_BATCH = 64  # codewords per decoder call: bounds the APP demapper's [C, N, 2^m] tensors


@dataclass(frozen=True)
class DigitalResult:
    """What one digital transmission delivered and what it cost.

    Attributes:
        x_hat: the received image, ``[3, H, W]`` float32 in [0, 1] (mid-grey when lost).
        lost: the receiver shows mid-grey (a codeword failed its CRC, or nothing could be sent).
        outcome: ``"decoded"``, ``"crc-failed"``, ``"decode-failed"`` or ``"nothing-fits"``.
        mcs: name of the MCS used (``"capacity"`` for the ideal code; ``None`` when nothing sent).
        quality: codec quality of the file sent (``None`` when nothing sent).
        source_bits: bits of the file (0 when nothing sent).
        coded_bits: channel-coded bits sent (codewords × n); the file's bits for the ideal code.
        symbols_used: channel symbols sent, ``<= budget``.
        budget: channel symbols allowed, ``floor(cbr · 3·H·W)``.
        payload_capacity: the most file bits the chosen scheme could carry in the budget.
        codewords: LDPC codewords sent (0 for the ideal code).
        failed_codewords: codewords whose CRC failed.
        loss_probability: the transmitter's predicted ``P(lost)`` for its choice (0 for the ideal
            code, 1 when nothing is sent).
        latency_ms: wall time of ``encode`` (quality search, CRC, LDPC, QAM), ``channel`` and
            ``decode`` (demapping, BP, the image decode), and their ``total``; the ideal code has no
            ``channel`` stage.
    """

    x_hat: torch.Tensor
    lost: bool
    outcome: str
    mcs: str | None
    quality: int | None
    source_bits: int
    coded_bits: int
    symbols_used: int
    budget: int
    payload_capacity: int
    codewords: int = 0
    failed_codewords: int = 0
    loss_probability: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The transmitter's decision, before anything is sent (see :meth:`DigitalBaseline.plan`).

    Attributes:
        budget: channel symbols allowed.
        payload_capacity: the most file bits the chosen scheme carries in the budget.
        file: the file to send, ``None`` when nothing fits.
        mcs: the MCS (``None`` for the ideal code, or when no MCS is reliable enough).
        codewords: LDPC codewords the file needs (0 for the ideal code or when nothing is sent).
        symbols: channel symbols the file needs, ``<= budget``.
        loss_probability: predicted ``P(lost)`` (0 for the ideal code, 1 when nothing is sent).
    """

    budget: int
    payload_capacity: int
    file: Encoded | None
    mcs: MCS | None
    codewords: int
    symbols: int
    loss_probability: float


class DigitalBaseline:
    """Separate source and channel coding over a channel of :data:`mllmsc.channel.CHANNELS`.

    Args:
        codec: source codec, ``"heif"`` or ``"jpeg"``.
        channel: a channel module, or a registry name built with its defaults.
        capacity: send through an ideal capacity-achieving code instead of LDPC + QAM.
        target_loss: the largest predicted image-loss probability the MCS choice accepts.
        cache: encodes kept across calls (share one between methods that see the same images).
        table: BLER table (the shipped one by default).

    Example:
        >>> digital = DigitalBaseline("heif", CHANNELS.build("awgn"))
        >>> result = digital.transmit(x, snr_db=10.0, cbr=1 / 16, generator=torch.Generator().manual_seed(0))
        >>> result.x_hat, result.lost, result.mcs, result.quality
    """

    def __init__(
        self,
        codec: str = "heif",
        channel: Channel | str = "awgn",
        *,
        capacity: bool = False,
        target_loss: float = 0.1,
        cache: EncodeCache | None = None,
        table: BlerTable | None = None,
    ) -> None:
        self.codec = get_codec(codec)
        self.channel = CHANNELS.build(channel) if isinstance(channel, str) else channel
        if not isinstance(self.channel, Channel):
            raise UserError(f"channel must be a name or a mllmsc Channel, got {type(channel).__name__}")
        if not 0 < target_loss < 1:
            raise UserError(f"target_loss must lie in (0, 1), got {target_loss}")
        self.capacity = bool(capacity)
        self.target_loss = float(target_loss)
        self.cache = cache if cache is not None else EncodeCache()
        self.table = table

    def __call__(self, *args, **kwargs) -> DigitalResult:
        return self.transmit(*args, **kwargs)

    def transmit(
        self,
        x: torch.Tensor,
        snr_db: float,
        cbr: float,
        *,
        generator: torch.Generator | None = None,
    ) -> DigitalResult:
        """Send one image at ``snr_db`` within ``cbr``.

        Args:
            x: the image in [0, 1] (quantised to 8 bits for the codec, as any file would be).
            snr_db: Es/N0 per complex symbol in dB; the transmitter knows it, not the fade or noise.
            cbr: channel symbols per source dimension, in (0, 1].
            generator: the source of all randomness (channel noise and fading).

        Shapes:
            x: ``[3, H, W]`` or ``[1, 3, H, W]`` float → ``x_hat`` ``[3, H, W]`` float32, on
            ``x``'s device.

        Raises:
            UserError: a wrong shape, an SNR that is not a finite number, a CBR outside (0, 1].
        """
        x = _check_image(x)
        snr_db = _check_snr(snr_db)
        clock = StageClock()
        pixels = to_pixels(x)
        plan = self._plan(pixels, snr_db, _check_cbr(cbr))
        if plan.file is None:
            clock.lap("encode")
            return replace(_nothing_sent(pixels, plan, x.device), latency_ms=clock.laps)
        if self.capacity:
            clock.lap("encode")
            x_hat = from_pixels(self.codec.decode(plan.file.data)).to(x.device)
            clock.lap("decode")
            return DigitalResult(
                x_hat=x_hat,
                lost=False,
                outcome="decoded",
                mcs="capacity",
                quality=plan.file.quality,
                source_bits=plan.file.bits,
                coded_bits=plan.file.bits,
                symbols_used=plan.symbols,
                budget=plan.budget,
                payload_capacity=plan.payload_capacity,
                latency_ms=clock.laps,
            )
        return self._send_coded(pixels, plan, snr_db, x.device, generator, clock)

    def plan(self, x: torch.Tensor, snr_db: float, cbr: float) -> Plan:
        """What :meth:`transmit` would send (MCS, codewords, file), without sending it.

        Shapes:
            x: ``[3, H, W]`` or ``[1, 3, H, W]`` float in [0, 1].
        """
        return self._plan(to_pixels(_check_image(x)), _check_snr(snr_db), _check_cbr(cbr))

    def _plan(self, pixels: np.ndarray, snr_db: float, cbr: float) -> Plan:
        height, width, _ = pixels.shape
        budget = symbol_budget(cbr, height, width)
        if self.capacity:
            per_symbol = channel_capacity(self.channel, snr_db)
            max_bits = capacity_bits(budget, per_symbol)
            file = best_fit(self.codec, pixels, max_bits, cache=self.cache)
            if file is None:
                return Plan(budget, max_bits, None, None, 0, 0, 1.0)
            # An ideal code needs bits / C channel uses; within the budget since bits <= budget·C.
            symbols = min(budget, math.ceil(file.bits / per_symbol - 1e-9))
            return Plan(budget, max_bits, file, None, 0, symbols, 0.0)
        choice = select_mcs(snr_db, budget, self.channel, target=self.target_loss, table=self.table)
        if choice.mcs is None:
            return Plan(budget, 0, None, None, 0, 0, 1.0)
        mcs = choice.mcs
        max_bits = max(choice.codewords * mcs.payload_bits - HEADER_BITS, 0)
        file = best_fit(self.codec, pixels, max_bits, cache=self.cache)
        if file is None:
            return Plan(budget, max_bits, None, mcs, 0, 0, 1.0)
        codewords = math.ceil((HEADER_BITS + file.bits) / mcs.payload_bits)
        return Plan(
            budget,
            max_bits,
            file,
            mcs,
            codewords,
            codewords * mcs.symbols_per_codeword,
            choice.loss_probability,
        )

    # ------------------------------------------------------------------------------- LDPC + QAM

    def _send_coded(
        self,
        pixels: np.ndarray,
        plan: Plan,
        snr_db: float,
        device,
        generator: torch.Generator | None,
        clock: StageClock,
    ) -> DigitalResult:
        mcs, file, codewords = plan.mcs, plan.file, plan.codewords
        # Transmitter: [length | file | zero padding] split into C codewords.
        link = coded_link(mcs.name)
        header = np.unpackbits(np.array([len(file.data)], dtype=">u4").view(np.uint8))
        payload = np.concatenate([header, np.unpackbits(np.frombuffer(file.data, np.uint8))])
        bits = np.zeros(codewords * mcs.payload_bits, dtype=np.float32)
        bits[: payload.size] = payload
        bits_t = torch.from_numpy(bits).reshape(codewords, mcs.payload_bits)
        with torch.inference_mode():
            z = link.encode(bits_t).reshape(1, -1)  # one channel item: one fade per image if so
            clock.lap("encode")
            out = self.channel(z, snr_db, generator=generator)
            clock.lap("channel")
            y, no = soft_symbols(out)
            y = y.reshape(codewords, mcs.symbols_per_codeword)
            no = no.reshape(codewords, mcs.symbols_per_codeword)
            decoded, oks = [], []
            for start in range(0, codewords, _DECODE_BATCH):
                part = slice(start, start + _DECODE_BATCH)
                b, ok = link.decode(y[part], no[part])
                decoded.append(b)
                oks.append(ok)
            ok = torch.cat(oks)
            received = torch.cat(decoded).reshape(-1).to(torch.uint8).numpy()

        failed = int((~ok).sum())
        common = dict(
            mcs=mcs.name,
            quality=file.quality,
            source_bits=file.bits,
            coded_bits=codewords * mcs.n,
            symbols_used=plan.symbols,
            budget=plan.budget,
            payload_capacity=plan.payload_capacity,
            codewords=codewords,
            failed_codewords=failed,
            loss_probability=plan.loss_probability,
            latency_ms=clock.laps,  # the same dict: the decode lap below lands in it too
        )
        if failed:
            clock.lap("decode")
            return DigitalResult(x_hat=_grey(pixels, device), lost=True, outcome="crc-failed", **common)
        x_hat = _decode_file(self.codec, received)
        clock.lap("decode")
        if x_hat is None or x_hat.shape[:2] != pixels.shape[:2]:
            # CRC24 lets ~6e-8 of bad codewords through: a garbled file is a loss, not a crash.
            return DigitalResult(x_hat=_grey(pixels, device), lost=True, outcome="decode-failed", **common)
        return DigitalResult(x_hat=from_pixels(x_hat).to(device), lost=False, outcome="decoded", **common)


def _decode_file(codec, received: np.ndarray) -> np.ndarray | None:
    """Receiver: read the length header, cut the file out of the payload bits and decode it."""
    length = int(np.packbits(received[:HEADER_BITS]).view(">u4")[0])
    if HEADER_BITS + 8 * length > received.size:
        return None
    data = np.packbits(received[HEADER_BITS : HEADER_BITS + 8 * length]).tobytes()
    try:
        return codec.decode(data)
    except Exception:  # any decoder complaint about a corrupted file means the image is lost
        return None


def _grey(pixels: np.ndarray, device) -> torch.Tensor:
    h, w, _ = pixels.shape
    return torch.full((3, h, w), GREY, dtype=torch.float32, device=device)


def _nothing_sent(pixels: np.ndarray, plan: Plan, device) -> DigitalResult:
    return DigitalResult(
        x_hat=_grey(pixels, device),
        lost=True,
        outcome="nothing-fits",
        mcs=None,
        quality=None,
        source_bits=0,
        coded_bits=0,
        symbols_used=0,
        budget=plan.budget,
        payload_capacity=plan.payload_capacity,
        loss_probability=1.0,
    )


# ------------------------------------------------------------------------------------ checks


def _check_image(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise UserError(f"the image must be a tensor [3, H, W] or [1, 3, H, W], got {type(x).__name__}")
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise UserError(f"the image must have shape [3, H, W] or [1, 3, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise UserError(f"the image must be float in [0, 1], got {x.dtype}")
    if not torch.isfinite(x).all():
        raise UserError("the image has NaN or infinite values")
    return x


def _check_snr(snr_db: float) -> float:
    try:
        value = float(snr_db)
    except (TypeError, ValueError):
        raise UserError(f"SNR must be a number in dB, got {snr_db!r}") from None
    if isinstance(snr_db, bool) or not math.isfinite(value):
        raise UserError(f"SNR must be a finite number in dB, got {snr_db!r}")
    return value


def _check_cbr(cbr: float) -> float:
    try:
        value = float(cbr)
    except (TypeError, ValueError):
        raise UserError(f"CBR must be a number in (0, 1], got {cbr!r}") from None
    if isinstance(cbr, bool) or not 0 < value <= 1:  # NaN fails the comparison too
        raise UserError(f"CBR must lie in (0, 1], got {cbr!r}")
    return value
