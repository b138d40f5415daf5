"""`mllmsc channel`: each option reaches the channels that take it; theory only where there is one."""

import json

import pytest

from mllmsc.cli.main import main
from mllmsc.eval.uncoded import qpsk_ber_rician


def run(tmp_path, *argv):
    assert main(["channel", "--snr", "5", "--symbols", "20000", "--out", str(tmp_path), *argv]) == 0
    return json.loads((tmp_path / "channel.json").read_text())


def test_rician_gets_its_k_factor_and_the_rician_theory(tmp_path):
    report = run(tmp_path, "--channel", "rician", "--k-factor", "2", "--coherence", "1")
    assert report["kwargs"] == {"coherence": 1, "csi": "decoder", "k_factor": 2.0}
    point = report["points"][0]
    assert point["theory_ber"] == pytest.approx(qpsk_ber_rician(5.0, 2.0))
    assert point["ber"] == pytest.approx(point["theory_ber"], rel=0.2)


def test_awgn_takes_no_option_and_ofdm_has_no_closed_form(tmp_path):
    assert run(tmp_path / "a", "--channel", "awgn", "--k-factor", "9")["kwargs"] == {}
    report = run(tmp_path / "o", "--channel", "ofdm-tdl", "--tdl-model", "C")
    assert report["kwargs"] == {"model": "C", "csi": "decoder"}
    assert report["points"][0]["theory_ber"] is None and report["points"][0]["ber"] > 0
