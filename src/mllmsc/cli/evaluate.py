"""``mllmsc eval``: experiments over data sets.

``--task transmission`` sweeps methods × channels × SNRs × CBRs over an image folder,
``--task refseg`` scores guidance backends on generated scenes (IoU), ``--task vqa`` answers the
scenes' questions after the link (case study 1). Each writes results.csv, summary.csv and plots
into ``--out``; transmission and vqa resume a killed run.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mllmsc.cli.args import parse_cbr, parse_list, parse_snr
from mllmsc.errors import UserError
from mllmsc.methods import METHODS  # names only: each method's module loads when it is built

TASKS = ("transmission", "refseg", "vqa")
SCENE_STYLES = ("standard", "varied", "heldout")  # mllmsc.data.scene_styles.STYLES, without its imports
DEFAULT_BACKGROUNDS = Path("../shared/data/train")
#: Per-task defaults of the options that differ between tasks.
DEFAULTS = {
    "transmission": {"snr": "1,4,7,10,13", "cbr": "1/48,1/24,1/16,1/12,1/8", "method": "uniform-jscc"},
    "vqa": {"snr": "0,4,8,12", "cbr": "1/96", "method": "guided,oracle-mask,uniform,digital,clean"},
}
VQA_METHOD_NAMES = "guided, oracle-mask, uniform, generative-balanced, generative-quality, digital, clean"


def evaluate(
    task: str = typer.Option(
        "transmission",
        "--task",
        help="Experiment: transmission (SNR × CBR sweep over --data), refseg (guidance IoU on "
        "generated scenes) or vqa (question answering after the link, on generated scenes).",
    ),
    data: Path | None = typer.Option(
        None, "--data", help="transmission: folder of test images (e.g. the 24 Kodak images)."
    ),
    snr: str | None = typer.Option(
        None, "--snr", help="SNR LIST in dB [transmission: 1,4,7,10,13; vqa: 0,4,8,12]."
    ),
    cbr: str | None = typer.Option(
        None,
        "--cbr",
        help="CBR LIST, fractions or decimals [transmission: 1/48,1/24,1/16,1/12,1/8; vqa: 1/96].",
    ),
    channel: str = typer.Option("awgn", "--channel", help="Channel LIST: awgn, rayleigh, rician, ofdm-tdl."),
    method: str | None = typer.Option(
        None,
        "--method",
        help=f"Method LIST. transmission: {', '.join(METHODS.available())} [uniform-jscc]. "
        f"vqa: {VQA_METHOD_NAMES} [all].",
    ),
    out: Path = typer.Option(..., "--out", help="Folder for results.csv, summary.csv and plots (resumed)."),
    roi_masks: Path | None = typer.Option(
        None,
        "--roi-masks",
        help="transmission: folder of ROI masks named like the images (.png, white = ROI).",
    ),
    seed: int = typer.Option(0, "--seed", help="Base seed; each row is seeded from it and its settings."),
    metrics: str | None = typer.Option(
        None,
        "--metrics",
        help="transmission: optional metrics LIST to add per row: vif, niqe, lpips, dists, or all "
        "(default: none, only PSNR, MS-SSIM and ROI/background PSNR). VIF and NIQE cost ~0.3 s and "
        "~0.15 s per 768x512 image; LPIPS and DISTS need their weights cached locally (else empty).",
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Local processes (with --ray: Ray actors; 1 = one per cluster CPU)."
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="transmission: fan the grid out as Ray tasks: auto (this machine's cluster), local (a "
        "private Ray with --workers CPUs) or ADDRESS (host:port, ray://host:10001). Needs "
        "mllmsc\\[ray].",
    ),
    weights: Path | None = typer.Option(None, "--weights", help="IA-JSCC folder (default: shipped)."),
    refiner: Path | None = typer.Option(
        None, "--refiner", help="transmission: generative-* methods' refiner folder (default: shipped)."
    ),
    sd_model: Path | None = typer.Option(
        None, "--sd-model", help="transmission: a local Stable Diffusion folder, for method sd-latent."
    ),
    common_seeds: bool = typer.Option(
        False,
        "--common-seeds",
        help="transmission: seed rows without their method, so every method of a setting meets the "
        "same noise and fade (paired comparisons).",
    ),
    scenes: int = typer.Option(100, "--scenes", min=1, help="refseg, vqa: number of generated scenes."),
    guidance: str | None = typer.Option(
        None,
        "--guidance",
        help="refseg: backend LIST [saliency]; vqa: the backend of 'guided' [tiny-refseg].",
    ),
    guidance_model: str | None = typer.Option(
        None, "--guidance-model", help="refseg, vqa: clipseg/llava model."
    ),
    answerer: str = typer.Option("tiny-vqa", "--answerer", help="vqa: tiny-vqa, llava or oracle."),
    answerer_weights: Path | None = typer.Option(
        None, "--answerer-weights", help="vqa: the answerer's folder (default: shipped tiny-vqa)."
    ),
    floor: float = typer.Option(
        0.03,  # mllmsc.eval.vqa.VQA_FLOOR (importing it would import torch before the arguments are checked)
        "--floor",
        help="vqa: background weight of the importance allocation (smaller: more on the target; "
        "0.03 was chosen on validation scenes).",
    ),
    backgrounds: Path | None = typer.Option(
        None,
        "--backgrounds",
        help="refseg, vqa: photos for backgrounds (default ../shared/data/train if present, "
        "else procedural textures).",
    ),
    size: int = typer.Option(256, "--size", min=32, help="refseg, vqa: scene side in pixels."),
    style: str = typer.Option(
        "standard",
        "--style",
        help="refseg: how the scenes are rendered and worded: standard, varied (the training "
        "augmentation) or heldout (renderings and phrasings never trained on).",
    ),
) -> None:
    """Evaluate over a data set; resumable and deterministic by --seed."""
    if task not in TASKS:
        raise UserError(f"unknown eval task {task!r}; available: {', '.join(TASKS)}")
    if task == "refseg":
        if style not in SCENE_STYLES:
            raise UserError(f"--style must be one of {', '.join(SCENE_STYLES)}, got {style!r}")
        _refseg(
            scenes, seed, parse_list(guidance or "saliency"), guidance_model, backgrounds, size, style, out
        )
        return
    defaults = DEFAULTS[task]
    snrs = tuple(parse_list(snr or defaults["snr"], parse_snr))
    cbrs = tuple(parse_list(cbr or defaults["cbr"], parse_cbr))
    methods = tuple(parse_list(method or defaults["method"]))
    channels = tuple(parse_list(channel))
    from mllmsc.channel import CHANNELS  # names only: nothing heavy is imported yet

    for name in channels:
        CHANNELS.require(name)
    if task == "vqa":
        _vqa(
            scenes=scenes, seed=seed, methods=methods, channels=channels, snrs=snrs, cbrs=cbrs,
            answerer=answerer, answerer_weights=answerer_weights, guidance=guidance or "tiny-refseg",
            guidance_model=guidance_model, weights=weights, floor=floor, size=size,
            backgrounds=backgrounds, out=out, workers=workers,
        )  # fmt: skip
        return
    if data is None:
        raise UserError(
            "eval --task transmission needs --data FOLDER of test images (e.g. the 24 Kodak images)"
        )
    from mllmsc.eval.sweep import SweepSpec

    spec = SweepSpec(
        data=data, methods=methods, channels=channels, snrs=snrs, cbrs=cbrs, roi_masks=roi_masks,
        seed=seed, weights=weights, metrics=_optional_metrics(metrics),
        models=tuple((name, path) for name, path in (("generative-refiner", refiner), ("sd-latent", sd_model))
                     if path is not None),
        common_seeds=common_seeds,
    ).validated()  # fmt: skip

    from rich.console import Console
    from rich.progress import Progress

    from mllmsc.eval.sweep import run_sweep, summarize, write_plots, write_summary

    console = Console()
    for line in _unavailable(spec.metrics):
        console.print(line)
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task("sweep", total=None)
        results = run_sweep(
            spec, out, workers=workers, ray=ray, progress=lambda d, t: bar.update(job, completed=d, total=t)
        )
    summary = summarize(results)
    write_summary(out, summary)
    plots = write_plots(out, summary)
    console.print(
        f"{len(results)} rows → {out / 'results.csv'}, {len(summary)} settings → {out / 'summary.csv'}, "
        f"{len(plots)} plots"
    )


def _optional_metrics(text: str | None) -> tuple[str, ...]:
    """``--metrics``: names of optional metrics (``all``: every one), checked, in their report order."""
    from mllmsc.eval.scoring import OPTIONAL

    if text is None:
        return ()
    names = parse_list(text)
    if "all" in names:
        return OPTIONAL
    for name in names:
        if name not in OPTIONAL:
            raise UserError(
                f"--metrics: unknown metric {name!r}; optional metrics: {', '.join(OPTIONAL)}, all"
            )
    return tuple(m for m in OPTIONAL if m in names)


def _unavailable(names: tuple[str, ...]) -> list[str]:
    """A line for each asked-for metric that will be empty here (weights not cached)."""
    from mllmsc.eval import metrics

    lines = []
    if "lpips" in names and not metrics.lpips_available():
        lines.append("lpips: no local AlexNet weights (or no torchvision); its column stays empty")
    if "dists" in names and not metrics.dists_available():
        lines.append(f"dists: {metrics.dists_unavailable_reason()}; its column stays empty")
    return lines


def _refseg(
    scenes: int,
    seed: int,
    names: list[str],
    model: str | None,
    backgrounds: Path | None,
    size: int,
    style: str,
    out: Path,
) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from mllmsc.eval.refseg import evaluate_refseg, summaries, write_csv
    from mllmsc.guidance import build_guidance

    photos = _backgrounds(backgrounds)
    backends = {name: build_guidance(name, model=model) for name in names}
    console = Console()
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task("scenes", total=scenes)
        rows = evaluate_refseg(
            backends, scenes=scenes, seed=seed, size=size, backgrounds=photos, style=style,
            progress=lambda d, t: bar.update(job, completed=d),
        )  # fmt: skip
    summary, per_type = summaries(rows)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", rows)
    write_csv(out / "summary.csv", summary)
    write_csv(out / "summary_by_type.csv", per_type)
    for s in summary:
        console.print(
            f"{s['backend']} (ran {s['ran']}): mean IoU {s['iou']} ± {s['iou_ci95']} over {s['n']} queries"
        )
    console.print(f"wrote {out}/results.csv, summary.csv, summary_by_type.csv")


def _backgrounds(folder: Path | None) -> list[Path]:
    """The background photos of generated scenes: ``folder``, else the project's training photos
    when this checkout has them, else none (procedural textures)."""
    from mllmsc.data.scenes import list_backgrounds

    if folder is None and DEFAULT_BACKGROUNDS.is_dir():
        folder = DEFAULT_BACKGROUNDS
    return list_backgrounds(folder) if folder is not None else []


def _vqa(*, out: Path, workers: int, backgrounds: Path | None, **options) -> None:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from mllmsc.eval.figures import format_cbr
    from mllmsc.eval.vqa import VQASpec, run_vqa, summarize, write_plot, write_summaries

    photos = _backgrounds(backgrounds)
    spec = VQASpec(backgrounds=tuple(photos), **options)
    console = Console()
    console.print(
        f"scenes 0..{spec.scenes - 1} of seed {spec.seed}, "
        + (f"backgrounds from {len(photos)} photos" if photos else "procedural backgrounds")
    )
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task("questions", total=None)
        results = run_vqa(
            spec, out, workers=workers, progress=lambda d, t: bar.update(job, completed=d, total=t)
        )
    summary, by_type = summarize(results)
    write_summaries(out, summary, by_type)
    plot = write_plot(out, summary)
    table = Table("method", "channel", "SNR (dB)", "CBR", "accuracy", "95 % interval", "ROI PSNR", "n")
    for s in summary:
        table.add_row(
            s["method"], s["channel"], f"{float(s['snr_db']):g}", format_cbr(float(s["cbr"])),
            f"{float(s['accuracy']):.3f}", f"{float(s['accuracy_lo']):.3f}–{float(s['accuracy_hi']):.3f}",
            s["roi_psnr"][:5] or "n/a", s["n"],
        )  # fmt: skip
    console.print(table)
    console.print(
        f"{len(results)} rows → {out / 'results.csv'}, summary.csv, summary_by_type.csv"
        + (f", {plot.name}" if plot else "")
    )
