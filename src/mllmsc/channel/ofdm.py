"""OFDM over a 3GPP TDL channel (TR 38.901), with Sionna's resource grid and LS estimator.

    z ─► split into resource grids ─► ResourceGridMapper (+ pilots) ─► ApplyOFDMChannel(h_freq, N0)
                                                                           │
    y ◄─ ResourceGridDemapper ◄─ [MMSE per resource element] ◄─ CSI: perfect h_freq | LS from pilots

The channel is the frequency-domain one (cyclic prefix long enough: no inter-symbol interference),
normalised per slot (Sionna's ``normalize_channel``) so that the mean ``|h|²`` over each resource grid
is 1: ``snr_db`` is the average SNR per data symbol of every slot, and the slow fading between slots
is removed (uncoded BER is therefore a little better than flat Rayleigh, see BENCHMARKS.md).
Pilots take resource elements of their own and are not counted in the caller's symbols.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import sionna.phy.channel as sch
import sionna.phy.ofdm as sofdm
import torch
from sionna.phy.channel.tr38901 import TDL
from sionna.phy.mimo import StreamManagement

from mllmsc.channel.awgn import add_awgn
from mllmsc.channel.base import Channel, SeededBlock
from mllmsc.channel.fading import Csi, mmse_equalize
from mllmsc.channel.statistics import Fading
from mllmsc.types import ChannelOutput

TDL_MODELS = ("A", "B", "C", "D", "E")


class _SeededTDL(SeededBlock, TDL):
    pass


class OFDMTDLChannel(Channel):
    """OFDM over TDL-A…E with perfect or least-squares CSI.

    Args:
        model: TDL profile, ``"A"``–``"E"``.
        delay_spread: RMS delay spread in seconds (default 100 ns, a "nominal" urban value).
        carrier_frequency: Hz; with ``speed`` it sets the Doppler shift.
        speed: user speed in m/s (0: a static channel within a slot).
        fft_size, num_ofdm_symbols, subcarrier_spacing: the resource grid (one slot by default).
        pilot_symbols: OFDM symbol indices holding Kronecker (comb-free) pilots.
        estimation: ``"perfect"`` CSI or ``"ls"`` (least squares on pilots, linear interpolation).
        csi: ``"equalize"`` (MMSE per resource element) or ``"decoder"`` (raw ``y`` and ``h``).

    Shapes:
        z: ``[B, ...]`` complex64 → y, h: same shape as ``z``; noise_var: ``[B]``.
    """

    def __init__(
        self,
        model: str = "A",
        delay_spread: float = 100e-9,
        carrier_frequency: float = 3.5e9,
        speed: float = 0.0,
        fft_size: int = 72,
        num_ofdm_symbols: int = 14,
        subcarrier_spacing: float = 30e3,
        pilot_symbols: tuple[int, ...] = (2, 11),
        estimation: Literal["perfect", "ls"] = "perfect",
        csi: Csi = "equalize",
    ) -> None:
        super().__init__()
        if model not in TDL_MODELS:
            raise ValueError(f"TDL model must be one of {', '.join(TDL_MODELS)}, got {model!r}")
        if estimation not in ("perfect", "ls"):
            raise ValueError(f"estimation must be 'perfect' or 'ls', got {estimation!r}")
        if csi not in ("equalize", "decoder"):
            raise ValueError(f"csi must be 'equalize' or 'decoder', got {csi!r}")
        if speed < 0 or delay_spread <= 0:
            raise ValueError("speed must be >= 0 and delay_spread > 0")
        self.model, self.delay_spread, self.speed = model, delay_spread, speed
        self.carrier_frequency = carrier_frequency
        self.estimation, self.csi = estimation, csi
        self.grid = dict(
            num_ofdm_symbols=num_ofdm_symbols,
            fft_size=fft_size,
            subcarrier_spacing=subcarrier_spacing,
            pilot_pattern="kronecker",
            pilot_ofdm_symbol_indices=list(pilot_symbols),
        )

    def _parts(self, device: torch.device) -> dict:
        """Sionna's blocks for this configuration on ``device`` (built once per device)."""

        def build(device: str) -> dict:
            rg = sofdm.ResourceGrid(**self.grid, device=device)
            tdl = _SeededTDL(
                self.model,
                delay_spread=self.delay_spread,
                carrier_frequency=self.carrier_frequency,
                min_speed=self.speed,
                max_speed=self.speed,
                device=device,
            )
            return dict(
                rg=rg,
                tdl=tdl,
                mapper=sofdm.ResourceGridMapper(rg, device=device),
                demapper=sofdm.ResourceGridDemapper(
                    rg, StreamManagement(np.ones([1, 1], int), 1), device=device
                ),
                generate=sch.GenerateOFDMChannel(tdl, rg, normalize_channel=True, device=device),
                # ApplyOFDMChannel's own AWGN cannot take a generator: apply h here, noise below.
                apply=sch.ApplyOFDMChannel(device=device),
                ls=sofdm.LSChannelEstimator(rg, interpolation_type="lin", device=device),
            )

        return self.sionna_block("ofdm", build, device)

    @property
    def fading(self) -> Fading:
        """A stand-in: Rayleigh ``|h|²`` per symbol (``exact=False``), what every caller assumes.

        The true law per resource element is the TDL profile's, normalised per slot (mean ``|h|²`` of
        each grid is 1), which removes the slow fading between slots: it lies between Rayleigh per
        symbol and AWGN. Rayleigh per symbol keeps the capacity bound and the MCS choice on the
        cautious side without guessing the profile's diversity; no BER closed form is claimed.
        """
        return Fading(
            0.0,
            coherence=1,
            exact=False,
            note="per-slot normalised TDL; Rayleigh per symbol is assumed (the cautious side)",
        )

    @property
    def data_symbols_per_slot(self) -> int:
        """Data resource elements in one resource grid (pilots excluded)."""
        return self._parts(torch.device("cpu"))["rg"].num_data_symbols

    def transmit(
        self, z: torch.Tensor, noise_var: torch.Tensor, generator: torch.Generator | None
    ) -> ChannelOutput:
        p = self._parts(z.device)
        batch, n = z.shape[0], z[0].numel()
        per_grid = int(p["rg"].num_data_symbols)
        grids = math.ceil(n / per_grid)
        # [B, n] → zero-pad → [B·G, tx=1, stream=1, data symbols]
        flat = torch.nn.functional.pad(z.reshape(batch, n), (0, grids * per_grid - n))
        x = p["mapper"](flat.reshape(batch * grids, 1, 1, per_grid))
        no = noise_var.repeat_interleave(grids)
        with p["tdl"].drawing_from(generator):
            h_freq = p["generate"](batch * grids)  # [B·G, rx, rx_ant, tx, tx_ant, S, F]
        y = add_awgn(p["apply"](x, h_freq), no, generator)  # [B·G, rx, rx_ant, S, F]
        if self.estimation == "ls":
            h, _ = p["ls"](y, no)  # [B·G, rx, rx_ant, tx, streams, S, F]
        else:
            h = h_freq
        # The demapper expects [batch, rx, streams, S, F, data_dim]; take the data positions.
        y_data = p["demapper"](y.unsqueeze(-1))[..., 0]
        h_data = p["demapper"](h[:, 0, 0].unsqueeze(-1))[..., 0]  # [B·G, 1, 1, D]
        y_flat = y_data.reshape(batch, grids * per_grid)[:, :n].reshape(z.shape)
        h_flat = h_data.reshape(batch, grids * per_grid)[:, :n].reshape(z.shape)
        if self.csi == "decoder":
            return ChannelOutput(y=y_flat, h=h_flat, noise_var=noise_var, equalized=False)
        y_eq = mmse_equalize(y_flat, h_flat, noise_var)
        return ChannelOutput(y=y_eq, h=h_flat, noise_var=noise_var, equalized=True)
