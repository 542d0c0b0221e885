"""Hook implementations of tradekit-bithumb (imports nothing heavy, so ``--help`` stays fast)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradekit.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from tradekit.interfaces import Exchange


@hookimpl
def register_exchanges() -> list[type[Exchange]]:
    from tradekit_bithumb.exchange import BithumbExchange

    return [BithumbExchange]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from tradekit_bithumb.cli import bithumb_group, download_command

    cli.add_command(bithumb_group)
    cli.add_command(download_command)
