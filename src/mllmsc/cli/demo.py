"""``mllmsc demo``: the whole link on a bundled photo, uniform against importance-aware allocation."""

from __future__ import annotations

from pathlib import Path

import typer

from mllmsc.cli.args import parse_cbr, parse_snr

# scikit-image's astronaut (512×512); the box is her face, the region the "user" asks about.
PHOTO = "astronaut"
FACE_BOX = (150, 40, 290, 200)
QUERY = "I need to see the astronaut's face"


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for the photo and both transmissions."),
    snr: str = typer.Option("10", "--snr", help="SNR in dB."),
    cbr: str = typer.Option("1/16", "--cbr", help="Channel bandwidth ratio."),
    channel: str = typer.Option("awgn", "--channel", help="awgn, rayleigh, rician or ofdm-tdl."),
) -> None:
    """Send a bundled photo with uniform and with importance-aware allocation; compare the two."""
    snr_db, cbr_value = parse_snr(snr), parse_cbr(cbr)

    import torch
    from rich.console import Console
    from rich.table import Table
    from skimage import data

    from mllmsc.data.io import write_image
    from mllmsc.eval.transmission import transmit_image, write_transmission
    from mllmsc.guidance import GUIDANCE
    from mllmsc.methods import METHODS

    photo = out / f"{PHOTO}.png"
    x = torch.from_numpy(getattr(data, PHOTO)()).permute(2, 0, 1).float()[None] / 255
    write_image(photo, x[0])
    face = torch.zeros(1, 1, *x.shape[-2:], dtype=torch.bool)
    x0, y0, x1, y1 = FACE_BOX
    face[..., y0:y1, x0:x1] = True
    write_image(out / "face_mask.png", face[0].float())  # both runs are scored on the face

    # One codec, two allocations: the same model is the Deep JSCC baseline and IA-JSCC.
    uniform = METHODS.build("uniform-jscc")
    guided = METHODS.build("ia-jscc", codec=uniform.codec)
    runs, received = {}, {}
    for name, method, guidance, folder in (
        ("uniform (Deep JSCC)", uniform, GUIDANCE.build("uniform"), "uniform"),
        ("importance (face box)", guided, GUIDANCE.build("box", box=FACE_BOX), "importance"),
    ):
        result, report = transmit_image(
            x, method=method, channel=channel, snr_db=snr_db, cbr=cbr_value, guidance=guidance,
            query=QUERY, seed=0, roi=face, image_name=str(photo),
        )  # fmt: skip
        write_transmission(out / folder, x, result, report)
        runs[name] = report
        received[f"{name}: face PSNR {report['metrics']['roi_psnr']:.2f} dB"] = result.x_hat[0]

    from mllmsc.atomic import atomic_write_bytes
    from mllmsc.eval.figures import format_cbr, roi_comparison_png

    zoom = roi_comparison_png(
        x[0],
        received,
        FACE_BOX,
        title=f"the face, zoomed: {channel} at {snr_db:g} dB, CBR {format_cbr(cbr_value)}",
    )
    atomic_write_bytes(out / "comparison.png", zoom)

    table = Table(title=f"{PHOTO} over {channel} at {snr_db:g} dB, CBR {cbr}: '{QUERY}'")
    for column in ("allocation", "symbols (side info)", "PSNR", "face PSNR", "background PSNR", "ms"):
        table.add_column(column, justify="right")
    for name, report in runs.items():
        m, s = report["metrics"], report["symbols"]
        table.add_row(
            name,
            f"{s['total']}/{s['budget']} ({s['side_info']})",
            f"{m['psnr']:.2f}",
            f"{m['roi_psnr']:.2f}",
            "—" if m["background_psnr"] is None else f"{m['background_psnr']:.2f}",
            f"{report['latency_ms']['total']:.0f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"reports: {out}/uniform/report.png, {out}/importance/report.png; "
        f"the face zoomed: {out}/comparison.png"
    )
