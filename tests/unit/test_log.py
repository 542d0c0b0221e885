"""Logging: secrets masked, stdlib routed into loguru, JSON lines for containers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tradekit import log


@pytest.fixture
def sink() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    log.setup_logging("DEBUG", sink=buffer)
    yield buffer
    log.setup_logging("INFO")


def test_registered_secrets_and_credential_patterns_are_masked(sink: io.StringIO) -> None:
    from loguru import logger

    log.add_secrets(["hunter2-api-secret", None, "ab"])
    logger.info("secret is hunter2-api-secret; short values like ab stay")
    logger.info("Authorization: Bearer abc.def-ghi")
    logger.info("jwt eyJhbGciOiJIUzI1NiJ9.eyJhY2Nlc3Nfa2V5Ijoia2V5In0.sig_nature")
    logger.info("posting to https://hooks.slack.com/services/T0/B0/XYZ")
    text = sink.getvalue()
    assert "hunter2" not in text
    assert "secret is ***; short values like ab stay" in text
    assert "Authorization: Bearer ***" in text
    assert "jwt ***" in text
    assert "hooks.slack.com/services/***" in text


def test_tracebacks_do_not_show_local_variables(sink: io.StringIO) -> None:
    from loguru import logger

    def sign(api_secret: str) -> None:
        raise ValueError("bad key")

    secret = "-".join(["local", "secret", "never", "registered"])  # not a literal in the source
    try:
        sign(secret)
    except ValueError:
        logger.exception("signing failed")
    text = sink.getvalue()
    assert "ValueError: bad key" in text
    assert secret not in text


def test_stdlib_logging_is_routed_and_masked(sink: io.StringIO) -> None:
    log.add_secrets(["routed-secret-value"])
    logging.getLogger("httpx").warning("GET with routed-secret-value failed")
    line = sink.getvalue().strip().splitlines()[-1]
    assert "WARNING" in line
    assert " httpx GET with *** failed" in line


def test_httpx_request_lines_only_at_debug() -> None:
    buffer = io.StringIO()
    try:
        log.setup_logging("INFO", sink=buffer)
        logging.getLogger("httpx").info("HTTP Request: GET /v1/ticker")
        assert buffer.getvalue() == ""
        log.setup_logging("DEBUG", sink=buffer)
        logging.getLogger("httpx").info("HTTP Request: GET /v1/ticker")
        assert "httpx HTTP Request: GET /v1/ticker" in buffer.getvalue()
    finally:
        log.setup_logging("INFO")


def json_lines(emit: Callable[[], None]) -> list[dict[str, Any]]:
    """The JSON objects ``--log-json`` writes while ``emit`` logs, one per line."""
    buffer = io.StringIO()
    log.setup_logging("INFO", json=True, sink=buffer)
    try:
        emit()
    finally:
        log.setup_logging("INFO")
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_are_one_compact_object_per_record() -> None:
    from loguru import logger

    def emit() -> None:
        logger.bind(market="KRW-BTC", level="shadowed").info("hello {}", "json")
        logging.getLogger("uvicorn.error").warning("port {taken}")

    first, second = json_lines(emit)
    assert list(first) == ["time", "level", "logger", "message", "market", "extra_level"]
    assert (first["level"], first["logger"], first["message"]) == ("INFO", __name__, "hello json")
    assert (first["market"], first["extra_level"]) == ("KRW-BTC", "shadowed")
    stamp = datetime.fromisoformat(first["time"])
    assert stamp.tzinfo is not None
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    # No repeated formatted text, no loguru internals (process, thread, file, elapsed...).
    assert second == {
        "time": second["time"],
        "level": "WARNING",
        "logger": "uvicorn.error",
        "message": "port {taken}",
    }


def test_json_lines_mask_the_message_bound_values_and_traceback() -> None:
    from loguru import logger

    log.add_secrets(["json-secret-4f2a"])

    def emit() -> None:
        try:
            raise ValueError("rejected key json-secret-4f2a")
        except ValueError:
            logger.bind(header="Bearer json-secret-4f2a").exception("sign json-secret-4f2a")

    (record,) = json_lines(emit)
    assert record["message"] == "sign ***"
    assert record["header"] == "Bearer ***"
    assert record["exception"].startswith("Traceback (most recent call last):\n")
    assert record["exception"].endswith("ValueError: rejected key ***\n")
    assert "json-secret-4f2a" not in json.dumps(record)


def test_text_tracebacks_are_masked(sink: io.StringIO) -> None:
    from loguru import logger

    log.add_secrets(["text-secret-9c1e"])
    try:
        raise RuntimeError("refused text-secret-9c1e")
    except RuntimeError:
        logger.exception("order failed")
    text = sink.getvalue()
    assert "order failed\nTraceback (most recent call last):" in text
    assert "RuntimeError: refused ***" in text
    assert "text-secret-9c1e" not in text


def test_setup_twice_does_not_duplicate_output() -> None:
    buffer = io.StringIO()
    log.setup_logging("INFO", sink=buffer)
    log.setup_logging("INFO", sink=buffer)
    try:
        from loguru import logger

        logger.info("once")
    finally:
        log.setup_logging("INFO")
    assert buffer.getvalue().count("once") == 1


def test_unknown_level_is_an_error() -> None:
    with pytest.raises(ValueError, match="NOPE"):
        log.setup_logging("NOPE")
