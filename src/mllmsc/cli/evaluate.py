"""``mllmsc eval``: experiments over data sets; ``--task transmission`` is the SNR × CBR sweep."""

from __future__ import annotations

from pathlib import Path

import typer

from mllmsc.cli.args import parse_cbr, parse_list, parse_snr
from mllmsc.errors import UserError
from mllmsc.methods import METHODS  # names only: each method's module loads when it is built

TASKS = ("transmission", "refseg")
DEFAULT_BACKGROUNDS = Path("../shared/data/train")


def evaluate(
    task: str = typer.Option(
        "transmission", "--task", help="Experiment: transmission (SNR × CBR sweep) or refseg (guidance IoU)."
    ),
    data: Path = typer.Option(Path("../shared/data/kodak"), "--data", help="Folder of test images."),
    snr: str = typer.Option("1,4,7,10,13", "--snr", help="SNR LIST in dB."),
    cbr: str = typer.Option("1/48,1/24,1/16,1/12,1/8", "--cbr", help="CBR LIST (fractions or decimals)."),
    channel: str = typer.Option("awgn", "--channel", help="Channel LIST: awgn, rayleigh, rician, ofdm-tdl."),
    method: str = typer.Option(
        "uniform-jscc",
        "--method",
        help=f"Method LIST: {', '.join(METHODS.available())}.",
    ),
    out: Path = typer.Option(..., "--out", help="Folder for results.csv, summary.csv and plots (resumed)."),
    roi_masks: Path | None = typer.Option(
        None, "--roi-masks", help="Folder of ROI masks named like the images (.png, white = ROI)."
    ),
    seed: int = typer.Option(0, "--seed", help="Base seed; each row is seeded from it and its settings."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Local processes (with --ray: Ray actors; 1 = one per cluster CPU)."
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Fan the grid out as Ray tasks: auto (this machine's cluster), local (a private Ray "
        "with --workers CPUs) or ADDRESS (host:port, ray://host:10001). Needs mllmsc[ray].",
    ),
    weights: Path | None = typer.Option(None, "--weights", help="IA-JSCC folder (default: shipped)."),
    scenes: int = typer.Option(100, "--scenes", min=1, help="refseg: number of generated scenes."),
    guidance: str = typer.Option("saliency", "--guidance", help="refseg: guidance backend LIST."),
    guidance_model: str | None = typer.Option(None, "--guidance-model", help="refseg: clipseg/llava model."),
    backgrounds: Path | None = typer.Option(
        None,
        "--backgrounds",
        help="refseg: photos for backgrounds (default ../shared/data/train if present).",
    ),
    size: int = typer.Option(256, "--size", min=32, help="refseg: scene side in pixels."),
) -> None:
    """Sweep methods × channels × SNRs × CBRs over an image folder; resumable and deterministic."""
    if task not in TASKS:
        raise UserError(f"unknown eval task {task!r}; available now: {', '.join(TASKS)} (vqa is planned)")
    if task == "refseg":
        _refseg(scenes, seed, parse_list(guidance), guidance_model, backgrounds, size, out)
        return
    from mllmsc.eval.sweep import SweepSpec

    spec = SweepSpec(
        data=data,
        methods=tuple(parse_list(method)),
        channels=tuple(parse_list(channel)),
        snrs=tuple(parse_list(snr, parse_snr)),
        cbrs=tuple(parse_list(cbr, parse_cbr)),
        roi_masks=roi_masks,
        seed=seed,
        weights=weights,
    ).validated()

    from rich.console import Console
    from rich.progress import Progress

    from mllmsc.eval.sweep import run_sweep, summarize, write_plots, write_summary

    console = Console()
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


def _refseg(
    scenes: int,
    seed: int,
    names: list[str],
    model: str | None,
    backgrounds: Path | None,
    size: int,
    out: Path,
) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from mllmsc.data.scenes import list_backgrounds
    from mllmsc.eval.refseg import evaluate_refseg, summaries, write_csv
    from mllmsc.guidance import build_guidance

    if backgrounds is None and DEFAULT_BACKGROUNDS.is_dir():
        backgrounds = DEFAULT_BACKGROUNDS
    photos = list_backgrounds(backgrounds) if backgrounds is not None else []
    backends = {name: build_guidance(name, model=model) for name in names}
    console = Console()
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task("scenes", total=scenes)
        rows = evaluate_refseg(
            backends, scenes=scenes, seed=seed, size=size, backgrounds=photos,
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
