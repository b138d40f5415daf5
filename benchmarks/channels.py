"""Channels: uncoded QPSK BER against the closed forms, and time per image-sized transmission.

.venv/bin/python benchmarks/channels.py            # rewrites the `channels` section of BENCHMARKS.md
"""

from __future__ import annotations

import platform
import time

import torch

from mllmsc.channel import CHANNELS, power_normalize
from mllmsc.eval.uncoded import measure_uncoded, theory_ber

SNRS = (0.0, 5.0, 10.0, 15.0, 20.0)
SETTINGS = [
    ("awgn", {}),
    ("rayleigh", dict(coherence=1, csi="decoder")),
    ("rician", dict(coherence=1, csi="decoder", k_factor=4.0)),
    ("ofdm-tdl", dict(model="A", csi="decoder")),
    ("ofdm-tdl", dict(model="A", csi="decoder", estimation="ls")),
]
SYMBOLS = 1_000_000
# One Kodak image (768×512) at CBR 1/16: 3·768·512/16 complex symbols.
IMAGE_SYMBOLS = 3 * 768 * 512 // 16


def label(name: str, kwargs: dict) -> str:
    extra = {k: v for k, v in kwargs.items() if k not in ("csi", "coherence")}
    return name + (" (" + ", ".join(f"{k}={v}" for k, v in extra.items()) + ")" if extra else "")


def main() -> None:
    torch.set_num_threads(2)
    lines = [
        "## Channels: uncoded QPSK against theory",
        "",
        f"`python benchmarks/channels.py` — {SYMBOLS:,} QPSK symbols per point, Gray mapping, hard decisions "
        "after zero-forcing with perfect CSI (LS: estimated from the pilots), fading per symbol "
        "(`coherence=1`). Theory: AWGN `Q(√SNR)`, Rayleigh `½(1−√(γ/(1+γ)))` with `γ = SNR/2`, Rician by "
        "quadrature. OFDM over TDL has no closed form here.",
        "",
        "| channel | " + " | ".join(f"{s:g} dB measured / theory" for s in SNRS) + " |",
        "|---|" + "---|" * len(SNRS),
    ]
    for name, kwargs in SETTINGS:
        channel = CHANNELS.build(name, **kwargs)
        cells = []
        for snr in SNRS:
            point = measure_uncoded(
                channel, snr, num_symbols=SYMBOLS, generator=torch.Generator().manual_seed(0)
            )
            theory = theory_ber(channel, snr)
            cells.append(f"{point.ber:.3e} / " + ("—" if theory is None else f"{theory:.3e}"))
        lines.append(f"| {label(name, kwargs)} | " + " | ".join(cells) + " |")

    lines += [
        "",
        f"Time to pass one Kodak-sized CBR-1/16 payload ({IMAGE_SYMBOLS:,} complex symbols) "
        f"through each channel (median of 20, {platform.machine()}, {torch.get_num_threads()} threads):",
        "",
        "| channel | ms |",
        "|---|---|",
    ]
    z = power_normalize(
        torch.randn(1, IMAGE_SYMBOLS, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    )
    for name, kwargs in [
        ("awgn", {}),
        ("rayleigh", {}),
        ("rician", {}),
        ("ofdm-tdl", {}),
        ("ofdm-tdl", {"estimation": "ls"}),
    ]:
        channel = CHANNELS.build(name, **kwargs)
        channel(z, 10.0)  # build Sionna's blocks once
        times = []
        for _ in range(20):
            start = time.perf_counter()
            channel(z, 10.0, generator=torch.Generator().manual_seed(1))
            times.append(time.perf_counter() - start)
        lines.append(f"| {label(name, kwargs)} | {1000 * sorted(times)[len(times) // 2]:.1f} |")

    from _report import replace_section

    replace_section("channels", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
