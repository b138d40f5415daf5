"""``mllmsc transmit``: one image through guidance → allocation → IA-JSCC → channel → decoder.

The command parses and checks its arguments, then hands the image to
:func:`mllmsc.eval.transmission.transmit_image` (the method registry) and writes what came back.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mllmsc.cli.args import parse_cbr, parse_query, parse_snr
from mllmsc.errors import UserError


def transmit(
    image: Path = typer.Argument(..., help="Image to send (PNG, JPEG, WebP, HEIF)."),
    out: Path = typer.Option(..., "--out", help="Folder for received.png, report.json, report.png, ..."),
    query: str = typer.Option("", "--query", help="The user's intent, e.g. 'what is on the table?'."),
    snr: str = typer.Option("10", "--snr", help="SNR in dB."),
    cbr: str = typer.Option("1/16", "--cbr", help="Channel bandwidth ratio: 1/16 or a decimal in (0, 1]."),
    channel: str = typer.Option("awgn", "--channel", help="awgn, rayleigh, rician or ofdm-tdl."),
    guidance: str | None = typer.Option(
        None,
        "--guidance",
        help="Guidance backend: auto, clipseg, llava, saliency, tiny-refseg, mask, box, uniform; "
        "default: mask with --mask, box with --box, else auto.",
    ),
    guidance_model: str | None = typer.Option(
        None, "--guidance-model", help="Local folder or cached hub id of the clipseg/llava model."
    ),
    mask: Path | None = typer.Option(None, "--mask", help="Region of interest for --guidance mask (white)."),
    box: str | None = typer.Option(None, "--box", help="x0,y0,x1,y1 for --guidance box."),
    roi_mask: Path | None = typer.Option(
        None, "--roi-mask", help="Evaluation mask for roi_psnr (white = ROI); default: the guidance mask."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the channel's torch.Generator."),
    weights: Path | None = typer.Option(
        None, "--weights", help="IA-JSCC folder (config.json + model.safetensors)."
    ),
    answer: bool = typer.Option(
        False, "--answer", help="Answer --query from the received image (report.json gains a task block)."
    ),
    answerer: str = typer.Option(
        "tiny-vqa",
        "--answerer",
        help="Who answers with --answer: tiny-vqa (shipped) or llava (local weights).",
    ),
    answerer_weights: Path | None = typer.Option(
        None, "--answerer-weights", help="Answerer model folder (default: shipped)."
    ),
    edge: str | None = typer.Option(
        None,
        "--edge",
        help="Ask the edge service at this URL for the importance map (local guidance if it fails).",
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="Bearer token for --edge (else the MLLMSC_TOKEN variable)."
    ),
    edge_timeout: float = typer.Option(
        10.0, "--edge-timeout", help="Seconds to wait for the edge per attempt."
    ),
    decoder: str = typer.Option(
        "fast",
        "--decoder",
        help="Receiver decoder: fast (the JSCC decoder) or generative (diffusion refiner).",
    ),
    mode: str = typer.Option(
        "balanced", "--mode", help="Generative decoder compute: fast (no diffusion), balanced or quality."
    ),
    decoder_weights: Path | None = typer.Option(
        None, "--decoder-weights", help="Generative refiner folder (default: shipped)."
    ),
    sd_model: Path | None = typer.Option(
        None,
        "--sd-model",
        help="Local Stable Diffusion folder: send the image as its VAE latent (method sd-latent) "
        "instead of IA-JSCC; --mode sets the denoising steps, --query is the prompt.",
    ),
) -> None:
    """Send IMAGE over a noisy channel with importance-aware deep JSCC and report what arrived."""
    report = send_image(
        image,
        out,
        query=parse_query(query),
        snr_db=parse_snr(snr),
        cbr=parse_cbr(cbr),
        channel=channel,
        guidance=guidance or ("mask" if mask is not None else "box" if box is not None else "auto"),
        guidance_model=guidance_model,
        mask=mask,
        box=_parse_box(box),
        roi_mask=roi_mask,
        seed=seed,
        weights=weights,
        answerer=(answerer, answerer_weights) if answer else None,
        edge=_edge(edge, token_file, edge_timeout, guidance, mask, box),
        decoder=(decoder, mode, decoder_weights),
        sd_model=sd_model,
    )
    _print_summary(out, report)


def _edge(
    url: str | None, token_file: Path | None, timeout_s: float, guidance: str | None, mask, box
) -> dict | None:
    """The checked ``--edge`` settings: ``{"url", "token", "timeout_s", "remote"}``, or ``None``."""
    if url is None:
        if token_file is not None:
            raise UserError("--token-file is the token for --edge; pass --edge URL too")
        return None
    from mllmsc.service.security import check_edge_url, read_token

    if mask is not None or box is not None or guidance in ("mask", "box", "uniform"):
        raise UserError("--edge asks the edge where the importance is; --mask, --box and --guidance "
                        "mask/box/uniform say it locally: use one or the other")  # fmt: skip
    if not 0 < timeout_s <= 600:
        raise UserError(f"--edge-timeout must be in (0, 600] seconds, got {timeout_s:g}")
    return {
        "url": check_edge_url(url),
        "token": read_token(token_file),
        "timeout_s": timeout_s,
        "remote": guidance,
    }


def send_image(
    image: Path,
    out: Path,
    *,
    query: str,
    snr_db: float,
    cbr: float,
    channel: str,
    guidance: str,
    guidance_model: str | None = None,
    mask: Path | None = None,
    box: tuple[int, int, int, int] | None = None,
    roi_mask: Path | None = None,
    seed: int = 0,
    weights: Path | None = None,
    answerer: tuple[str, Path | None] | None = None,
    edge: dict | None = None,
    decoder: tuple[str, str, Path | None] = ("fast", "fast", None),
    sd_model: Path | None = None,
) -> dict:
    """Read the files, send the image through the method registry and write the five outputs.

    ``--guidance uniform`` is the ``uniform-jscc`` method (no side information); every other
    backend feeds ``ia-jscc``. ``answerer`` (name, weights folder) answers the query at the receiver.
    ``edge`` (``{"url", "token", "timeout_s", "remote"}``) asks the edge service for the map, with
    ``guidance`` as the local fallback; the report's guidance block says which answered and why.
    ``decoder`` (name, mode, weights folder): ``generative`` refines what arrived with the diffusion
    decoder (:mod:`mllmsc.decoder`), given the map, the SNR, the CBR and the query; the report
    gains ``decoder: {name, mode, steps, latency_ms}``. ``sd_model`` (a local Stable Diffusion
    folder) sends the image over ``sd-latent`` instead of IA-JSCC, in ``decoder``'s mode, with the
    query as the prompt; the report gains the same ``decoder`` block.

    Returns:
        the ``report.json`` content.
    """
    # Everything that can be checked without torch or Sionna first: a typo fails at once.
    from mllmsc.channel import CHANNELS
    from mllmsc.files import check_input_file
    from mllmsc.guidance import GUIDANCE
    from mllmsc.tasks import ANSWERERS

    for path in (image, mask, roi_mask):
        if path is not None:
            check_input_file(path)
    _check_outputs_do_not_clobber_inputs(out, [image, mask, roi_mask])
    CHANNELS.require(channel)
    GUIDANCE.require(guidance)
    if answerer is not None:
        ANSWERERS.require(answerer[0])
        if not query:
            raise UserError("--answer needs the question: pass --query TEXT")
    if weights is not None and not weights.is_dir():
        raise UserError(f"--weights {weights}: no such folder")
    decoder_name, mode, decoder_weights = decoder
    from mllmsc.decoder import DECODERS, MODES

    DECODERS.require(decoder_name)
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if decoder_weights is not None and not decoder_weights.is_dir():
        raise UserError(f"--decoder-weights {decoder_weights}: no such folder")
    if sd_model is not None:
        from mllmsc.decoder.stable_diffusion import check_folder

        if decoder_name != "fast":
            raise UserError("--sd-model decodes with Stable Diffusion itself: drop --decoder")
        check_folder(sd_model, "--sd-model")

    from mllmsc.data.io import read_image, read_mask
    from mllmsc.eval.transmission import transmit_image, write_transmission
    from mllmsc.guidance import build_guidance
    from mllmsc.methods import METHODS

    def local():
        return build_guidance(guidance, model=guidance_model, mask=str(mask) if mask else None, box=box)

    if edge is not None:
        from mllmsc.service.client import EdgeClient, EdgeGuidance

        client = EdgeClient(edge["url"], edge["token"], timeout_s=edge["timeout_s"])
        backend = EdgeGuidance(client, local=local, remote=edge["remote"])
    else:
        backend = local()
    x = read_image(image)[None]
    eval_mask = read_mask(roi_mask, size=tuple(x.shape[-2:]))[None] if roi_mask is not None else None
    method = METHODS.build("uniform-jscc" if guidance == "uniform" else "ia-jscc", weights=weights)
    progress = None
    if sd_model is not None:
        method, progress = _sd_latent(sd_model, mode, query)
    elif decoder_name == "generative":
        method, progress = _with_generative_decoder(method, mode, decoder_weights, query)
    task = None
    if answerer is not None:
        name, folder = answerer
        task = ANSWERERS.build(name, **({"weights": folder} if folder is not None else {}))
    result, report = transmit_image(
        x, method=method, channel=channel, snr_db=snr_db, cbr=cbr, guidance=backend, query=query,
        seed=seed, roi=eval_mask, image_name=str(image), answerer=task,
    )  # fmt: skip
    if progress is not None:
        progress.stop()
    if edge is not None:
        report["guidance"].update(backend.outcome)
    write_transmission(out, x, result, report)
    return report


def _with_generative_decoder(method, mode: str, weights: Path | None, query: str):
    """``method`` followed by the generative decoder, and the progress bar its steps advance."""
    from mllmsc.decoder.generative import GenerativeDecoder
    from mllmsc.methods.generative import DecodedMethod

    decoder = GenerativeDecoder(mode, weights=weights)
    bar, advance = _progress_bar(f"generative decoder ({mode})", max(decoder.steps, 1))
    return DecodedMethod(method, decoder, name=method.name, prompt=query, progress=advance), bar


def _sd_latent(folder: Path, mode: str, query: str):
    """The ``sd-latent`` method on ``folder``, and the progress bar its denoising steps advance."""
    from mllmsc.decoder.stable_diffusion import MODE_SETTINGS
    from mllmsc.methods import METHODS

    bar, advance = _progress_bar(f"stable diffusion ({mode})", max(MODE_SETTINGS[mode], 1))
    method = METHODS.build("sd-latent", sd_model=folder, mode=mode, prompt=query, progress=advance)
    return method, bar


def _progress_bar(title: str, total: int):
    """A transient bar on stderr, shown from the first step on, and the ``(done, total)`` callback."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(title), BarColumn(), TextColumn("{task.completed} steps"))
    bar = Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("denoise", total=total)

    def advance(done: int, total: int) -> None:
        if done == 1:
            bar.start()
        bar.update(task, completed=done, total=total)

    return bar, advance


