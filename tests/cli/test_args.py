import pytest

from mllmsc.cli.args import parse_cbr, parse_list, parse_snr
from mllmsc.errors import UserError


def test_parse_snr_and_lists():
    assert parse_list("1,4, 7", parse_snr) == [1.0, 4.0, 7.0]
    assert parse_snr("-2.5") == -2.5
    for bad in ["ten", "nan", "inf", ""]:
        with pytest.raises(UserError):
            parse_snr(bad)


def test_parse_cbr_fractions_and_decimals():
    assert parse_cbr("1/16") == 1 / 16
    assert parse_cbr("0.125") == 0.125
    assert parse_cbr("1") == 1.0
    for bad in ["0", "-1/16", "3/2", "1/0", "abc", "1.5"]:
        with pytest.raises(UserError):
            parse_cbr(bad)


def test_empty_list_items_are_errors():
    for bad in ["", "1,,2", "1,"]:
        with pytest.raises(UserError):
            parse_list(bad, parse_snr)


def test_snr_outside_the_supported_range_is_refused_at_its_edges():
    from mllmsc.limits import SNR_MAX_DB, SNR_MIN_DB

    assert parse_snr(str(SNR_MIN_DB)) == SNR_MIN_DB and parse_snr(str(SNR_MAX_DB)) == SNR_MAX_DB
    for bad in ["-400", "-1e9", "1e9", "50.01", "-30.5"]:
        with pytest.raises(UserError, match=r"\[-30, 50\] dB"):
            parse_snr(bad)


def test_queries_are_stripped_and_a_stated_length_is_enforced():
    from mllmsc.cli.args import parse_query
    from mllmsc.limits import MAX_QUERY_CHARS

    assert parse_query("  the red star ") == "the red star"
    assert len(parse_query("x" * MAX_QUERY_CHARS)) == MAX_QUERY_CHARS
    with pytest.raises(UserError, match=f"limit is {MAX_QUERY_CHARS}"):
        parse_query("x" * (MAX_QUERY_CHARS + 1))
