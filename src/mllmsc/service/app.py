"""The edge service as an ASGI application: ``create_app(...)`` → FastAPI.

Routes (every ``/v1`` route but ``/v1/info`` and ``/v1/samples`` needs ``Authorization: Bearer``):

==================== ====== ====================================================================
path                 method what
==================== ====== ====================================================================
/v1/importance       POST   image + intent + channel state → importance map (PNG), phrases, used_query
/v1/transmit         POST   the whole link server-side, guided and uniform (the page's call)
/v1/scene            GET    a generated AR scene and its questions (``?seed=&index=``)
/v1/info             GET    what the page needs: backends, channels, samples, limits, auth
/v1/samples/NAME.png GET    a bundled photo
/healthz             GET    liveness: ``{"status": "ok"}``
/metrics             GET    Prometheus text (:mod:`.metrics`)
/openapi.json        GET    the API schema
/                    GET    the web page (``page/``: one HTML file, plain JS and CSS)
==================== ====== ====================================================================

Middleware, outermost first: metrics (counts every answer, refusals included) → bearer auth
(401) → admission (503 past ``workers + queue``) → body limit (413) → FastAPI. So a stranger
costs a header check, and a refused upload is never read.
"""

import asyncio
import functools
import logging
from contextlib import asynccontextmanager
from fractions import Fraction
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

import mllmsc
from mllmsc.errors import UserError
from mllmsc.limits import SNR_MAX_DB, SNR_MIN_DB
from mllmsc.service import jobs
from mllmsc.service.errors import ServiceError, error_body
from mllmsc.service.gate import Admission, Gate
from mllmsc.service.limits import BodyLimit, Limits
from mllmsc.service.metrics import Metrics, MetricsMiddleware
from mllmsc.service.models import SERVED_GUIDANCE, Models
from mllmsc.service.security import BearerAuth
from mllmsc.types import ChannelState

log = logging.getLogger("mllmsc.service")

PAGE = Path(__file__).with_name("page")
GATED = ("/v1/importance", "/v1/transmit", "/v1/scene")
ENDPOINTS = (*GATED, "/v1/info", "/healthz", "/metrics", "/openapi.json", "/")

# The page is one static file with its own script and style: nothing inline, nothing remote.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class Error(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every refusal: ``{"error": {"code", "message"}}``."""

    error: Error


class MapOut(BaseModel):
    encoding: str
    soft: str
    mask: str


class ImportanceOut(BaseModel):
    """The importance map at the resolution of the image sent: base64 PNGs (8-bit soft, 1-bit mask)."""

    backend: str
    phrases: list[str]
    used_query: bool
    height: int
    width: int
    roi_fraction: float
    map: MapOut
    latency_ms: dict[str, float]


REFUSALS = {
    401: {"model": ErrorOut, "description": "no or wrong bearer token"},
    413: {"model": ErrorOut, "description": "body or image too large"},
    415: {"model": ErrorOut, "description": "not an image"},
    422: {"model": ErrorOut, "description": "a field is missing or out of range, or the image is corrupt"},
    503: {"model": ErrorOut, "description": "at capacity or timed out; see Retry-After"},
}


def _json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(code, message), status, headers=headers, media_type="application/json")


def _cbr(text: str) -> float:
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise ServiceError(
            422, "invalid_request", f"cbr must be a fraction like 1/16 or a decimal, got {text!r}"
        ) from None
    if not 0 < value <= 1:
        raise ServiceError(422, "invalid_request", f"cbr must be in (0, 1], got {text!r}")
    return value


