"""The strict converter: YAML values into attrs classes, every problem collected.

YAML's loose scalars are refused where they would surprise (``yes`` is not an int, a bare
string is not a list). Validators run on a draft built without them, so one bad value never
hides another, and attrs' process-wide switch of validators is never touched.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn

from tradekit.config.problems import config_problems
from tradekit.errors import ConfigError
from tradekit.models import Timeframe
from tradekit.params import ConfigValueError

__all__ = ["structure_config"]


_ScalarError = ConfigValueError


def _to_int(value: object, _t: object) -> int:
    if isinstance(value, bool):
        raise _ScalarError("int", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d[\d_]*", value.strip()):
        return int(value.strip())
    raise _ScalarError("int", value)


def _to_float(value: object, _t: object) -> float:
    if isinstance(value, bool):
        raise _ScalarError("number", value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _ScalarError("number", value)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _to_bool(value: object, _t: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _ScalarError("true or false", value)


def _to_str(value: object, _t: object) -> str:
    if isinstance(value, str):
        return value
    raise _ScalarError("a string (quote it in YAML)", value)


def _to_timeframe(value: object, _t: object) -> Timeframe:
    if not isinstance(value, str) or not Timeframe.is_valid(value):
        raise _ScalarError("a timeframe such as '1m', '15m', '1h' or '1d'", value)
    return Timeframe(value)


_DRAFTS: dict[type[Any], type[Any]] = {}


def _without_validators(cls: type[Any]) -> type[Any]:
    """A twin of the attrs class ``cls``: the same fields and defaults, no validators."""
    if cls in _DRAFTS:
        return _DRAFTS[cls]
    attrs.resolve_types(cls)
    fields = {
        field.name: attrs.field(
            default=field.default,
            type=field.type,
            alias=field.alias,
            kw_only=field.kw_only,
            init=field.init,
            converter=field.converter,
        )
        for field in attrs.fields(cls)
    }
    _DRAFTS[cls] = attrs.make_class(cls.__name__, fields, slots=True)
    return _DRAFTS[cls]


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)

    def is_list(t: Any) -> bool:
        return typing.get_origin(t) is list

    def structure_list(value: object, t: Any) -> list[Any]:
        # A bare string would otherwise become a list of characters.
        if not isinstance(value, list | tuple):
            raise _ScalarError("a list", value)
        (item_type,) = typing.get_args(t) or (Any,)
        if item_type is Any:
            return list(value)
        items, errors = [], []
        for index, item in enumerate(value):
            try:
                items.append(conv.structure(item, item_type))
            except Exception as exc:
                exc.__notes__ = [IterableValidationNote(f"item {index}", index, item_type)]
                errors.append(exc)
        if errors:
            raise IterableValidationError("while structuring a list", errors, t)
        return items

    def is_dict(t: Any) -> bool:
        return typing.get_origin(t) is dict

    def structure_dict(value: object, t: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise _ScalarError("a mapping", value)
        key_type, value_type = typing.get_args(t) or (Any, Any)
        if value_type is Any:
            return dict(value)
        return {
            conv.structure(k, key_type): conv.structure(v, value_type) for k, v in value.items()
        }

    def attrs_factory(cls: type[Any]) -> Any:
        draft_cls = _without_validators(cls)
        base = make_dict_structure_fn(
            draft_cls, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
        )

        def structure_attrs(data: Any, _t: Any) -> Any:
            # Build a draft without validators, run every validator on it, and only then
            # build the real value: all bad values are reported at once (attrs would stop at
            # the first one), and no process-wide switch of validators is touched.
            try:
                draft = base(data, draft_cls)
            except cattrs.ClassValidationError as exc:
                # Some values could not be built: still check the ones that could, so a
                # wrong type in one place does not hide a bad range in another.
                errors = list(exc.exceptions) + _validate_fields(cls, data, exc)
                raise cattrs.ClassValidationError(exc.message, errors, cls) from None
            values = {f.name: getattr(draft, f.name) for f in attrs.fields(draft_cls)}
            errors = _validate_fields(cls, values, None, draft)
            if errors:
                raise cattrs.ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
            return cls(**{f.alias: values[f.name] for f in attrs.fields(cls) if f.init})

        def _validate_fields(
            cls: type[Any],
            values: Mapping[str, Any],
            failed: cattrs.ClassValidationError | None,
            instance: Any = None,
        ) -> list[Exception]:
            """Run each field's validator; with ``failed``, only on raw values that structure."""
            bad = set()
            if failed is not None:
                bad = {note.name for _sub, note in failed.group_exceptions()[0]}
            errors: list[Exception] = []
            for field in attrs.fields(cls):
                if field.validator is None or field.name in bad:
                    continue
                if field.name not in values:
                    continue
                value = values[field.name]
                if failed is not None:
                    try:
                        value = conv.structure(value, field.type)
                    except Exception:
                        continue
                try:
                    field.validator(instance, field, value)
                except (ValueError, TypeError) as exc:
                    note = f"Structuring class {cls.__qualname__} @ attribute {field.name}"
                    exc.__notes__ = [AttributeValidationNote(note, field.name, field.type)]
                    errors.append(exc)
                except Exception:  # a validator that needs the whole instance: skipped here
                    if failed is None:
                        raise
            return errors

        return structure_attrs

    conv.register_structure_hook_factory(attrs.has, attrs_factory)
    conv.register_structure_hook_func(is_list, structure_list)
    conv.register_structure_hook_func(is_dict, structure_dict)
    conv.register_structure_hook(int, _to_int)
    conv.register_structure_hook(float, _to_float)
    conv.register_structure_hook(bool, _to_bool)
    conv.register_structure_hook(str, _to_str)
    conv.register_structure_hook(Timeframe, _to_timeframe)
    return conv


_CONVERTER = _make_converter()


def structure_config(data: Any, cls: type[Any], path: str = "") -> Any:
    """Structure ``data`` into ``cls`` with tradekit's strict rules.

    Raises:
        ConfigError: listing every problem with its path and value.
    """
    if data is None:
        data = {}
    if attrs.has(cls) and not isinstance(data, Mapping):
        raise ConfigError([f"{path or '<top>'}: expected a mapping, got {data!r}"])
    try:
        return _CONVERTER.structure(data, cls)
    except Exception as exc:
        raise ConfigError(config_problems(exc, path, data, cls)) from None
