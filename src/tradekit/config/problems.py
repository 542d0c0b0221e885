"""Error text: a cattrs failure as ``path: what was expected, got what`` lines."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from typing import Any, Literal

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError, IterableValidationError

from tradekit.params import ConfigValueError, is_secret

__all__ = ["config_problems", "join_path"]


_ScalarError = ConfigValueError


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _lookup(data: Any, key: str | int) -> Any:
    try:
        return data[key]
    except (KeyError, IndexError, TypeError):
        return None


def config_problems(exc: BaseException, path: str, data: Any, cls: Any) -> list[str]:
    where = path or "<top>"
    if isinstance(exc, ForbiddenExtraKeysError):
        fields = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        out = []
        for key in sorted(exc.extra_fields):
            hint = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
            msg = f"{join_path(path, key)}: unknown key"
            msg += (
                f" (did you mean {hint[0]!r}?)" if hint else f" (known keys: {', '.join(fields)})"
            )
            out.append(msg)
        return out
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        out = []
        for sub, note in with_notes:
            out += config_problems(
                sub, join_path(path, note.index), _lookup(data, note.index), note.type
            )
        for sub in without:
            out += config_problems(sub, path, data, cls)
        return out
    if isinstance(exc, cattrs.ClassValidationError):
        attr_notes, others = exc.group_exceptions()
        out = []
        for sub, attr_note in attr_notes:
            sub_path = join_path(path, attr_note.name)
            missing = isinstance(data, Mapping) and attr_note.name not in data
            if isinstance(sub, KeyError) and missing:
                out.append(f"{sub_path}: required key is missing")
            elif _is_secret(exc.cl, attr_note.name):
                # The message goes to stderr and the service's log: say what is wrong, never
                # the value (an unquoted numeric token is still the token).
                value = _lookup(data, attr_note.name)
                expected = sub.expected if isinstance(sub, ConfigValueError) else "a string"
                out.append(
                    f"{sub_path}: expected {expected}, got {_article(type(value).__name__)} "
                    "(a secret: not shown)"
                )
            else:
                out += config_problems(sub, sub_path, _lookup(data, attr_note.name), attr_note.type)
        for sub in others:
            out += config_problems(sub, path, data, cls)
        return out
    if isinstance(exc, BaseExceptionGroup):
        return [p for sub in exc.exceptions for p in config_problems(sub, path, data, cls)]
    if isinstance(exc, _ScalarError):
        return [f"{where}: {exc}"]
    if typing.get_origin(cls) is Literal:
        choices = ", ".join(repr(c) for c in typing.get_args(cls))
        return [f"{where}: expected one of {choices}, got {data!r}"]
    if isinstance(exc, TypeError | AttributeError) and data is not None:
        return [f"{where}: expected {_type_name(cls)}, got {data!r}"]
    return [f"{where}: {exc} (got {data!r})"]


def _is_secret(cls: Any, name: str) -> bool:
    if not (isinstance(cls, type) and attrs.has(cls)):
        return False
    field = attrs.fields_dict(cls).get(name)
    return field is not None and is_secret(field)


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _type_name(cls: Any) -> str:
    origin = typing.get_origin(cls)
    if origin in (list, tuple):
        return "a list"
    if origin is dict or (attrs.has(cls) if isinstance(cls, type) else False):
        return "a mapping"
    return getattr(cls, "__name__", str(cls))
