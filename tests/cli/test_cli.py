"""The command line: help everywhere, bad input → one line on stderr and exit code 2."""

import json
import subprocess
import sys

import pytest

from mllmsc.cli.main import app, main

COMMANDS = sorted(command.name for command in app.registered_commands)


def test_every_documented_command_is_registered():
    assert {"env", "channel", "train"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_of_every_command(command, capsys):
    assert main([*command, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["nosuch"], "No such command"),
        (["channel", "--snr", "ten"], "SNR must be a number"),
        (["channel", "--snr", "1,,2"], "comma-separated"),
        (["channel", "--channel", "fm-radio"], "choose one of: awgn"),
        (["channel", "--modulation", "bpsk"], "modulation"),
        (["channel", "--symbols", "5"], "--symbols"),
        (["channel", "--tdl-model", "Z", "--channel", "ofdm-tdl"], "TDL model"),
        (["train", "--preset", "missing.toml"], "missing.toml"),
        (["train"], "--preset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1 and err.startswith("mllmsc: error: ")
    assert "Traceback" not in err


def test_console_script_exit_code_and_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "mllmsc.cli.main", "channel", "--cbr-is-not-an-option"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_channel_demo_prints_measured_beside_theory_and_writes_outputs(tmp_path, capsys):
    argv = [
        "channel",
        "--channel",
        "rayleigh",
        "--snr",
        "0,10",
        "--symbols",
        "20000",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "BER measured" in out and "BER theory" in out
    report = json.loads((tmp_path / "channel.json").read_text())
    points = report["points"]
    assert [p["snr_db"] for p in points] == [0.0, 10.0]
    for p in points:
        assert p["ber"] == pytest.approx(p["theory_ber"], rel=0.2)
    assert (tmp_path / "ber.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_env_runs(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "sionna-no-rt" in out
