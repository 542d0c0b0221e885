"""Hook implementations of tradekit-slack (imports nothing heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradekit.hookspecs import hookimpl

if TYPE_CHECKING:
    from tradekit.interfaces import Notifier


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    from tradekit_slack.notifier import SlackNotifier

    return [SlackNotifier]
