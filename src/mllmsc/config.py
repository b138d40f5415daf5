"""Frozen dataclass configs, TOML presets and ``--set key=value`` overrides.

A config is a plain frozen dataclass (nanoGPT style) that may nest other config dataclasses::

    @dataclass(frozen=True)
    class TrainConfig:
        steps: int = 1000
        lr: float = 1e-3
        channel: ChannelConfig = ChannelConfig()

    cfg = load_preset(TrainConfig, "configs/codec.toml")          # TOML tables → nested configs
    cfg = apply_overrides(cfg, ["lr=3e-4", "channel.name=rayleigh"])

Every key is checked against the dataclass: unknown keys and values of the wrong type raise
:class:`ConfigError` with the key in the message, so a typo never trains the wrong model silently.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mllmsc.errors import UserError

C = TypeVar("C")


class ConfigError(UserError):
    """A preset or override that does not fit the config dataclass."""


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check (and where lossless, convert) ``value`` to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return origin(_coerce(v, item, f"{key}[]") for v in value)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{key}: must be one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported config type {tp!r}")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def from_dict(cls: type[C], data: Mapping[str, Any], *, prefix: str = "") -> C:
    """Build ``cls`` from a (nested) mapping, checking every key and type."""
    fields = _field_types(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]!r} for {cls.__name__}; valid keys: {', '.join(sorted(fields))}"
        )
    kwargs = {k: _coerce(v, fields[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain nested dicts/lists, ready for JSON or TOML."""
    return dataclasses.asdict(cfg)


def read_preset(path: str | Path) -> dict[str, Any]:
    """A TOML preset as a dict; a missing or malformed file is a :class:`ConfigError`."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"preset not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"preset {path} is not valid TOML: {err}") from None


def load_preset(cls: type[C], path: str | Path) -> C:
    """Read a TOML preset into ``cls``; missing keys keep their defaults."""
    return from_dict(cls, read_preset(path))


def _parse_scalar(text: str) -> Any:
    """Parse an override's right-hand side as a TOML value; bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(cfg: C, overrides: Iterable[str]) -> C:
    """Return ``cfg`` with ``key=value`` overrides applied (dotted keys reach nested configs)."""
    data = to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown key {key!r}")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"unknown key {key!r}; valid keys: {', '.join(sorted(node))}")
        node[parts[-1]] = _parse_scalar(raw.strip())
    return from_dict(type(cfg), data)