def create_app(
    *,
    token: str | None,
    guidance: str = "auto",
    limits: Limits | None = None,
    models: Models | None = None,
) -> FastAPI:
    """The edge application.

    Args:
        token: the bearer token; ``None`` serves without one (the caller checks the host is
            loopback: :func:`mllmsc.service.security.check_exposure`).
        guidance: the backend a request gets when it names none.
        limits: :class:`~mllmsc.service.limits.Limits` (defaults there).
        models: the models to serve (default: shipped weights, built on first use).
    """
    limits = limits or Limits()
    models = models or Models()
    if guidance not in SERVED_GUIDANCE:
        raise UserError(f"guidance {guidance!r} is not served; choose one of {', '.join(SERVED_GUIDANCE)}")
    default_guidance = guidance  # the routes' own `guidance` field shadows the argument
    gate = Gate(limits.workers, limits.queue, limits.retry_after_s)
    metrics = Metrics(gate, ENDPOINTS)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        gate.close()

    app = FastAPI(
        title="mllmsc edge",
        version=mllmsc.__version__,
        description="MLLM-SC's edge: importance maps for devices, and the whole link for the web page.",
        docs_url=None,  # Swagger UI loads its script from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.gate, app.state.metrics, app.state.limits, app.state.models = gate, metrics, limits, models
    app.add_middleware(BodyLimit, max_bytes=limits.max_request_bytes, timeout_s=limits.timeout_s)
    app.add_middleware(Admission, gate=gate, paths=GATED)
    app.add_middleware(BearerAuth, token=token)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    # ---- errors: one JSON shape, never a traceback
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> Response:
        return _json_error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(UserError)
    async def _user_error(_: Request, exc: UserError) -> Response:
        return _json_error(422, "invalid_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return _json_error(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return _json_error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _json_error(500, "internal", "internal error; the server log has the details")

    async def run(endpoint: str, job, *args, **kwargs) -> dict:
        result = await gate.run(functools.partial(job, *args, **kwargs), timeout_s=limits.timeout_s)
        metrics.observe_stages(endpoint, result["latency_ms"])
        return result

    # ---- the device's call
    @app.post("/v1/importance", response_model=ImportanceOut, responses=REFUSALS)
    async def importance(
        image: Annotated[UploadFile, File(description="The image (the device client shrinks it first).")],
        intent: Annotated[str, Form(description="What the user cares about.")] = "",
        snr_db: Annotated[float | None, Form(ge=SNR_MIN_DB, le=SNR_MAX_DB, allow_inf_nan=False)] = None,
        cbr: Annotated[str | None, Form(description="Channel bandwidth ratio: 1/16 or a decimal.")] = None,
        channel: Annotated[str | None, Form(description="Channel name, part of the channel state.")] = None,
        guidance: Annotated[str | None, Form(description=f"One of {', '.join(SERVED_GUIDANCE)}.")] = None,
    ) -> dict:
        """The importance map of ``image`` for ``intent`` under the channel state."""
        intent = jobs.check_intent(intent, limits)
        if channel is not None:
            jobs.check_channel(channel)
        csi = ChannelState(snr_db, None if cbr is None else _cbr(cbr), channel)
        data = await image.read()
        return await run("/v1/importance", jobs.importance_job, models, limits, data, intent, csi,
                         guidance or default_guidance)  # fmt: skip

    # ---- the page's call
    @app.post("/v1/transmit", responses=REFUSALS)
    async def transmit(
        image: Annotated[
            UploadFile | None, File(description="An image to send (or sample, or scene).")
        ] = None,
        sample: Annotated[
            str | None, Form(description=f"A bundled photo: {', '.join(jobs.SAMPLES)}.")
        ] = None,
        scene_seed: Annotated[int | None, Form(ge=0)] = None,
        scene_index: Annotated[int | None, Form(ge=0)] = None,
        intent: Annotated[str, Form()] = "",
        guidance: Annotated[str | None, Form()] = None,
        channel: Annotated[str, Form()] = "awgn",
        snr_db: Annotated[float, Form(ge=SNR_MIN_DB, le=SNR_MAX_DB, allow_inf_nan=False)] = 10.0,
        cbr: Annotated[str, Form()] = "1/16",
        seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
        decoder: Annotated[
            str, Form(description="Receiver decoder: fast (the JSCC decoder) or generative.")
        ] = "fast",
        mode: Annotated[
            str, Form(description="Generative decoder compute: fast, balanced or quality.")
        ] = "balanced",
    ) -> dict:
        """The whole link server-side, guided against uniform: five images and both reports.

        Exactly one source: ``image``, ``sample`` or ``scene_seed`` + ``scene_index``. The reports
        are the ``report.json`` of ``mllmsc transmit``; on a scene each has the receiver's answer.
        ``decoder=generative`` refines both received images with the diffusion decoder in ``mode``
        (as ``mllmsc transmit --decoder generative --mode M``); each report gains ``decoder``.
        """
        intent = jobs.check_intent(intent, limits)
        jobs.check_channel(channel)
        generative_mode = jobs.check_decoder(decoder, mode)
        cbr_value = _cbr(cbr)
        given = [image is not None, sample is not None, scene_seed is not None or scene_index is not None]
        if sum(given) != 1:
            raise ServiceError(
                422, "invalid_request", "give exactly one of image, sample, scene_seed + scene_index"
            )
        if given[2] and (scene_seed is None or scene_index is None):
            raise ServiceError(422, "invalid_request", "a scene needs both scene_seed and scene_index")
        if sample is not None and sample not in jobs.SAMPLES:
            raise ServiceError(
                422, "unknown_sample", f"no sample {sample!r}; there are {', '.join(jobs.SAMPLES)}"
            )
        source = jobs.Source(
            upload=await image.read() if image is not None else None,
            filename=(image.filename or "upload") if image is not None else "upload",
            sample=sample,
            scene=(scene_seed, scene_index) if given[2] else None,
        )
        return await run(
            "/v1/transmit", jobs.transmit_job, models, limits, source, intent=intent,
            guidance=guidance or default_guidance, channel=channel, snr_db=snr_db, cbr=cbr_value, seed=seed,
            mode=generative_mode,
        )  # fmt: skip

    @app.get("/v1/scene", responses=REFUSALS)
    async def scene(seed: Annotated[int, Query(ge=0)] = 0, index: Annotated[int, Query(ge=0)] = 0) -> dict:
        """Generated AR scene ``index`` of ``seed`` as a PNG data URL, with its expressions and answers."""
        return await run("/v1/scene", jobs.scene_job, seed, index)

    # ---- public: what the page needs to draw itself
    @app.get("/v1/info")
    async def info() -> dict:
        from mllmsc.channel import CHANNELS
        from mllmsc.decoder import DECODERS, MODES

        return {
            "version": mllmsc.__version__,
            "auth": token is not None,
            "guidance": list(SERVED_GUIDANCE),
            "default_guidance": default_guidance,
            "channels": CHANNELS.available(),
            "samples": list(jobs.SAMPLES),
            "decoders": DECODERS.available(),
            "modes": list(MODES),
            "snr_db": [SNR_MIN_DB, SNR_MAX_DB],
            "limits": {
                "max_request_bytes": limits.max_request_bytes,
                "max_pixels": limits.max_pixels,
                "max_intent_chars": limits.max_intent_chars,
                "transmit_max_side": limits.transmit_max_side,
            },
        }

    @app.get("/v1/samples/{name}.png", response_class=Response)
    async def sample_png(name: str) -> Response:
        if name not in jobs.SAMPLES:
            raise ServiceError(404, "unknown_sample", f"no sample {name!r}")
        data = await asyncio.to_thread(jobs.sample_png, name, limits.transmit_max_side)
        return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/", response_class=FileResponse, include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(PAGE / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=PAGE), name="static")
    return app
