"""A literal, deliberately naive transcription of the fill rules, used as the oracle.

The rules are ``docs/backtests.md#fill-rules``.

It shares no code with the engine: windows are rescanned every bar and the volume mean is
computed exactly with fractions of the volumes' decimal text. Tests compare the engine's
fills with this one's fill by fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

KST = 9 * 3600 * 1000


def floor8(x: float) -> float:
    return math.floor(x * 1e8 + 1e-6) / 1e8


@dataclass
class Params:
    lookback: int = 20
    volume_factor: float = 1.5
    stop_loss: float = 0.015
    take_profit: float = 0.03
    take_profit_fraction: float = 0.5
    trailing_stop: float = 0.01
    position_size: float = 0.05
    daily_loss_limit: float = 0.05
    min_order_krw: float = 5000.0
    fee_rate: float = 0.0025
    initial_cash: float = 10_000_000.0


@dataclass
class _Pos:
    qty: float
    entry: float
    stop: float
    tp_price: float
    opened_at: int  # row index of the bar it was opened in
    tp_reached: bool = False
    highest: float = 0.0


@dataclass
class Result:
    fills: list[tuple[int, str, str, float, float, float, str]] = field(default_factory=list)
    equity: list[tuple[int, float]] = field(default_factory=list)
    halted_days: set[str] = field(default_factory=set)


def kst_day(time_ms: int) -> str:
    return (datetime.fromtimestamp(time_ms / 1000, UTC) + timedelta(hours=9)).date().isoformat()


def run(
    rows: dict[str, list[tuple[int, float, float, float, float, float]]],
    order: list[str],
    p: Params,
) -> Result:
    """Run the fill rules over ``rows[market] = [(time_ms, o, h, l, c, v), ...]``."""
    out = Result()
    cash = p.initial_cash
    positions: dict[str, _Pos | None] = dict.fromkeys(order)
    pending: dict[str, float | None] = dict.fromkeys(order)
    last_close: dict[str, float] = {}
    index = dict.fromkeys(order, -1)
    events = sorted(
        ((bar[0], order.index(m), m, i) for m in order for i, bar in enumerate(rows[m])),
    )
    day = None
    reference = p.initial_cash
    prev_equity = p.initial_cash
    halted = False
    for _t, _rank, m, i in events:
        t, o, h, low, c, v = rows[m][i]
        index[m] = i
        # 1. pending entry
        if pending[m] is not None:
            q = pending[m]
            assert q is not None
            fee = o * q * p.fee_rate
            cash -= o * q + fee
            positions[m] = _Pos(q, o, o * (1 - p.stop_loss), o * (1 + p.take_profit), i)
            out.fills.append((t, m, "buy", o, q, fee, "entry"))
            pending[m] = None
        # 2. exits
        pos = positions[m]
        if pos is not None:
            why = "trailing_stop" if pos.tp_reached else "stop_loss"
            if pos.opened_at < i and o <= pos.stop:
                cash = _sell(out, cash, t, m, o, pos.qty, why, p)
                positions[m] = None
            elif low <= pos.stop:
                cash = _sell(out, cash, t, m, pos.stop, pos.qty, why, p)
                positions[m] = None
            elif not pos.tp_reached and h >= pos.tp_price:
                price = max(o, pos.tp_price)
                sold = floor8(pos.qty * p.take_profit_fraction)
                if (pos.qty - sold) * price < p.min_order_krw:
                    cash = _sell(out, cash, t, m, price, pos.qty, "take_profit", p)
                    positions[m] = None
                else:
                    if sold > 0:
                        cash = _sell(out, cash, t, m, price, sold, "take_profit", p)
                    pos.qty = round(pos.qty - sold, 8)
                    pos.tp_reached = True
                    pos.highest = h
                    pos.stop = max(pos.stop, pos.highest * (1 - p.trailing_stop))
            elif pos.tp_reached:
                pos.highest = max(pos.highest, h)
                pos.stop = max(pos.stop, pos.highest * (1 - p.trailing_stop))
        # 3. equity and the daily halt
        last_close[m] = c
        equity = cash
        for mm in order:
            pp = positions[mm]
            if pp is not None:
                equity += pp.qty * last_close[mm]
        today = kst_day(t)
        if today != day:
            reference = prev_equity
            halted = False
            day = today
        if equity < reference * (1 - p.daily_loss_limit):
            halted = True
            out.halted_days.add(today)
        prev_equity = equity
        out.equity.append((t, equity))
        # 4. signal
        if i >= p.lookback and positions[m] is None and pending[m] is None and not halted:
            window = rows[m][i - p.lookback : i]
            high_max = max(b[2] for b in window)
            mean_v = sum(Fraction(repr(b[5])) for b in window) / p.lookback
            if c > high_max and Fraction(repr(v)) > Fraction(str(p.volume_factor)) * mean_v:
                q = floor8(equity * p.position_size / c)
                if q * c >= p.min_order_krw:
                    pending[m] = q
    # end of data
    for m in order:
        pos = positions[m]
        if pos is not None:
            t = rows[m][index[m]][0]
            cash = _sell(out, cash, t, m, rows[m][index[m]][4], pos.qty, "end_of_data", p)
    out.fills.sort(key=lambda f: f[0])
    return out


def _sell(
    out: Result, cash: float, t: int, m: str, price: float, qty: float, why: str, p: Params
) -> float:
    fee = price * qty * p.fee_rate
    out.fills.append((t, m, "sell", price, qty, fee, why))
    return cash + (price * qty - fee)  # as `cash += price * qty - fee`
