"""Save and load every shipped model the diffusers way: ``config.json`` beside ``model.safetensors``.

A model class names itself and its config dataclass; the mixin does the rest::

    @dataclass(frozen=True)
    class TinyConfig:
        width: int = 8

    class Tiny(PretrainedMixin, nn.Module):
        model_name = "tiny"
        config_class = TinyConfig

        def __init__(self, config: TinyConfig) -> None:
            super().__init__()
            self.config = config
            self.proj = nn.Linear(config.width, config.width)

    Tiny(TinyConfig()).save_pretrained("weights/tiny", dtype=torch.float16)
    model = Tiny.from_pretrained("weights/tiny")      # rebuilt from config.json, fp32 on the CPU

The folder::

    config.json          {"model": "tiny", "width": 8}   (the config dataclass, plus the model's name)
    model.safetensors    the tensors; the header's metadata holds provenance strings (step, preset, ...)

Both files are written atomically. Anything wrong with a folder (missing, not JSON, another model,
unknown config keys, tensors that do not fit the config) is one :class:`WeightsError`, a
:class:`~mllmsc.errors.UserError` whose message is one line (the CLI prints it and exits with 2).
Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from mllmsc.atomic import atomic_write_bytes, atomic_write_text
from mllmsc.config import ConfigError, from_dict, to_dict
from mllmsc.errors import UserError

if TYPE_CHECKING:
    import torch

# torch and safetensors are imported where they are used: `mllmsc.weights` (which lists the shipped
# folders) and the CLI's error paths import this module and must stay fast.

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class WeightsError(UserError):
    """A weights folder that is missing, incomplete, or does not describe the model asked for."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def save_weights(
    directory: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    *,
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` to ``directory`` (created), each atomically.

    Args:
        directory: the folder.
        state_dict: the tensors; floating ones are stored as ``dtype`` when given.
        config: JSON-able config, with the ``"model"`` name.
        dtype: storage dtype of the floating tensors (e.g. ``torch.float16``); ``None`` keeps theirs.
        metadata: strings for the safetensors header (provenance: step, preset, ...).

    Returns:
        ``directory``.
    """
    from safetensors.torch import save

    directory = Path(directory)
    tensors = {
        n: (t.to(dtype) if dtype is not None and t.is_floating_point() else t).detach().contiguous().cpu()
        for n, t in state_dict.items()
    }
    header = {**(metadata or {}), "format": "pt"}
    atomic_write_bytes(directory / WEIGHTS_NAME, save(tensors, metadata=header))
    atomic_write_text(directory / CONFIG_NAME, json.dumps(dict(config), indent=2) + "\n")
    return directory


def read_metadata(directory: str | Path) -> dict[str, str]:
    """The metadata strings in a folder's ``model.safetensors`` header (``{}`` when it has none).

    Raises:
        WeightsError: no readable ``model.safetensors`` in ``directory``.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise WeightsError(f"no {WEIGHTS_NAME} in {directory}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (OSError, SafetensorError) as err:
        raise WeightsError(f"{path} is not a safetensors file: {_first_line(err)}") from None


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` for an ``nn.Module`` built from one config dataclass.

    A subclass sets :attr:`model_name` and :attr:`config_class`, keeps its config in
    ``self.config`` and takes it as the only argument of ``__init__`` (see the module docstring).
    """

    model_name: ClassVar[str]
    config_class: ClassVar[type]
    config: Any

    # ---- the config ----

    def config_dict(self) -> dict[str, Any]:
        """What ``config.json`` holds: ``{"model": model_name, **config}``."""
        return {"model": self.model_name, **to_dict(self.config)}

    @classmethod
    def config_from_dict(cls, raw: Any, *, source: str = "config") -> Any:
        """The config dataclass from ``config.json``'s content.

        Raises:
            WeightsError: not a JSON object, another model's name, or keys / values the config
                dataclass does not take.
        """
        if not isinstance(raw, dict):
            raise WeightsError(f"{source} is not a JSON object")
        raw = dict(raw)
        name = raw.pop("model", None)
        if name != cls.model_name:
            found = "no model name" if name is None else f"a {name!r} model"
            raise WeightsError(f"{source} describes {found}, not {cls.model_name!r}")
        try:
            return from_dict(cls.config_class, raw)
        except ConfigError as err:
            raise WeightsError(f"{source}: {_first_line(err)}") from None

    @classmethod
    def config_from_folder(cls, directory: str | Path) -> Any:
        """The config dataclass a folder's ``config.json`` describes (the tensors are not read).

        Raises:
            WeightsError: no ``config.json``, not valid JSON, or not this model's config.
        """
        path = Path(directory) / CONFIG_NAME
        if not Path(directory).is_dir():
            what = "is not a folder" if Path(directory).exists() else "does not exist"
            raise WeightsError(f"{cls.model_name} weights: {directory} {what}")
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise WeightsError(f"{cls.model_name} weights: no {CONFIG_NAME} in {directory}") from None
        except UnicodeDecodeError as err:
            raise WeightsError(f"{path} is not valid JSON: {_first_line(err)}") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise WeightsError(f"{path} is not valid JSON: {_first_line(err)}") from None
        return cls.config_from_dict(raw, source=str(path))

    # ---- the folder ----

    def save_pretrained(
        self,
        directory: str | Path,
        *,
        dtype: torch.dtype | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (each atomically) to ``directory``.

        Args:
            directory: created if missing.
            dtype: store floating tensors in this dtype (e.g. ``torch.float16``); loading casts back.
            metadata: strings stored in the safetensors header (provenance: step, preset, ...).

        Returns:
            ``directory``.
        """
        state = self.state_dict()  # type: ignore[attr-defined]
        return save_weights(directory, state, self.config_dict(), dtype=dtype, metadata=metadata)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Self:
        """Rebuild the model from ``config.json`` and load ``model.safetensors`` (on the CPU).

        Tensors stored in another floating dtype (fp16 weights) are cast to the dtype the freshly
        built module has, so a model always comes back in its working precision.

        Raises:
            WeightsError: a missing file, or a config / tensors that do not describe this model.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        model = cls(cls.config_from_folder(directory))  # type: ignore[call-arg]
        path = directory / WEIGHTS_NAME
        if not path.is_file():
            raise WeightsError(f"no {WEIGHTS_NAME} in {directory}")
        try:
            state = load_file(str(path))
        except (OSError, ValueError, SafetensorError) as err:  # a truncated or foreign file
            raise WeightsError(f"{path} is not a readable safetensors file: {_first_line(err)}") from None
        reference = model.state_dict()  # type: ignore[attr-defined]
        state = {
            n: t.to(reference[n].dtype) if n in reference and t.is_floating_point() else t
            for n, t in state.items()
        }
        try:
            model.load_state_dict(state, strict=True)  # type: ignore[attr-defined]
        except RuntimeError as err:  # missing or unexpected keys, other shapes
            # torch's first line only names the class; the first problem is on the next one.
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            detail = lines[1] if len(lines) > 1 else _first_line(err)
            raise WeightsError(f"{path} does not fit its config: {detail}") from None
        return model


__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "PretrainedMixin",
    "WeightsError",
    "read_metadata",
    "save_weights",
]
