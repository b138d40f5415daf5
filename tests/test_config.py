from dataclasses import dataclass, field

import pytest

from mllmsc.config import ConfigError, apply_overrides, from_dict, load_preset, to_dict


@dataclass(frozen=True)
class Inner:
    name: str = "awgn"
    snr_db: float = 10.0


@dataclass(frozen=True)
class Outer:
    steps: int = 100
    lr: float = 1e-3
    ema: bool = True
    cbr: tuple[float, ...] = (0.0625,)
    note: str | None = None
    channel: Inner = field(default_factory=Inner)


def test_preset_fills_nested_tables_and_keeps_defaults(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('steps = 5\ncbr = [0.5, 1]\n[channel]\nname = "rayleigh"\n')
    cfg = load_preset(Outer, path)
    assert cfg == Outer(steps=5, cbr=(0.5, 1.0), channel=Inner(name="rayleigh"))
    assert isinstance(cfg.cbr[1], float)


def test_overrides_are_type_checked():
    cfg = apply_overrides(Outer(), ["lr=3e-4", "channel.snr_db=5", "ema=false", "note=hello"])
    assert cfg.lr == 3e-4 and cfg.channel.snr_db == 5.0 and cfg.ema is False and cfg.note == "hello"
    with pytest.raises(ConfigError, match="steps"):
        apply_overrides(Outer(), ["steps=1.5"])
    with pytest.raises(ConfigError, match="ema"):
        apply_overrides(Outer(), ["ema=3"])
    with pytest.raises(ConfigError, match="unknown key 'stpes'"):
        apply_overrides(Outer(), ["stpes=3"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(Outer(), ["steps"])
    with pytest.raises(ConfigError):
        apply_overrides(Outer(), ["channel.snr_db=high"])


def test_round_trip_and_frozen():
    cfg = Outer(steps=7)
    assert from_dict(Outer, to_dict(cfg)) == cfg
    with pytest.raises(AttributeError):
        cfg.steps = 8


def test_bad_presets_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_preset(Outer, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_preset(Outer, bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[channel]\ncolour = 'red'\n")
    with pytest.raises(ConfigError, match="channel.'colour'|'colour'"):
        load_preset(Outer, unknown)
