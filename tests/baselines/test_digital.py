"""The digital separation baseline end to end: budget, cliff, bound, bad input."""

import math

import pytest
import torch

from mllmsc.baselines import GREY, DigitalBaseline, EncodeCache
from mllmsc.baselines.mcs import mcs_by_name
from mllmsc.channel import CHANNELS
from mllmsc.errors import UserError
from mllmsc.eval.metrics import psnr

CBR = 1 / 8  # 6 144 symbols for 128×128: a few codewords and a decent file, decoded in a second


@pytest.fixture(scope="module")
def cache():
    return EncodeCache()


def test_the_method_registry_builds_the_three_digital_links():
    from mllmsc.methods import METHODS

    links = {name: METHODS.build(name)._link(CHANNELS.build("awgn")) for name in ("digital", "digital-jpeg")}
    links["digital-capacity"] = METHODS.build("digital-capacity")._link(CHANNELS.build("awgn"))
    assert links["digital"].codec.name == "heif" and not links["digital"].capacity
    assert links["digital-jpeg"].codec.name == "jpeg" and not links["digital-jpeg"].capacity
    assert links["digital-capacity"].codec.name == "heif" and links["digital-capacity"].capacity


def test_stages_are_timed(astronaut, cache):
    sender = DigitalBaseline("heif", CHANNELS.build("awgn"), cache=cache)
    result = sender.transmit(astronaut, 25.0, CBR, generator=torch.Generator().manual_seed(7))
    assert not result.lost
    assert set(result.latency_ms) == {"encode", "channel", "decode", "total"}
    parts = sum(v for k, v in result.latency_ms.items() if k != "total")
    assert result.latency_ms["total"] == pytest.approx(parts, rel=1e-6)


def test_high_snr_delivers_the_file_within_budget(astronaut, cache, gen):
    sender = DigitalBaseline("heif", CHANNELS.build("awgn"), cache=cache)
    r = sender.transmit(astronaut[None], 30.0, CBR, generator=gen)
    assert not r.lost and r.outcome == "decoded" and r.failed_codewords == 0
    assert r.budget == round(CBR * 3 * 128 * 128)
    assert 0 < r.symbols_used <= r.budget
    mcs = mcs_by_name(r.mcs)
    assert r.source_bits <= r.payload_capacity == r.budget // mcs.symbols_per_codeword * mcs.payload_bits - 32
    assert r.codewords == math.ceil((r.source_bits + 32) / mcs.payload_bits)
    assert r.symbols_used == r.codewords * mcs.symbols_per_codeword and r.coded_bits == r.codewords * mcs.n
    assert r.x_hat.shape == (3, 128, 128) and r.x_hat.dtype == torch.float32
    assert float(psnr(r.x_hat, astronaut)) > 30


def test_forced_high_mcs_at_low_snr_is_lost_and_grey(astronaut, cache, gen, flat_table):
    # A table that promises no errors anywhere makes the transmitter pick 256-QAM 5/6 at -5 dB.
    sender = DigitalBaseline("heif", CHANNELS.build("awgn"), cache=cache, table=flat_table(0.0))
    r = sender.transmit(astronaut, -5.0, CBR, generator=gen)
    assert r.mcs == "256qam-5/6"
    assert r.lost and r.outcome == "crc-failed" and r.failed_codewords > 0
    assert torch.all(r.x_hat == GREY)
    assert r.symbols_used <= r.budget


def test_nothing_fits_is_lost_and_grey(astronaut, cache, gen):
    sender = DigitalBaseline("heif", CHANNELS.build("awgn"), cache=cache)
    r = sender.transmit(astronaut, -10.0, CBR, generator=gen)  # below every MCS
    assert r.lost and r.outcome == "nothing-fits" and r.mcs is None and r.symbols_used == 0
    assert torch.all(r.x_hat == GREY)
    tiny = sender.transmit(astronaut, 20.0, 1 / 512, generator=gen)  # 96 symbols: no codeword
    assert tiny.lost and tiny.outcome == "nothing-fits"


