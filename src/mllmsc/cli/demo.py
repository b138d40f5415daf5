"""``mllmsc demo``: the two case studies of MLLM-SC on bundled content, guided against uniform.

1. An AR question (case study 1): a generated scene and a question about it; ``tiny-refseg`` reads
   the question and marks what it needs, IA-JSCC spends the few symbols of a low CBR there, and
   ``tiny-vqa`` at the receiver answers from what arrived. Uniform allocation of the same codec
   is sent beside it; both answers and both received scenes are in ``ar-question/comparison.png``.
2. A photo (scikit-image's astronaut) with a region the user gives (her face), uniform against
   importance-aware allocation; the face zoomed in ``photo/comparison.png``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mllmsc.cli.args import parse_cbr, parse_snr

# The AR scene: scene 0 of seed 0 (never seen in training), procedural background (no photos
# needed), its first question. One example, picked to show the effect; the accuracy over many
# scenes and questions is `mllmsc eval --task vqa` (BENCHMARKS.md).
SCENE_SEED, SCENE_INDEX, QUESTION_INDEX = 0, 0, 0
SCENE_SNR_DB, SCENE_CBR = 4.0, 1 / 384

# scikit-image's astronaut (512×512); the box is her face, the region the "user" asks about.
PHOTO = "astronaut"
FACE_BOX = (150, 40, 290, 200)
QUERY = "I need to see the astronaut's face"


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for ar-question/ and photo/."),
    snr: str = typer.Option("10", "--snr", help="SNR in dB of the photo (the AR question: 4 dB)."),
    cbr: str = typer.Option(
        "1/16", "--cbr", help="Channel bandwidth ratio of the photo (AR question: 1/384)."
    ),
    channel: str = typer.Option("awgn", "--channel", help="awgn, rayleigh, rician or ofdm-tdl (both cases)."),
) -> None:
    """Both case studies, guided against uniform: an AR question answered after the link, then a photo."""
    snr_db, cbr_value = parse_snr(snr), parse_cbr(cbr)
    from mllmsc.channel import CHANNELS

    CHANNELS.require(channel)
    from rich.console import Console

    console = Console()
    _ar_question(out / "ar-question", channel, console)
    _photo(out / "photo", channel, snr_db, cbr_value, console)


def _ar_question(out: Path, channel: str, console) -> None:
    """Case study 1: one generated scene, one question, guided and uniform, both answers."""
    import torch
    from rich.table import Table

    from mllmsc.atomic import atomic_write_bytes
    from mllmsc.data.io import write_image
    from mllmsc.data.scenes import generate_scene
    from mllmsc.eval.figures import format_cbr, roi_comparison_png
    from mllmsc.eval.transmission import transmit_image, write_transmission
    from mllmsc.guidance import GUIDANCE
    from mllmsc.methods import METHODS
    from mllmsc.tasks import ANSWERERS

    scene = generate_scene(SCENE_SEED, SCENE_INDEX)
    question = [e for e in scene.expressions if e.type == "question"][QUESTION_INDEX]
    x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
    target = torch.from_numpy(question.mask)[None, None]
    write_image(out / "scene.png", x[0])
    answerer = ANSWERERS.build("tiny-vqa")
    uniform = METHODS.build("uniform-jscc")
    guided = METHODS.build("ia-jscc", codec=uniform.codec)
    runs, received = {}, {}
    for name, method, guidance in (
        ("guided", guided, GUIDANCE.build("tiny-refseg")),  # reads the question, not the answer
        ("uniform", uniform, GUIDANCE.build("uniform")),
    ):
        result, report = transmit_image(
            x, method=method, channel=channel, snr_db=SCENE_SNR_DB, cbr=SCENE_CBR, guidance=guidance,
            query=question.text, seed=0, roi=target, image_name=f"scene {SCENE_INDEX} of seed {SCENE_SEED}",
            answerer=answerer,
        )  # fmt: skip
        write_transmission(out / name, x, result, report)
        runs[name] = report
        said = report["task"]["answer"]
        mark = "correct" if said == question.answer else "wrong"
        received[f"{name}: answers '{said}' ({mark})"] = result.x_hat[0]
    side = x.shape[-1]
    title = (
        f"'{question.text}' (truth: {question.answer}); {channel} at {SCENE_SNR_DB:g} dB, "
        f"CBR {format_cbr(SCENE_CBR)}"
    )
    both = roi_comparison_png(x[0], received, (0, 0, side, side), title=title)
    atomic_write_bytes(out / "comparison.png", both)

    table = Table(title=f"AR question over {channel} at {SCENE_SNR_DB:g} dB, CBR {format_cbr(SCENE_CBR)}: "
                  f"'{question.text}' (truth: {question.answer})")  # fmt: skip
    for column in ("allocation", "symbols (side info)", "target PSNR", "answer", "confidence"):
        table.add_column(column, justify="right")
    for name, report in runs.items():
        s, task = report["symbols"], report["task"]
        table.add_row(
            name, f"{s['total']}/{s['budget']} ({s['side_info']})", f"{report['metrics']['roi_psnr']:.2f}",
            str(task["answer"]), f"{task['confidence']:.2f}" if task["confidence"] is not None else "—",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"reports: {out}/guided/report.png, {out}/uniform/report.png; both scenes: {out}/comparison.png"
    )


def _photo(out: Path, channel: str, snr_db: float, cbr_value: float, console) -> None:
    """Part 2: the astronaut photo, the face given as a box, uniform against importance allocation."""
    import torch
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

    table = Table(title=f"{PHOTO} over {channel} at {snr_db:g} dB, CBR {format_cbr(cbr_value)}: '{QUERY}'")
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
    console.print(table)
    console.print(
        f"reports: {out}/uniform/report.png, {out}/importance/report.png; "
        f"the face zoomed: {out}/comparison.png"
    )
