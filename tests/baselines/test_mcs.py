"""MCS list, the coded link (Sionna CRC + 5G LDPC + QAM) and the MCS choice."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from mllmsc.baselines.mcs import (
    MCS_TABLE,
    bler_model_for,
    coded_link,
    load_bler_table,
    mcs_by_name,
    select_mcs,
    soft_symbols,
)
from mllmsc.channel import CHANNELS, Channel, Fading
from mllmsc.errors import UserError


def test_mcs_table_is_sorted_and_fills_whole_symbols():
    efficiency = [m.spectral_efficiency for m in MCS_TABLE]
    assert efficiency == sorted(efficiency)
    for m in MCS_TABLE:
        assert m.n % m.bits_per_symbol == 0
        assert m.k == m.code_rate * m.n and m.payload_bits == m.k - 24
    with pytest.raises(UserError):
        mcs_by_name("1024qam-9/10")


def test_shipped_table_covers_every_mcs():
    table = load_bler_table()
    assert {"awgn", "rayleigh-fast"} <= set(table.models)
    thresholds = {}
    for model in ("awgn", "rayleigh-fast"):
        snr, bler = table.curve(model)
        assert bler.shape == (len(MCS_TABLE), len(snr))
        assert np.all((bler >= 0) & (bler <= 1))
        assert np.all(np.diff(bler, axis=1) <= 0)  # non-increasing in SNR (conservative version)
        assert np.all(bler[:, 0] == 1) and np.all(bler[:, -1] < 1e-6)
        thresholds[model] = np.array([snr[np.argmax(b <= 0.1)] for b in bler])
        assert np.all(np.diff(thresholds[model]) > 0)  # faster MCS need more SNR
    assert np.all(thresholds["rayleigh-fast"] >= thresholds["awgn"])  # fading costs SNR


@pytest.mark.parametrize("name", [m.name for m in MCS_TABLE])
def test_round_trip_error_free_at_30_db(name, gen):
    mcs = mcs_by_name(name)
    link = coded_link(name)
    bits = torch.randint(0, 2, (2, mcs.payload_bits), generator=gen).float()
    z = link.encode(bits)
    assert z.shape == (2, mcs.symbols_per_codeword) and z.dtype == torch.complex64
    out = CHANNELS.build("awgn")(z.reshape(1, -1), 30.0, generator=gen)
    y, no = soft_symbols(out)
    got, ok = link.decode(y.reshape(z.shape), no.reshape(z.shape))
    assert ok.all() and torch.equal(got, bits)


def test_high_mcs_fails_at_low_snr(gen):
    mcs = mcs_by_name("256qam-5/6")
    link = coded_link(mcs.name)
    bits = torch.randint(0, 2, (2, mcs.payload_bits), generator=gen).float()
    z = link.encode(bits)
    out = CHANNELS.build("awgn")(z, 0.0, generator=gen)
    _, ok = link.decode(*soft_symbols(out))
    assert not ok.any()


@pytest.mark.parametrize("csi", ["equalize", "decoder"])
def test_soft_symbols_undo_the_fade(csi, gen):
    z = torch.polar(torch.ones(1, 64), torch.rand(1, 64, generator=gen) * 6.28)
    out = CHANNELS.build("rayleigh", coherence=1, csi=csi)(z, 60.0, generator=gen)
    y, no = soft_symbols(out)
    assert torch.allclose(y, z, atol=1e-2)
    expected = out.noise_var[0] / out.h.abs().square()
    assert torch.allclose(no, expected.to(torch.float32), rtol=1e-4)


CHANNEL_CASES = [
    ("awgn", {}),
    ("rayleigh", {"csi": "equalize"}),  # one fade per image
    ("rayleigh", {"csi": "equalize", "coherence": 1000}),  # a fade per codeword
    ("rayleigh", {"csi": "equalize", "coherence": 1}),  # fast fading
    ("rician", {"csi": "equalize", "k_factor": 4.0}),
    ("ofdm-tdl", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), CHANNEL_CASES)
def test_selection_never_exceeds_the_budget(name, kwargs):
    channel = CHANNELS.build(name, **kwargs)
    rng = np.random.default_rng(0)
    for _ in range(200):
        budget = int(rng.integers(1, 200_000))
        snr = float(rng.uniform(-8, 40))
        choice = select_mcs(snr, budget, channel)
        if choice.mcs is None:
            assert choice.codewords == 0
            continue
        assert 1 <= choice.codewords * choice.mcs.symbols_per_codeword <= budget
        assert choice.loss_probability <= 0.1


@pytest.mark.parametrize(("name", "kwargs"), CHANNEL_CASES)
def test_higher_snr_never_picks_a_lower_rate(name, kwargs):
    channel = CHANNELS.build(name, **kwargs)
    for budget in (3_000, 24_576, 73_728):
        index = [
            -1 if (c := select_mcs(s, budget, channel)).mcs is None else MCS_TABLE.index(c.mcs)
            for s in np.arange(-8, 40, 0.25)
        ]
        assert index == sorted(index)
        assert index[0] == -1 and index[-1] >= 0


def test_block_fading_needs_more_snr_than_fast_fading():
    # One fade for the whole image (no diversity) is the hardest case; AWGN the easiest.
    budget = 73_728
    rates = {}
    for key, channel in {
        "awgn": CHANNELS.build("awgn"),
        "fast": CHANNELS.build("rayleigh", coherence=1),
        "block": CHANNELS.build("rayleigh"),
    }.items():
        rates[key] = [
            -1 if (c := select_mcs(s, budget, channel)).mcs is None else MCS_TABLE.index(c.mcs)
            for s in range(0, 30, 3)
        ]
    for a, f, b in zip(rates["awgn"], rates["fast"], rates["block"], strict=True):
        assert a >= f >= b


def test_awgn_choice_meets_the_table():
    table = load_bler_table()
    snr, bler = table.curve("awgn")
    choice = select_mcs(10.0, 73_728, CHANNELS.build("awgn"))
    j = MCS_TABLE.index(choice.mcs)
    i = int(np.searchsorted(snr, 10.0))
    assert 1 - (1 - bler[j, i]) ** choice.codewords <= 0.1
    if j + 1 < len(MCS_TABLE):  # the next one is not reliable enough
        assert 1 - (1 - bler[j + 1, i]) ** (73_728 // MCS_TABLE[j + 1].symbols_per_codeword) > 0.1


def test_flat_table_forces_the_top_mcs(flat_table):
    choice = select_mcs(-5.0, 10_000, CHANNELS.build("awgn"), table=flat_table(0.0))
    assert choice.mcs == MCS_TABLE[-1]
    assert select_mcs(40.0, 10_000, CHANNELS.build("awgn"), table=flat_table(1.0)).mcs is None
    assert select_mcs(40.0, 100, CHANNELS.build("awgn"), table=flat_table(0.0)).mcs is None  # < 1 codeword


def test_clean_points_after_the_waterfall_are_not_zero():
    from mllmsc.baselines.mcs import _extrapolate_tail

    snr = np.arange(0.0, 5.0, 0.5)
    bler = np.array([1, 1, 0.9, 0.2, 0, 0, 0, 0, 0, 0], dtype=float)
    counts = np.array([50, 50, 50, 200, 200, 200, 0, 0, 0, 0])
    tail = _extrapolate_tail(snr, bler, counts)
    assert np.array_equal(tail[:4], bler[:4])
    assert np.all(tail[4:] > 0) and np.all(np.diff(tail[3:]) < 0)
    assert tail[4] > 1e-3  # 0/200 right after 20 % is not a clean channel


class Described(Channel):
    """A channel known only by its fading description (no registered type, no name)."""

    def __init__(self, fading: Fading) -> None:
        super().__init__()
        self._fading = fading

    @property
    def fading(self) -> Fading:
        return self._fading


def test_the_bler_model_is_read_from_the_fading_description():
    rician = Fading.rician(2.0)
    assert bler_model_for(Described(Fading.none())) == ("awgn", {})
    assert bler_model_for(Described(rician)) == ("block", {"fading": rician, "shared": True})
    assert bler_model_for(Described(Fading.rayleigh(16))) == ("rayleigh-fast", {})
    slow = Fading.rician(2.0, coherence=1000)
    assert bler_model_for(Described(slow)) == ("block", {"fading": slow, "shared": False})
    assert bler_model_for(CHANNELS.build("ofdm-tdl")) == ("rayleigh-fast", {})  # its Rayleigh stand-in
    assert bler_model_for(CHANNELS.build("rician", k_factor=math.inf)) == ("awgn", {})  # no fading left


@pytest.mark.parametrize(("shared", "snr_db"), [(True, 8.0), (False, 25.0)])
def test_block_fading_loss_against_a_direct_integral(shared, snr_db):
    # P(image lost) over one Rayleigh fade per image: ∫ (1 − (1 − p_AWGN(SNR·g))^C) e^{−g} dg, by
    # scipy's adaptive quad on the interpolated AWGN curve (independent of the package's quadrature).
    table = load_bler_table()
    grid, bler = table.curve("awgn")
    j, c = MCS_TABLE.index(mcs_by_name("16qam-1/2")), 40
    codewords = np.full(len(MCS_TABLE), c)
    fading = Fading.rayleigh()
    loss = table.block_fading_loss(snr_db, codewords, fading=fading, shared=shared)

    def p(g: float) -> float:
        return float(np.interp(snr_db + 10 * np.log10(g), grid, bler[j], left=1.0, right=bler[j, -1]))

    # the curve's kinks, mapped to gains, as breakpoints
    kinks = [10 ** ((s - snr_db) / 10) for s in grid if 10 ** ((s - snr_db) / 10) < 50]
    if shared:
        direct = integrate.quad(
            lambda g: (1 - (1 - p(g)) ** c) * math.exp(-g), 0, 50, points=kinks, limit=500
        )[0]
    else:
        mean_p = integrate.quad(lambda g: p(g) * math.exp(-g), 0, 50, points=kinks, limit=500)[0]
        direct = 1 - (1 - mean_p) ** c
    assert 0.01 < direct < 0.99  # a point where the fade matters
    assert loss[j] == pytest.approx(direct, abs=1e-4)
