"""One generic registry: names → factories, for channels, codecs, guidance backends, methods.

Example:
    >>> CHANNELS: Registry[nn.Module] = Registry("channel")
    >>> @CHANNELS.register("awgn")
    ... class AWGNChannel(nn.Module): ...
    >>> CHANNELS.build("awgn")          # an instance, ready to use
    >>> CHANNELS.available()            # ['awgn', ...]

Names are kebab-case (``ofdm-tdl``, ``uniform-jscc``), as in CompressAI. A factory whose module
is slow to import (Sionna, transformers) registers lazily, by its dotted path, so listing and
checking names stays instant and the module loads when the entry is first used::

    CHANNELS.register_lazy("awgn", "mllmsc.channel.awgn:AWGNChannel")
    CHANNELS.require("awgn")            # a bad name fails here, nothing imported
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mllmsc.errors import UserError

T = TypeVar("T")

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class UnknownNameError(UserError, KeyError):
    """A name that is not in a registry; its message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """A named collection of factories (classes or functions) that build ``T``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T] | str] = {}

    def _check_name(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"{self.kind} name {name!r} is not kebab-case")

    def _add(self, name: str, factory: Callable[..., T] | str) -> None:
        self._check_name(name)
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._factories[name] = factory

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator adding a factory under ``name`` (kebab-case, unique)."""
        self._check_name(name)

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._add(name, factory)
            return factory

        return decorator

    def register_lazy(self, name: str, target: str) -> None:
        """Add the factory at ``"package.module:attribute"`` under ``name``; imported on first use."""
        if ":" not in target:
            raise ValueError(f"lazy target {target!r} must read 'module:attribute'")
        self._add(name, target)

    def require(self, name: str) -> None:
        """Raise :class:`UnknownNameError` (listing the valid names) unless ``name`` is registered.

        Imports nothing: the cheap check a command runs before anything heavy loads.
        """
        if name not in self._factories:
            valid = ", ".join(self.available()) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; choose one of: {valid}")

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; unknown names list the valid ones."""
        self.require(name)
        factory = self._factories[name]
        if isinstance(factory, str):
            module, attribute = factory.split(":")
            factory = self._factories[name] = getattr(importlib.import_module(module), attribute)
        return factory

    def build(self, name: str, **kwargs: Any) -> T:
        """Call the factory registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def available(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.available()})"
