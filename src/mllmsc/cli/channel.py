"""``mllmsc channel``: uncoded QPSK/Gaussian symbols through a channel, measured against theory."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import typer

from mllmsc.cli.args import parse_list, parse_snr
from mllmsc.errors import UserError


def channel(
    channel: str = typer.Option("awgn", "--channel", help="awgn, rayleigh, rician or ofdm-tdl."),
    snr: str = typer.Option("0,5,10,15,20", "--snr", help="SNR LIST in dB, e.g. 0,5,10."),
    modulation: str = typer.Option("qpsk", help="qpsk (BER against theory) or gaussian (SNR only)."),
    symbols: int = typer.Option(200_000, min=1000, help="Symbols per SNR point."),
    coherence: int = typer.Option(
        1, min=1, help="Fading: symbols per coherence block (1: fast fading, the BER closed form)."
    ),
    k_factor: float = typer.Option(4.0, min=0.0, help="Rician K factor (linear)."),
    tdl_model: str = typer.Option("A", help="ofdm-tdl: TDL profile A-E."),
    seed: int = typer.Option(0, help="Seed of the torch.Generator behind every draw."),
    out: Path | None = typer.Option(None, help="Folder for channel.json and ber.png."),
) -> None:
    """Send uncoded symbols through a channel; print measured SNR and BER beside the closed forms."""
    snrs = parse_list(snr, parse_snr)
    if modulation not in ("qpsk", "gaussian"):
        raise UserError(f"modulation must be qpsk or gaussian, got {modulation!r}")

    import torch
    from rich.console import Console
    from rich.table import Table

    from mllmsc.channel import CHANNELS
    from mllmsc.eval.uncoded import measure_uncoded, theory_ber

    # Each option goes to the channels that take it (by their signature, not their name); the raw
    # output with h (csi="decoder") is what measure_uncoded needs.
    offered = {"model": tdl_model, "coherence": coherence, "csi": "decoder", "k_factor": k_factor}
    accepted = inspect.signature(CHANNELS.get(channel)).parameters
    kwargs = {key: value for key, value in offered.items() if key in accepted}
    try:
        block = CHANNELS.build(channel, **kwargs)
    except ValueError as err:
        raise UserError(str(err)) from None

    rows = []
    for snr_db in snrs:
        generator = torch.Generator().manual_seed(seed)
        point = measure_uncoded(
            block, snr_db, modulation=modulation, num_symbols=symbols, generator=generator
        )
        theory = theory_ber(block, snr_db) if modulation == "qpsk" else None
        rows.append({**point.__dict__, "theory_ber": theory})

    table = Table(title=f"uncoded {modulation.upper()} over {channel} ({symbols} symbols per point)")
    for column in ("SNR dB", "measured SNR dB", "BER measured", "BER theory", "ratio"):
        table.add_column(column, justify="right")
    for row in rows:
        ber, theory = row["ber"], row["theory_ber"]
        table.add_row(
            f"{row['snr_db']:g}",
            f"{row['measured_snr_db']:.2f}",
            "—" if ber is None else f"{ber:.3e}",
            "—" if theory is None else f"{theory:.3e}",
            "—" if not ber or not theory else f"{ber / theory:.3f}",
        )
    console = Console()
    console.print(table)

    if out is not None:
        _write_outputs(out, channel, kwargs, rows)
        console.print(f"wrote {out / 'channel.json'} and {out / 'ber.png'}")


def _write_outputs(out: Path, name: str, kwargs: dict, rows: list[dict]) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mllmsc.atomic import atomic_write_bytes, atomic_write_text

    atomic_write_text(
        out / "channel.json",
        json.dumps({"channel": name, "kwargs": kwargs, "points": rows}, indent=2),
    )
    fig, ax = plt.subplots(figsize=(5, 3.6))
    snrs = [r["snr_db"] for r in rows]
    if any(r["ber"] for r in rows):
        ax.semilogy(snrs, [r["ber"] or float("nan") for r in rows], "o", label="measured")
        if any(r["theory_ber"] for r in rows):
            ax.semilogy(snrs, [r["theory_ber"] or float("nan") for r in rows], "-", label="theory")
        ax.set_ylabel("bit error rate")
    else:
        ax.plot(snrs, [r["measured_snr_db"] for r in rows], "o-", label="measured SNR")
        ax.set_ylabel("measured SNR (dB)")
    ax.set_xlabel("SNR (dB)")
    ax.set_title(f"uncoded QPSK over {name}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out / "ber.png", buffer.getvalue())
