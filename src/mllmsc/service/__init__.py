"""The edge service: MLLM-SC's device–edge split as a real network hop, and a web page beside it.

In MLLM-SC the multimodal model runs at the edge and the encoder on the device. Here the edge is
an HTTP service (FastAPI on uvicorn, ``mllmsc serve``) and the device is its client
(``mllmsc transmit --edge URL``)::

    device (client.py)                          edge (app.py)
    x ─► downscale ─► PNG ──── POST /v1/importance ───► auth ─► admission ─► body limit ─► guidance
                                 (image, intent, CSI)                                        │
    m ◄─ upsample ◄─ PNG ◄──── {map: PNG, phrases, used_query, latency} ◄────────────────────┘
    │   (edge down, slow or refusing: local guidance, reported as "fallback:<name>")
    ▼
    allocate ─► encode ─► channel ─► decode          (unchanged: mllmsc.pipeline)

``POST /v1/transmit`` runs the whole simulated link server-side, guided and uniform side by side,
for the page at ``/``. ``GET /healthz`` answers liveness, ``GET /metrics`` Prometheus text,
``GET /openapi.json`` the schema.

Modules: ``app`` (routes), ``security`` (bearer token, loopback rule), ``limits`` (request bytes,
pixels, intent, timeout), ``gate`` (bounded concurrency with a queue, 503 past it), ``metrics``,
``errors`` (one JSON error shape), ``wire`` (what travels: PNG maps and images, multipart),
``models`` (built backends, cached), ``jobs`` (the work a request does), ``server`` (uvicorn, also
in a background thread), ``client`` (the device side). Only ``client`` and ``wire`` are needed on
the device, and they use the standard library: FastAPI and uvicorn load only in ``mllmsc serve``.
"""
