"""What a plugin's ``Config`` class is built from: validators, secret fields, the value error.

A leaf module (it imports attrs and nothing of tradekit), so a plugin that declares its config
pulls in neither the YAML loader nor the plugin host. :mod:`tradekit.config` re-exports these
names, so ``from tradekit.config import check_range`` keeps working.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = [
    "MASK",
    "ConfigValueError",
    "check_range",
    "hide_url_password",
    "is_secret",
    "secret_field",
]

#: What a secret is shown as, wherever settings are displayed.
MASK = "***"


def secret_field(default: str | None = None) -> Any:
    """An attrs field holding a secret: hidden from repr and masked in every display."""
    return attrs.field(default=default, repr=False, metadata={"secret": True})


def is_secret(field: attrs.Attribute[Any]) -> bool:
    """Whether ``field`` was declared with :func:`secret_field` (the one way secrets are marked)."""
    return bool(field.metadata.get("secret"))


# user:password@ in a URL; greedy up to the last "@", so a password holding an unescaped "@" or
# "/" (one reason a URL does not parse) is hidden whole.
_URL_PASSWORD = re.compile(r"^([^:/?#\s]*://[^:/@\s]*:).*@", re.DOTALL)


def hide_url_password(text: str) -> str:
    """``text`` with the password of a URL in it (``scheme://user:password@host``) masked."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", text)


class ConfigValueError(ValueError):
    """A value has the right type but is out of range; rendered as ``path: message``."""

    def __init__(self, expected: str, value: object, field: str | None = None) -> None:
        self.expected = expected
        self.value = value
        self.field = field
        super().__init__(f"expected {expected}, got {value!r}")


def check_range(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """An attrs validator: the number must lie between ``low`` and ``high``."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    lo_text = "-inf" if low is None else low
    hi_text = "inf" if high is None else high
    text = f"a number in {left}{lo_text}, {hi_text}{right}"

    def validate(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
        ok = True
        if low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise ConfigValueError(text, value, attribute.name)

    return validate
