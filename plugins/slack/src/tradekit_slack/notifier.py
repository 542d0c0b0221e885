"""The Slack notifier: an incoming-webhook client with bounded retries.

A notifier must never stop trading: failures are logged (with the webhook URL masked) and
dropped after the retry budget.
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime
from typing import Any, ClassVar

import anyio
import attrs
import httpx
from loguru import logger

from tradekit.events import Event
from tradekit.params import ConfigValueError, check_range, secret_field
from tradekit_slack.messages import SlackMessages

__all__ = ["SlackNotifier"]


@attrs.frozen
class SlackConfig:
    """``webhook_url`` is a secret; ``kinds`` limits which event kinds are sent."""

    webhook_url: str = secret_field(default="")
    channel: str | None = None
    username: str = "tradekit"
    timeout: float = attrs.field(default=5.0, validator=check_range(0, None, low_open=True))
    retries: int = attrs.field(default=3, validator=check_range(0, 10))
    kinds: list[str] = attrs.field(factory=list)
    #: Longest wait (seconds) for Slack's rate limit before a message is dropped; below the
    #: bot's 30 s budget per event.
    rate_limit_wait: float = attrs.field(default=20.0, validator=check_range(0, 25))

    @webhook_url.validator
    def _url(self, _attr: object, value: str) -> None:
        if not value.startswith(("https://", "http://")):
            raise ConfigValueError(
                "an https:// webhook URL", "***" if value else value, "webhook_url"
            )


class SlackNotifier:
    """Posts fills, closed positions, signals, rejections, halts, errors and daily reports
    to Slack as Block Kit messages (with a plain-text fallback)."""

    name: ClassVar[str] = "slack"
    Config: ClassVar[type[SlackConfig]] = SlackConfig

    def __init__(self, config: SlackConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = client or httpx.AsyncClient(timeout=config.timeout)
        self._messages = SlackMessages()
        self._quiet_until = 0.0  # anyio clock: no post before this (Slack's Retry-After)
        self.sent = 0
        self.failed = 0

    async def notify(self, event: Event) -> None:
        """Send one event if it is worth a message; never raises for network trouble.

        A 429 answer's ``Retry-After`` is honoured for every later message too: nothing is
        posted before it has passed. A message that would have to wait longer than
        ``rate_limit_wait`` seconds is dropped instead, so the notifier stays within the
        bot's time budget per event.
        """
        message = self._messages.build(event)  # always: it remembers positions and closes
        if message is None or (self.config.kinds and event.kind not in self.config.kinds):
            return
        payload: dict[str, Any] = {**message, "username": self.config.username}
        if self.config.channel:
            payload["channel"] = self.config.channel
        problem = "no attempt"
        for attempt in range(self.config.retries + 1):
            wait = self._quiet_until - anyio.current_time()
            if wait > 0:
                if wait > self.config.rate_limit_wait:
                    problem = f"rate limited by Slack for another {wait:.0f} s"
                    break
                await anyio.sleep(wait)
            try:
                response = await self._client.post(self.config.webhook_url, json=payload)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code < 300:
                    self.sent += 1
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    delay = _retry_after(response.headers.get("Retry-After"))
                    self._quiet_until = anyio.current_time() + delay
                    continue  # the wait above is the back-off
                if 400 <= response.status_code < 500:
                    break  # a bad request or revoked webhook will not get better
            if attempt < self.config.retries:
                await anyio.sleep(min(0.2 * 2**attempt, 5.0) * (0.5 + random.random()))
        self.failed += 1
        logger.warning("slack: dropped a {} message after errors ({})", event.kind, problem)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def _retry_after(value: str | None) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); 1 if absent
    or unreadable."""
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 1.0
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return 1.0
