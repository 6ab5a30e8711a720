"""``--set KEY=VALUE``: any :class:`~napari_medgan.engine.TrainConfig` setting from the CLI.

The named options of ``train`` and ``demo`` cover the settings people change most; ``--set``
reaches every other field of the run's configuration (Adam betas, latent size, EMA decay, R1
interval, ...). The value is parsed into the field's type; ranges are checked afterwards by
:meth:`TrainConfig.validate`, like any other option.
"""

from __future__ import annotations

import argparse
import typing
from typing import Any

from napari_medgan.engine.config import parse_ct_window
from napari_medgan.engine.settings import SETTINGS

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def settable() -> dict[str, Any]:
    """Each setting (:data:`~napari_medgan.engine.settings.SETTINGS`: every field of
    :class:`~napari_medgan.engine.TrainConfig` but ``extra``) and its type, in field order."""
    return {s.name: s.type for s in SETTINGS}


def type_name(kind: Any) -> str:
    """How a field's type is described in help and errors."""
    if kind is bool:
        return "true/false"
    if kind in (int, float, str):
        return kind.__name__
    if typing.get_origin(kind) is tuple:
        return "comma-separated list ('none': empty)"
    return "LOW,HIGH or 'none'"  # ct_window: tuple[float, float] | None


def parse_value(key: str, text: str, kind: Any) -> Any:
    """``text`` as a value of type ``kind``; ``ValueError`` naming ``key`` and the type."""
    text = text.strip()
    expected = f"{key} expects {type_name(kind)} (got {text!r})"
    if kind is bool:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(expected)
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(expected) from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(expected) from None
    if kind is str:
        if not text:
            raise ValueError(expected)
        return text
    if typing.get_origin(kind) is tuple:
        if text.lower() in ("", "none"):
            return ()
        return tuple(v for v in text.replace(" ", "").split(",") if v)
    try:  # tuple[float, float] | None: ct_window
        return parse_ct_window(text)
    except ValueError:
        raise ValueError(expected) from None


def parse_setting(text: str) -> tuple[str, Any]:
    """argparse type of ``--set``: ``"KEY=VALUE"`` → ``(key, typed value)``.

    Raises
    ------
    argparse.ArgumentTypeError
        On a missing ``=``, an unknown key (the message lists the valid ones) or a value that
        does not parse into the field's type.
    """
    fields = settable()
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (got {text!r})")
    if key not in fields:
        raise argparse.ArgumentTypeError(
            f"unknown setting {key!r}; valid keys: {', '.join(fields)}"
        )
    try:
        return key, parse_value(key, value, fields[key])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_set_option(p: argparse.ArgumentParser) -> None:
    """The repeatable ``--set KEY=VALUE`` option."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=parse_setting,
        default=None,
        metavar="KEY=VALUE",
        help="set any training setting by its name, e.g. --set beta1=0.0 --set z_dim=64 "
        "--set channels_last=true --set augment=translation,gamma (repeatable; applied on top "
        "of the preset, the named options above win over it; keys: " + ", ".join(settable()) + ")",
    )


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` values given, the last one of a key winning."""
    return dict(getattr(args, "overrides", None) or [])
