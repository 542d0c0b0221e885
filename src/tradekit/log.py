"""Logging: loguru configured once, stdlib logging routed into it, secrets masked.

``setup_logging`` may be called again (e.g. by tests) and replaces the previous handlers
instead of adding more. With ``json`` every record is one compact JSON object on one line::

    {"time": "2026-11-29T12:00:00.123+00:00", "level": "INFO", "logger": "tradekit.runner.bot",
     "message": "...", "market": "KRW-BTC", "exception": "Traceback ..."}

``exception`` only when there is one; a value bound with ``logger.bind()`` is a field of its
own (``extra_<name>`` if its name is one of the fields above).
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["add_secrets", "mask", "setup_logging"]

MASK = "***"
_secrets: set[str] = set()
_handler_ids: list[int] = []
_STDLIB_LOGGERS = (
    "httpx",
    "httpcore",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "sqlalchemy",
    "alembic",
    "litestar",
    "websockets",
)
# Credentials that may appear in messages even when not registered: bearer tokens, JWTs,
# Slack webhook paths.
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
    re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/]+"),
)
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
# Keys in a record's "extra" that this module sets for its formatters, never shown as fields.
_TRACEBACK = "tradekit_traceback"
_JSON_LINE = "tradekit_json"
_INTERNAL = (_TRACEBACK, _JSON_LINE)
_JSON_FIELDS = ("time", "level", "logger", "message", "exception")
_TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{name}</cyan> {message}\n"
)


def add_secrets(values: Iterable[str | None]) -> None:
    """Register values that must never appear in log output."""
    for value in values:
        if value and len(value) >= _MIN_SECRET_LENGTH:
            _secrets.add(value)


def mask(text: str) -> str:
    """``text`` with every registered secret and credential pattern replaced by ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


def _patch(record: Record) -> None:
    """Mask the message and render the traceback once, masked (its message may hold a secret)."""
    record["message"] = mask(record["message"])
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        # As loguru prints it with backtrace=False and diagnose=False: no local variables.
        text = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        )
        record["extra"][_TRACEBACK] = mask(text)


def _text_format(record: Record) -> str:
    """The line for people: time, level, logger, message, then the masked traceback if any."""
    # A callable format stops loguru appending its own (unmasked) traceback.
    return _TEXT_FORMAT + ("{extra[" + _TRACEBACK + "]}" if _TRACEBACK in record["extra"] else "")


def _json_value(value: Any) -> Any:
    """``value`` ready for JSON, strings masked (bound values may hold anything)."""
    if isinstance(value, str):
        return mask(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask(str(value))


def _json_format(record: Record) -> str:
    """One compact JSON object for the record (time, level, logger, message, bound values)."""
    line: dict[str, Any] = {
        "time": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "logger": record["name"],
        "message": record["message"],
    }
    for key, value in record["extra"].items():
        if key not in _INTERNAL:
            line[f"extra_{key}" if key in _JSON_FIELDS else key] = _json_value(value)
    if _TRACEBACK in record["extra"]:
        line["exception"] = record["extra"][_TRACEBACK]
    record["extra"][_JSON_LINE] = jsonlib.dumps(line, ensure_ascii=False, separators=(",", ":"))
    return "{extra[" + _JSON_LINE + "]}\n"


class _InterceptHandler(logging.Handler):
    """Send stdlib log records to loguru under their logger's name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Show the stdlib logger's name ("httpx", "alembic"), not the frame loguru would find.
        name = record.name

        def rename(loguru_record: Record) -> None:
            loguru_record["name"] = name

        logger.patch(rename).opt(exception=record.exc_info).log(level, record.getMessage())


def setup_logging(level: str = "INFO", json: bool = False, sink: TextIO | None = None) -> None:
    """Configure loguru: one handler on stderr (or ``sink``), plain text or JSON lines."""
    level = level.upper()
    logger.level(level)  # raises ValueError for an unknown level name
    for handler_id in _handler_ids:
        logger.remove(handler_id)
    _handler_ids.clear()
    with contextlib.suppress(ValueError):
        logger.remove(0)  # loguru's default stderr handler
    logger.configure(patcher=_patch)
    # diagnose=False: loguru would otherwise print local variables in tracebacks, and a local
    # can hold a JWT or an API secret that the masking filter never sees.
    options: dict[str, Any] = {
        "level": level,
        "format": _json_format if json else _text_format,
        "backtrace": False,
        "diagnose": False,
    }
    if json:
        options["colorize"] = False  # plain JSON even on a terminal
    _handler_ids.append(logger.add(sink or sys.stderr, **options))
    logging.basicConfig(handlers=[_InterceptHandler()], level=0, force=True)
    for name in _STDLIB_LOGGERS:
        std = logging.getLogger(name)
        std.handlers = []
        std.propagate = True
    # SQLAlchemy's engine logger echoes SQL with bound parameters at INFO: keep it at WARNING
    # so parameters (which could hold anything) never reach the log by accident.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    # httpx logs every request at INFO, alembic its internals: useful when debugging only.
    quiet = logging.NOTSET if level in ("TRACE", "DEBUG") else logging.WARNING
    for name in ("httpx", "httpcore", "alembic"):  # alembic: plugin set-up, DDL mode lines
        logging.getLogger(name).setLevel(quiet)
