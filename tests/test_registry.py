import pytest

from mllmsc.errors import UserError
from mllmsc.registry import Registry, UnknownNameError


def make():
    things: Registry[object] = Registry("thing")

    @things.register("two-parts")
    class Thing:
        def __init__(self, size: int = 1):
            self.size = size

    return things, Thing


def test_register_build_available():
    things, thing_cls = make()
    built = things.build("two-parts", size=3)
    assert isinstance(built, thing_cls) and built.size == 3
    assert things.available() == ["two-parts"]
    assert "two-parts" in things and "other" not in things


def test_unknown_name_lists_valid_ones_and_is_a_user_error():
    things, _ = make()
    with pytest.raises(UnknownNameError, match="choose one of: two-parts") as err:
        things.build("twoparts")
    assert isinstance(err.value, UserError)
    assert "'twoparts'" in str(err.value)


def test_duplicate_and_badly_named_entries_are_refused():
    things, _ = make()
    with pytest.raises(ValueError, match="already registered"):
        things.register("two-parts")(object)
    with pytest.raises(ValueError, match="kebab-case"):
        things.register("Two_Parts")


def test_channel_registry_holds_every_channel():
    from mllmsc.channel import CHANNELS

    assert CHANNELS.available() == ["awgn", "ofdm-tdl", "rayleigh", "rician"]


def test_lazy_entries_load_on_first_use_and_names_check_without_loading():
    import sys

    things: Registry = Registry("thing")
    things.register_lazy("fraction", "fractions:Fraction")
    things.require("fraction")
    with pytest.raises(UnknownNameError, match="choose one of: fraction"):
        things.require("fractal")
    assert things.get("fraction") is sys.modules["fractions"].Fraction
    assert things.build("fraction", numerator=1, denominator=3) == sys.modules["fractions"].Fraction(1, 3)
    with pytest.raises(ValueError, match="module:attribute"):
        things.register_lazy("bad", "fractions.Fraction")