def _parse_box(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--box must be x0,y0,x1,y1 in pixels, got {text!r}") from None
    if len(values) != 4:
        raise UserError(f"--box must be x0,y0,x1,y1 in pixels, got {text!r}")
    return values


def _check_outputs_do_not_clobber_inputs(out: Path, inputs: list[Path | None]) -> None:
    """Refuse an --out folder whose report files would replace one of the user's inputs."""
    from mllmsc.files import TRANSMIT_OUTPUTS as OUTPUTS

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    targets = {(out / name).resolve() for name in OUTPUTS}
    for path in inputs:
        if path is not None and path.resolve() in targets:
            raise UserError(f"--out {out} would overwrite the input {path}; choose another folder")


def _said(task: dict) -> str:
    if task["answer"] is None:
        return f"none ({task.get('reason', 'no answer')})"
    if task["confidence"] is None:
        return task["answer"]
    return f"{task['answer']} (confidence {task['confidence']:.2f})"


def _decoder_line(d: dict) -> str:
    return f"decoder {d['name']} ({d['mode']}): {d['steps']} denoising steps, {d['latency_ms']:.0f} ms\n"


def _print_summary(out: Path, report: dict) -> None:
    from rich.console import Console

    from mllmsc.eval.figures import format_cbr

    m, s, lat = report["metrics"], report["symbols"], report["latency_ms"]

    def fmt(v, unit=" dB"):
        return "null" if v is None else f"{v:.2f}{unit}"

    g = report["guidance"]
    query_note = (
        "query used" if g["used_query"] else "[yellow]query NOT used[/]" if report["query"] else "no query"
    )
    guidance_line = f"guidance {g['backend']} ({query_note}), ROI {100 * g['roi_fraction']:.1f} %"
    if "fallback" in g:
        guidance_line += f"; [yellow]{g['fallback']}[/]"
    if "reason" in g:
        guidance_line += f"\n[yellow]the edge {g['edge']} was not used: {g['reason']}[/]"
    elif "edge" in g:
        guidance_line += f" from the edge {g['edge']} ({g['server_ms']:.0f} ms there)"
    Console().print(
        f"{guidance_line}\n"
        f"[bold]{report['image']}[/] → {report['channel']} at {report['snr_db']:g} dB, "
        f"CBR {format_cbr(report['cbr_target'])} (used {report['cbr_used']:.4f}: {s['total']}/{s['budget']} "
        f"symbols, side info {s['side_info']})\n"
        f"PSNR {fmt(m['psnr'])}  MS-SSIM {fmt(m['ms_ssim'], '')}  ROI {fmt(m['roi_psnr'])}  "
        f"background {fmt(m['background_psnr'])}  total {lat['total']:.0f} ms\n"
        + (f"answer ({report['task']['answerer']}): {_said(report['task'])}\n" if "task" in report else "")
        + (_decoder_line(report["decoder"]) if "decoder" in report else "")
        + f"wrote {out}/{{received,importance,allocation,report}}.png and report.json"
    )
