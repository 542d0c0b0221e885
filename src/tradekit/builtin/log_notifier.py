"""The built-in ``log`` notifier: writes events to the log."""

from __future__ import annotations

from typing import ClassVar

import attrs
from loguru import logger

from tradekit.event_text import describe_event
from tradekit.events import AccountSnapshot, BarClosed, Event

__all__ = ["LogNotifier"]


@attrs.frozen
class LogNotifierConfig:
    """``level``: loguru level for events; ``kinds``: only these event kinds (all if empty)."""

    level: str = "INFO"
    kinds: list[str] = attrs.field(factory=list)


class LogNotifier:
    """Logs every event as one sentence (bars and account snapshots at DEBUG, the rest at
    ``level``)."""

    name: ClassVar[str] = "log"

    Config: ClassVar[type[LogNotifierConfig]] = LogNotifierConfig

    def __init__(self, config: LogNotifierConfig) -> None:
        self.config = config

    async def notify(self, event: Event) -> None:
        """Log one event."""
        if self.config.kinds and event.kind not in self.config.kinds:
            return
        # Bars and the per-bar account snapshots would drown the events that matter.
        routine = isinstance(event, BarClosed | AccountSnapshot)
        level = "DEBUG" if routine else self.config.level
        logger.log(level, "{}", describe_event(event))

    async def aclose(self) -> None:
        """Nothing to release."""
