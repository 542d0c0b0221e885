"""The Slack notifier: an incoming-webhook client with bounded retries.

A notifier must never stop trading: failures are logged (with the webhook URL masked) and
dropped after the retry budget.
"""

from __future__ import annotations

import random
from typing import ClassVar

import anyio
import attrs
import httpx
from loguru import logger

from tradekit.events import Event
from tradekit.params import ConfigValueError, check_range, secret_field
from tradekit_slack.messages import format_event

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

    @webhook_url.validator
    def _url(self, _attr: object, value: str) -> None:
        if not value.startswith(("https://", "http://")):
            raise ConfigValueError(
                "an https:// webhook URL", "***" if value else value, "webhook_url"
            )


class SlackNotifier:
    """Posts signals, fills, rejections, halts, errors and daily reports to Slack."""

    name: ClassVar[str] = "slack"
    Config: ClassVar[type[SlackConfig]] = SlackConfig

    def __init__(self, config: SlackConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = client or httpx.AsyncClient(timeout=config.timeout)
        self.sent = 0
        self.failed = 0

    async def notify(self, event: Event) -> None:
        """Send one event if it is worth a message; never raises for network trouble."""
        if self.config.kinds and event.kind not in self.config.kinds:
            return
        text = format_event(event)
        if text is None:
            return
        payload: dict[str, str] = {"text": text, "username": self.config.username}
        if self.config.channel:
            payload["channel"] = self.config.channel
        for attempt in range(self.config.retries + 1):
            try:
                response = await self._client.post(self.config.webhook_url, json=payload)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code < 300:
                    self.sent += 1
                    return
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break  # a bad request or revoked webhook will not get better
                retry_after = response.headers.get("Retry-After")
                if retry_after and retry_after.isdigit() and attempt < self.config.retries:
                    await anyio.sleep(min(float(retry_after), 30.0))
                    continue
            if attempt < self.config.retries:
                await anyio.sleep(min(0.2 * 2**attempt, 5.0) * (0.5 + random.random()))
        self.failed += 1
        logger.warning("slack: dropped a {} message after errors ({})", event.kind, problem)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
