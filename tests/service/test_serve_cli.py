"""``mllmsc serve``: refuses to run exposed without a token; the real command serves and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from mllmsc.cli.main import main
from mllmsc.errors import UserError
from mllmsc.service.security import bearer_matches, check_exposure, is_loopback, read_token
from mllmsc.service.server import free_port

from .conftest import TOKEN, request


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--host", "0.0.0.0", "--insecure"], "loopback"),
        (["--host", "192.168.1.5", "--insecure"], "loopback"),
        (["--host", "edge.example", "--insecure"], "loopback"),
        ([], "needs a token"),
        (["--token-file", "{tmp}/missing"], "no such file"),
        (["--token-file", "{tmp}/empty"], "empty"),
        (["--token-file", "{tmp}/short"], "at least 16"),
        (["--token-file", "{tmp}"], "directory"),
        (["--insecure", "--token-file", "{tmp}/good"], "exclude"),
        (["--insecure", "--guidance", "telepathy"], "unknown guidance"),
        (["--insecure", "--port", "70000"], "--port"),
        (["--insecure", "--workers", "0"], "--workers"),
        (["--insecure", "--decoder-weights", "{tmp}/missing"], "--decoder-weights"),
    ],
)
def test_serve_errors_are_one_line_and_exit_2(argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLLMSC_TOKEN", raising=False)
    (tmp_path / "empty").write_text(" \n")
    (tmp_path / "short").write_text("abc\n")
    (tmp_path / "good").write_text(TOKEN)
    code = main(["serve", *[a.format(tmp=tmp_path) for a in argv]])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1, err


def test_token_sources_and_host_rules(tmp_path):
    (tmp_path / "t").write_text(f"  {TOKEN}\n")
    assert read_token(tmp_path / "t", env={}) == TOKEN
    assert read_token(None, env={"MLLMSC_TOKEN": TOKEN}) == TOKEN
    assert read_token(None, env={}) is None
    with pytest.raises(UserError, match="one word"):
        read_token(None, env={"MLLMSC_TOKEN": "two words of token here"})
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org"))
    check_exposure("0.0.0.0", TOKEN, insecure=False)  # a token makes any host fine
    check_exposure("::1", None, insecure=True)
    token = TOKEN.encode()
    assert bearer_matches(b"Bearer " + token, token) and bearer_matches(b"bearer " + token, token)
    assert not bearer_matches(b"Basic " + token, token) and not bearer_matches(None, token)


def test_the_real_command_serves_the_page_and_the_api_and_stops_on_sigterm(tmp_path):
    port = free_port()
    (tmp_path / "token").write_text(TOKEN)
    env = {**os.environ, "MLLMSC_TOKEN": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "mllmsc", "serve", "--port", str(port), "--guidance", "saliency",
         "--token-file", str(tmp_path / "token")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(url + "/healthz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        page = request(url + "/", token=None)
        assert page.status == 200 and b'id="panels"' in page.body
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert request(url + "/v1/importance", "POST", token=None, body=b"").status == 401
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says how it ended
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "bearer token required" in output and "Traceback" not in output


PROBE = """
import sys
from mllmsc.cli.main import main
code = main({argv!r})
heavy = sorted(m for m in ("torch", "fastapi", "uvicorn", "starlette") if m in sys.modules)
print(code, ",".join(heavy) or "-")
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--host", "0.0.0.0", "--insecure"],
        ["serve", "--token-file", "{tmp}/missing"],
        [
            "transmit",
            "{photo}",
            "--out",
            "{tmp}/o",
            "--edge",
            "http://127.0.0.1:9",
            "--token-file",
            "{tmp}/none",
        ],
    ],
)
def test_serve_and_edge_errors_come_before_torch_and_fastapi_load(argv, tmp_path, photo_path):
    argv = [a.format(tmp=tmp_path, photo=photo_path) for a in argv]
    run = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "MLLMSC_TOKEN": ""})  # fmt: skip
    code, heavy = run.stdout.split()
    assert code == "2" and heavy == "-", run.stdout + run.stderr
