"""The real Bithumb connector on the fake Bithumb, with bars replayed tick by tick in lock step
with a live bot (used by the live-runner and dashboard tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
from tradekit_bithumb.client import Backoff, BithumbClient
from tradekit_bithumb.config import BithumbConfig
from tradekit_bithumb.exchange import BithumbExchange
from tradekit_bithumb.testing import BarReplay, FakeBithumb

from tradekit.models import Bar, Timeframe, Trade
from tradekit.runner.bot import Bot


async def no_sleep(_seconds: float) -> None:
    """A retry back-off that only yields, so refused requests are retried at once."""
    await anyio.lowlevel.checkpoint()


def make_exchange(server: FakeBithumb, cls: type[BithumbExchange] = BithumbExchange) -> Any:
    """A ``cls`` connector on ``server`` with the fake's keys and a fast, sleepless back-off."""
    config = BithumbConfig(
        api_key=server.api_key,
        api_secret=server.api_secret,
        base_url=server.base_url,
        ws_url=server.ws_url,
    )
    client = BithumbClient.from_config(config, backoff=Backoff(0.001, 0.01), sleep=no_sleep)
    return cls(config, client=client)


class ReplayExchange(BithumbExchange):
    """The real connector on the fake Bithumb, bars replayed tick by tick in lock step.

    Each bar is played as trades one price tick apart (open -> low -> high -> close); after
    each trade the bot's orders are allowed to finish before the next one is played, so a
    market order fills at the price of the trade that triggered it, as the fill rules' model
    would. When the bar ends the price moves to the next open and the bar is handed to the bot.
    Set ``replay`` and ``bot`` before the bot runs; ``history`` is what warm-up fetches.
    """

    replay: BarReplay
    bot: Bot
    history: Sequence[Bar] = ()

    async def fetch_candles(
        self,
        market: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        **_: Any,
    ) -> Sequence[Bar]:
        end = until_ms if until_ms is not None else 2**62
        return [b for b in self.history if since_ms <= b.time_ms < end]

    async def after_last_bar(self) -> None:
        """Called once the last bar is handed over; the bar stream ends when it returns."""

    def live_bars(
        self,
        markets: Sequence[str],
        timeframe: Timeframe,
        *,
        start_ms: int | None = None,
        on_trade: Any = None,
    ) -> Any:
        replay, exchange = self.replay, self

        class Feed:
            async def __aiter__(self) -> AsyncIterator[Bar]:
                execution = exchange.bot.execution
                assert execution is not None
                for i, played in enumerate(replay.bars):
                    for step in replay.bar_steps(i):
                        replay.play(step)
                        on_trade(Trade(replay.market, step.time_ms, float(step.price), 0.01))
                        await execution.wait_idle()
                    replay.end_bar(i)
                    yield Bar(
                        replay.market,
                        played.time_ms,
                        float(played.open),
                        float(played.high),
                        float(played.low),
                        float(played.close),
                        float(played.volume),
                    )
                    await execution.wait_idle()
                await exchange.after_last_bar()

            async def aclose(self) -> None:
                pass

        return Feed()