@pytest.mark.parametrize("snr_db", [3.0, 12.0])
def test_capacity_bounds_the_coded_link(astronaut, cache, snr_db):
    coded = DigitalBaseline("heif", CHANNELS.build("awgn"), cache=cache)
    ideal = DigitalBaseline("heif", CHANNELS.build("awgn"), capacity=True, cache=cache)
    r_coded = coded.transmit(astronaut, snr_db, CBR, generator=torch.Generator().manual_seed(0))
    r_ideal = ideal.transmit(astronaut, snr_db, CBR)
    assert not r_ideal.lost and r_ideal.mcs == "capacity"
    assert r_ideal.payload_capacity == math.floor(r_ideal.budget * math.log2(1 + 10 ** (snr_db / 10)))
    assert r_ideal.source_bits <= r_ideal.payload_capacity and r_ideal.symbols_used <= r_ideal.budget
    assert r_ideal.quality >= (r_coded.quality or 0)
    assert psnr(r_ideal.x_hat, astronaut) >= psnr(r_coded.x_hat, astronaut)


def test_larger_budget_never_lowers_quality(astronaut, cache):
    for capacity in (True, False):
        sender = DigitalBaseline("jpeg", CHANNELS.build("awgn"), capacity=capacity, cache=cache)
        for snr_db in (2.0, 9.0):
            qualities = []
            for cbr in (1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2):
                plan = sender.plan(astronaut, snr_db, cbr)  # the decision only: nothing is sent
                assert plan.symbols <= plan.budget
                qualities.append(plan.file.quality if plan.file else 0)
            assert qualities == sorted(qualities), (capacity, snr_db, qualities)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("rayleigh", {"csi": "equalize"}),
        ("rayleigh", {"csi": "decoder", "coherence": 1000}),
        ("rician", {"csi": "equalize", "k_factor": 4.0}),
        ("ofdm-tdl", {"estimation": "ls"}),
    ],
)
def test_fading_channels_work(astronaut, cache, name, kwargs):
    sender = DigitalBaseline("jpeg", CHANNELS.build(name, **kwargs), cache=cache)
    r = sender.transmit(astronaut, 35.0, CBR, generator=torch.Generator().manual_seed(3))
    assert r.mcs is not None and r.symbols_used <= r.budget
    assert not r.lost or r.outcome == "crc-failed"  # a deep fade may still take it


def test_same_generator_same_result(astronaut, cache):
    sender = DigitalBaseline("jpeg", CHANNELS.build("rayleigh", csi="equalize"), cache=cache)
    a = sender.transmit(astronaut, 25.0, CBR, generator=torch.Generator().manual_seed(7))
    b = sender.transmit(astronaut, 25.0, CBR, generator=torch.Generator().manual_seed(7))
    assert a.lost == b.lost and torch.equal(a.x_hat, b.x_hat)


@pytest.mark.parametrize("cbr", [0, -0.1, 1.5, float("nan"), "abc", None])
def test_bad_cbr(astronaut, cbr):
    with pytest.raises(UserError, match="CBR"):
        DigitalBaseline("heif", capacity=True).transmit(astronaut, 10.0, cbr)


@pytest.mark.parametrize("snr", [float("inf"), float("nan"), "loud"])
def test_bad_snr(astronaut, snr):
    with pytest.raises(UserError, match="SNR"):
        DigitalBaseline("heif").transmit(astronaut, snr, 0.1)


def test_bad_image_and_codec(astronaut):
    sender = DigitalBaseline("heif", capacity=True)
    for bad in (
        astronaut[:1],
        astronaut[None].repeat(2, 1, 1, 1),
        astronaut.numpy(),
        astronaut.to(torch.uint8),
    ):
        with pytest.raises(UserError):
            sender.transmit(bad, 10.0, 0.1)
    with pytest.raises(UserError, match="codec"):
        DigitalBaseline("bpg")
    with pytest.raises(UserError):
        DigitalBaseline("heif", channel="telepathy")
