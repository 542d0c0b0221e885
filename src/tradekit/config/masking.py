"""Settings shown without their secrets: for ``config check``, the log masker and the run digest.

A secret is a field declared with :func:`~tradekit.params.secret_field`, or the password in a
URL: the one way tradekit spots secrets.
"""

from __future__ import annotations

import hashlib
import json
import typing
from typing import Any

import attrs

from tradekit.config.settings import Component, Settings
from tradekit.models import Timeframe
from tradekit.params import MASK, hide_url_password, is_secret

__all__ = ["config_digest", "masked", "secret_values"]


def _unstructure(value: Any) -> Any:
    if isinstance(value, Component):
        return {"use": value.use, **_unstructure(value.config)}
    if isinstance(value, Timeframe):
        return value.value
    if attrs.has(type(value)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if is_secret(field):
                out[field.name] = MASK if item else item
            else:
                out[field.name] = _unstructure(item)
        return out
    if isinstance(value, str):
        return hide_url_password(value)
    if isinstance(value, dict):
        return {k: _unstructure(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unstructure(v) for v in value]
    return value


def masked(settings: Settings) -> dict[str, Any]:
    """The resolved settings as plain data, every secret replaced by ``***``.

    Secrets are the fields declared with :func:`~tradekit.params.secret_field`, and passwords
    inside URLs (``storage.url``): the one way tradekit spots them, for display and digest alike.
    """
    data = _unstructure(settings)
    data.pop("source", None)
    if data.get("optimize") is None:
        data.pop("optimize", None)
    return typing.cast(dict[str, Any], data)


def config_digest(settings: Settings) -> str:
    """A SHA-256 digest of the masked settings: tells runs of different settings apart.

    It is computed after masking, so it neither reveals nor depends on a secret.
    """
    text = json.dumps(masked(settings), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def secret_values(settings: Settings) -> list[str]:
    """Every non-empty secret in the settings (for the log masker)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Component):
            walk(value.config)
        elif attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                item = getattr(value, field.name)
                if is_secret(field) and isinstance(item, str) and item:
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk(settings)
    return found
