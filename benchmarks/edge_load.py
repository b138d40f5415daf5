"""Load on the edge service: throughput, latency, refusals and memory of `mllmsc serve` under load.

    .venv/bin/python benchmarks/edge_load.py [--requests 2000] [--concurrency 16] [--no-write]

Starts the real command (`mllmsc serve --guidance saliency --workers 2 --queue 16` with a token,
on a free loopback port; never anything but 127.0.0.1) and drives `POST /v1/importance` with a
256×256 PNG (scikit-image's astronaut, what the device client sends after shrinking) from client
threads, each on its own keep-alive connection:

1. strangers: requests without a token and with a wrong one (none may be accepted);
2. `--requests` at `--concurrency` (16, inside `workers + queue` = 18: no 503 expected);
3. half as many at twice the capacity (36 clients): the intended 503 back-pressure.

Reports requests per second, p50 / p99 latency, answers by status code and the server's resident
memory (VmRSS from /proc) after a warm-up and after each phase. Writes the `<!-- edge-load -->`
section of BENCHMARKS.md. The clients run on the same 2 cores as the server, so the throughput is
a lower bound for a real network.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

HOST = "127.0.0.1"  # loopback only: this script never loads anything but the local machine
WORKERS, QUEUE = 2, 16


def payload() -> tuple[bytes, str]:
    """The multipart body of one request: a 256×256 PNG, an intent and the channel state."""
    from PIL import Image
    from skimage import data

    from mllmsc.service import wire

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((256, 256), Image.BILINEAR).save(buffer, format="PNG")
    fields = {"intent": "the astronaut's face", "snr_db": "10", "cbr": "1/16", "channel": "awgn"}
    return wire.multipart(fields, {"image": ("astronaut.png", buffer.getvalue(), wire.PNG)})


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def drive(port: int, body: bytes, content_type: str, n: int, concurrency: int, token: str | None) -> dict:
    """``n`` requests from ``concurrency`` threads; statuses, latencies (s) and wall time."""
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    lock = threading.Lock()
    left = [n]
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        while True:
            with lock:
                if left[0] == 0:
                    break
                left[0] -= 1
            start = time.perf_counter()
            try:
                conn.request("POST", "/v1/importance", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
                if response.will_close:  # the server closes after refusing an unread body
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=120)
            except (OSError, http.client.HTTPException) as exc:
                status = f"connection error ({exc.__class__.__name__})"
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=120)
            elapsed = time.perf_counter() - start
            with lock:
                statuses[status] += 1
                latencies.append(elapsed)
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"statuses": statuses, "latencies": latencies, "wall": time.perf_counter() - start}


def quantile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from mllmsc.service.server import free_port

    token = "edge-load-" + os.urandom(12).hex()
    body, content_type = payload()
    port = free_port(HOST)
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "token"
        token_file.write_text(token)
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("mllmsc")), "serve", "--host", HOST, "--port", str(port),
             "--guidance", "saliency", "--workers", str(WORKERS), "--queue", str(QUEUE),
             "--token-file", str(token_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "MLLMSC_TOKEN": ""},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    conn = http.client.HTTPConnection(HOST, port, timeout=2)
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-500:]}")
                time.sleep(0.2)
            drive(port, body, content_type, 50, 4, token)  # warm-up: imports, first allocations
            memory = {"after warm-up (50 requests)": rss_mb(server.pid)}
            phases = []
            strangers = drive(port, body, content_type, 200, args.concurrency, None)
            wrong = drive(port, body, content_type, 200, args.concurrency, "edge-load-wrong-token-000000")
            strangers["statuses"].update(wrong["statuses"])
            strangers["latencies"] += wrong["latencies"]
            strangers["wall"] += wrong["wall"]
            phases.append(("no token (200) and a wrong token (200)", 400, args.concurrency, strangers))
            run = drive(port, body, content_type, args.requests, args.concurrency, token)
            phases.append(
                (f"{args.requests} at {args.concurrency} clients", args.requests, args.concurrency, run)
            )
            memory[f"after {args.requests} requests"] = rss_mb(server.pid)
            over = 2 * (WORKERS + QUEUE)
            n_over = args.requests // 2
            run = drive(port, body, content_type, n_over, over, token)
            phases.append((f"{n_over} at {over} clients (2 × capacity)", n_over, over, run))
            memory[f"after {n_over} more at {over} clients"] = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)

    lines = [
        "## Edge service under load",
        "",
        f"`python benchmarks/edge_load.py --requests {args.requests} --concurrency {args.concurrency}`: "
        f"`mllmsc serve --guidance saliency --workers {WORKERS} --queue {QUEUE}` on 127.0.0.1, "
        "`POST /v1/importance` with a 256×256 PNG (what the device client sends after shrinking) and a "
        "bearer token; client threads on keep-alive connections, on the same 2 cores as the server "
        "(so throughput is a lower bound). Latency is per request as the client sees it.",
        "",
        "| phase | requests | clients | req/s | p50 (ms) | p99 (ms) | answers by status "
        "| 5xx other than 503 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    accepted_strangers = 0
    bad_5xx = 0
    for name, n, clients, run in phases:
        lat = [v * 1000 for v in run["latencies"]]
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(run["statuses"].items()))
        other_5xx = sum(v for k, v in run["statuses"].items() if k.startswith("5") and k != "503")
        bad_5xx += other_5xx
        if name.startswith("no token"):
            accepted_strangers = sum(v for k, v in run["statuses"].items() if k != "401")
        lines.append(
            f"| {name} | {n} | {clients} | {n / run['wall']:.1f} | {quantile(lat, 0.5):.1f} | "
            f"{quantile(lat, 0.99):.1f} | {codes} | {other_5xx} |"
        )
        print(lines[-1], flush=True)
    values = list(memory.values())
    growth = values[-1] - values[0]
    lines += [
        "",
        "Server memory (VmRSS): "
        + "; ".join(f"{k} {v:.0f} MB" for k, v in memory.items())
        + f" (change after warm-up: {growth:+.0f} MB).",
        "",
        f"Targets: unauthenticated requests accepted: **{accepted_strangers}** (target 0); 5xx other than "
        f"the intended 503: **{bad_5xx}** (target 0); memory flat across the run: "
        f"**{'yes' if abs(growth) < max(32.0, 0.1 * values[0]) else 'no'}** (within 32 MB or 10 %).",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_write:
        replace_section("edge-load", markdown)


if __name__ == "__main__":
    main()
