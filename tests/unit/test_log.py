"""Logging: secrets masked, stdlib routed into loguru, JSON lines for containers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

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


def test_json_lines() -> None:
    buffer = io.StringIO()
    log.setup_logging("INFO", json=True, sink=buffer)
    try:
        from loguru import logger

        logger.info("hello {}", "json")
    finally:
        log.setup_logging("INFO")
    record = json.loads(buffer.getvalue().splitlines()[-1])
    assert record["record"]["message"] == "hello json"
    assert record["record"]["level"]["name"] == "INFO"


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
