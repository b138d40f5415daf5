"""Parsing of the argument syntax shared by every command (DESIGN.md §4).

An SNR is a number in dB; a CBR is a fraction ``1/16`` or a decimal in (0, 1]; a LIST is
comma-separated (``--snr 1,4,7 --cbr 1/16,1/8``). Errors are :class:`~mllmsc.errors.UserError`
with a message that names the offending text.
"""

from __future__ import annotations

import math
from fractions import Fraction

from mllmsc.errors import UserError
from mllmsc.limits import MAX_QUERY_CHARS, SNR_MAX_DB, SNR_MIN_DB


def parse_snr(text: str) -> float:
    """``"10"`` / ``"-2.5"`` → SNR in dB, a number in [−30, 50] (:mod:`mllmsc.limits`)."""
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"SNR must be a number in dB, got {text!r}") from None
    if not math.isfinite(value):
        raise UserError(f"SNR must be finite, got {text!r}")
    if not SNR_MIN_DB <= value <= SNR_MAX_DB:
        raise UserError(f"SNR must lie in [{SNR_MIN_DB:g}, {SNR_MAX_DB:g}] dB, got {text}")
    return value


def parse_query(text: str) -> str:
    """The user's intent, stripped; at most :data:`~mllmsc.limits.MAX_QUERY_CHARS` characters."""
    text = text.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise UserError(f"--query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    return text


def parse_cbr(text: str) -> float:
    """``"1/16"`` or ``"0.0625"`` → channel bandwidth ratio in (0, 1]."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise UserError(f"CBR must be a fraction like 1/16 or a decimal in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise UserError(f"CBR must be in (0, 1], got {text!r}")
    return value


def parse_list(text: str, parse=str) -> list:
    """``"a,b,c"`` → ``[parse("a"), parse("b"), parse("c")]``; empty items are an error."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UserError(f"expected a comma-separated list, got {text!r}")
    return [parse(item) for item in items]
