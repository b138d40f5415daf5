"""``mllmsc serve``: the edge service (importance maps for devices) and the web page, on one port.

Arguments, the token and the host rule are checked before FastAPI, uvicorn or torch are imported,
so a mistake is one line and exit code 2 at once; the default guidance backend is built before the
port opens, so a missing model is found now and not by the first device.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from mllmsc.errors import UserError


def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."
    ),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    guidance: str = typer.Option(
        "auto",
        "--guidance",
        help="Backend a request gets when it names none: auto, tiny-refseg, saliency, ...",
    ),
    guidance_model: str | None = typer.Option(
        None, "--guidance-model", help="Local folder or cached hub id of the clipseg/llava model."
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File holding the bearer token (else the MLLMSC_TOKEN variable)."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Serve without a token (refused unless --host is a loopback address)."
    ),
    weights: Path | None = typer.Option(None, "--weights", help="IA-JSCC folder for /v1/transmit."),
    decoder_weights: Path | None = typer.Option(
        None, "--decoder-weights", help="Generative refiner folder for /v1/transmit (default: shipped)."
    ),
    workers: int = typer.Option(2, "--workers", help="Requests worked on at once (threads)."),
    queue: int = typer.Option(16, "--queue", help="Requests that may wait; past workers + queue: 503."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds a request may take, waiting included."),
    max_request_mb: float = typer.Option(10.0, "--max-request-mb", help="Largest request body in MiB."),
) -> None:
    """Serve the edge: POST /v1/importance and /v1/transmit, /healthz, /metrics, and the web page at /."""
    from mllmsc.guidance import GUIDANCE
    from mllmsc.service.security import check_exposure, read_token

    if not 0 < port < 65536:
        raise UserError(f"--port must be in 1..65535, got {port}")
    if workers < 1 or queue < 0 or timeout <= 0 or max_request_mb <= 0:
        raise UserError("--workers must be >= 1, --queue >= 0, --timeout and --max-request-mb > 0")
    GUIDANCE.require(guidance)
    for flag, folder in (("--weights", weights), ("--decoder-weights", decoder_weights)):
        if folder is not None and not folder.is_dir():
            raise UserError(f"{flag} {folder}: no such folder")
    if insecure and token_file is not None:
        raise UserError("--insecure and --token-file exclude each other")
    token = None if insecure else read_token(token_file)  # --insecure ignores MLLMSC_TOKEN
    check_exposure(host, token, insecure)
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UserError(f"mllmsc serve needs the service extra ({exc.name} is missing): "
                        "pip install 'mllmsc[service]'") from None  # fmt: skip

    import os

    import torch
    from rich.console import Console

    from mllmsc.service.app import create_app
    from mllmsc.service.limits import Limits
    from mllmsc.service.models import Models
    from mllmsc.service.server import serve as run_server

    # Each worker thread runs torch ops; without this every one would spread over all cores.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    limits = Limits(
        workers=workers, queue=queue, timeout_s=timeout, max_request_bytes=int(max_request_mb * 2**20)
    )
    models = Models(weights=weights, guidance_model=guidance_model, refiner_weights=decoder_weights)
    app = create_app(token=token, guidance=guidance, limits=limits, models=models)
    models.guidance(guidance)  # load now: a missing model is an error here, not on the first request
    shown = f"[{host}]" if ":" in host else host
    Console(stderr=True).print(
        f"mllmsc edge on http://{shown}:{port}/ (the page; API at /v1, schema at /openapi.json), "
        f"guidance {guidance}, {'no token (loopback only)' if token is None else 'bearer token required'}"
    )
    # uvicorn re-raises Ctrl-C after its graceful shutdown: for a server that is the normal end
    with contextlib.suppress(KeyboardInterrupt):
        run_server(app, host, port)
