"""Argument and file errors come before the heavy imports (torch, Sionna, transformers)."""

import subprocess
import sys

import pytest

PROBE = """
import sys
from mllmsc.cli.main import main
code = main({argv!r})
heavy = sorted(m for m in ("torch", "sionna", "transformers", "diffusers") if m in sys.modules)
print(code, ",".join(heavy) or "-")
"""


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["transmit", "{tmp}/nope.png", "--out", "{tmp}/o"], "no such file"),
        (["transmit", "{photo}", "--out", "{tmp}/o", "--channel", "carrier-pigeon"], "unknown channel"),
        (["transmit", "{photo}", "--out", "{tmp}/o", "--guidance", "telepathy"], "unknown guidance"),
        (["transmit", "{photo}", "--out", "{tmp}/o", "--snr", "-400"], "SNR"),
        (["transmit", "{photo}", "--out", "{tmp}/o", "--weights", "{tmp}/none"], "no such folder"),
        (["transmit", "{photo}", "--out", "{tmp}/o", "--answer"], "--query"),
        (["guide", "{tmp}/nope.png", "--query", "x", "--out", "{tmp}/o"], "no such file"),
    ],
)
def test_errors_are_reported_before_torch_or_sionna_load(argv, fragment, tmp_path, photo_path):
    argv = [a.format(tmp=tmp_path, photo=photo_path) for a in argv]
    run = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120
    )
    code, heavy = run.stdout.split()
    assert code == "2" and heavy == "-", run.stdout + run.stderr
    assert fragment in run.stderr and run.stderr.count("\n") == 1
