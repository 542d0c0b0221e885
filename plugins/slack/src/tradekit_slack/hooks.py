"""Hook implementations of tradekit-slack (imports nothing heavy)."""

from __future__ import annotations

from typing import Any

from tradekit.hookspecs import hookimpl


@hookimpl
def register_notifiers() -> list[type[Any]]:
    from tradekit_slack.notifier import SlackNotifier

    return [SlackNotifier]
