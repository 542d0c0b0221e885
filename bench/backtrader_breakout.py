"""The breakout rules of ``docs/backtests.md#fill-rules`` written for backtrader, as its users do.

Run by ``bench/backtest_vs_backtrader.py`` with the Python of a separate environment that has
backtrader from PyPI (tradekit is not installed there):

    python bench/backtrader_breakout.py CANDLES.csv

Entry at the next open after a close above the highest high of the previous 20 bars with a
volume above 1.5 times their mean volume; 5% of equity; stop 1.5% under the fill, half sold
at +3% (a limit order, one-cancels-other with the stop), then a 1% trailing stop; no entries
for the rest of a Korean trading day once equity falls 5% below the day's reference; fee 0.25%.
backtrader's own order types fill the exits within the bar, so the trades are close to
tradekit's, not identical (its trailing stop follows closes, not highs). Prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys

import backtrader as bt  # type: ignore[import-not-found]


def same(order: bt.Order, mine: bt.Order | None) -> bool:
    # Notifications carry copies of the orders: compare references, not objects.
    return mine is not None and order.ref == mine.ref


def floor8(x: float) -> float:
    return math.floor(x * 1e8 + 1e-6) / 1e8


def utc_ms(text: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).replace(tzinfo=None)


class Breakout(bt.Strategy):  # type: ignore[misc]
    params = (
        ("lookback", 20),
        ("volume_factor", 1.5),
        ("stop_loss", 0.015),
        ("take_profit", 0.03),
        ("take_profit_fraction", 0.5),
        ("trailing_stop", 0.01),
        ("fraction", 0.05),
        ("daily_limit", 0.05),
        ("min_value", 5000.0),
    )

    def __init__(self) -> None:
        p = self.p
        self.highest = bt.ind.Highest(self.data.high(-1), period=p.lookback)
        self.mean_volume = bt.ind.SMA(self.data.volume(-1), period=p.lookback)
        self.entry_order = None
        self.stop_order = None
        self.take_profit_order = None
        self.fills = 0
        self.day = None
        self.reference = None
        self.last_equity = None
        self.halted = False

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Canceled, order.Margin, order.Rejected):
            if same(order, self.entry_order):
                self.entry_order = None
            return
        if order.status != order.Completed:
            return
        self.fills += 1
        p = self.p
        if same(order, self.entry_order):
            self.entry_order = None
            price, size = order.executed.price, order.executed.size
            self.stop_order = self.sell(
                exectype=bt.Order.Stop, price=price * (1 - p.stop_loss), size=size
            )
            self.take_profit_order = self.sell(
                exectype=bt.Order.Limit,
                price=price * (1 + p.take_profit),
                size=floor8(size * p.take_profit_fraction),
                oco=self.stop_order,
            )
        elif same(order, self.take_profit_order):
            self.take_profit_order = None
            rest = self.position.size
            self.stop_order = (
                self.sell(exectype=bt.Order.StopTrail, trailpercent=p.trailing_stop, size=rest)
                if rest > 0
                else None
            )
        elif same(order, self.stop_order):
            self.stop_order = None

    def next(self) -> None:
        p = self.p
        equity = self.broker.getvalue()
        day = math.floor(self.data.datetime[0] + 9 / 24)  # Korean calendar day
        if day != self.day:
            self.day = day
            self.reference = self.last_equity if self.last_equity is not None else equity
            self.halted = False
        self.last_equity = equity
        if equity < self.reference * (1 - p.daily_limit):
            self.halted = True
        if self.position or self.entry_order is not None or self.halted:
            return
        if len(self) <= p.lookback:
            return
        close = self.data.close[0]
        if close > self.highest[0] and self.data.volume[0] > p.volume_factor * self.mean_volume[0]:
            size = floor8(equity * p.fraction / close)
            if size * close >= p.min_value:
                self.entry_order = self.buy(size=size)


def main() -> None:
    cerebro = bt.Cerebro(stdstats=False)  # no observers: backtrader at its fastest
    cerebro.adddata(
        bt.feeds.GenericCSVData(
            dataname=sys.argv[1],
            dtformat=utc_ms,
            datetime=0,
            open=1,
            high=2,
            low=3,
            close=4,
            volume=5,
            openinterest=-1,
            timeframe=bt.TimeFrame.Minutes,
            compression=60,
        )
    )
    cerebro.addstrategy(Breakout)
    cerebro.broker.setcash(10_000_000.0)
    cerebro.broker.setcommission(commission=0.0025)
    (strategy,) = cerebro.run()
    print(
        json.dumps(
            {
                "bars": len(strategy.data),
                "fills": strategy.fills,
                "final_value": cerebro.broker.getvalue(),
            }
        )
    )


if __name__ == "__main__":
    main()
