"""The ``exchange: {use: replay, ...}`` config block."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import attrs

from tradekit.params import ConfigValueError, check_range

__all__ = ["DEFAULT_HISTORY_BARS", "ReplayConfig", "parse_time_ms"]

#: Without ``start``, the replay begins after this many bars, so strategies have history.
DEFAULT_HISTORY_BARS = 200


def parse_time_ms(value: str | date) -> int:
    """UTC milliseconds of an ISO 8601 date or date-time (UTC unless it names a zone).

    Raises:
        ValueError: not an ISO 8601 date or date-time.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _check_time(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    expected = "an ISO 8601 date or time such as '2019-10-25T04:00' (UTC unless it says)"
    if not isinstance(value, str | date):
        raise ConfigValueError(expected, value, attribute.name)
    try:
        parse_time_ms(value)
    except ValueError:
        raise ConfigValueError(expected, value, attribute.name) from None


def _check_data(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, str) and value:
        return
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items())
    ):
        return
    raise ConfigValueError(
        "a candle file (CSV path or database URL), or a mapping of market to candle file",
        value,
        attribute.name,
    )


def _check_balances(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    for currency, amount in dict(value).items():  # type: ignore[call-overload]
        # Written so NaN fails too; an infinite balance would size entries without bound.
        if not 0 <= amount < math.inf:
            raise ConfigValueError(f"amounts >= 0, finite ({currency})", amount, attribute.name)


@attrs.frozen
class ReplayConfig:
    """A recorded candle file played as a live market.

    Attributes:
        data: the candle file every market plays (a CSV path relative to the config file, or a
            ``sqlite:///`` / ``postgresql://`` store URL), or ``{market: file}`` per market.
        speed: how many times faster than real time the market runs (3600: an hour a second).
        start: where the replay begins (ISO 8601, UTC unless it names a zone); the bars before
            it are the history the bot warms up on. Default: after the first 200 bars.
        end: where it stops (default: the end of the data); the bot then stops too.
        balances: the account at the start, by currency (live mode trades it).
        fee_rate: fee on every fill, like Bithumb's taker fee.
        min_order_krw: the smallest order value accepted.
        quantity_decimals: sell volumes must be multiples of ``10 ** -quantity_decimals``.
        steps_per_leg: at most this many trades for each leg of a bar's path (open -> low ->
            high -> close); fewer steps play faster, more follow the price more closely.
    """

    data: Any = attrs.field(validator=_check_data, metadata={"path": True})
    speed: float = attrs.field(default=3600.0, validator=check_range(0, low_open=True))
    start: Any = attrs.field(default=None, validator=_check_time)
    end: Any = attrs.field(default=None, validator=_check_time)
    balances: dict[str, float] = attrs.field(
        factory=lambda: {"KRW": 10_000_000.0}, validator=_check_balances
    )
    fee_rate: float = attrs.field(default=0.0025, validator=check_range(0, 1, high_open=True))
    min_order_krw: float = attrs.field(default=5000.0, validator=check_range(0))
    quantity_decimals: int = attrs.field(default=4, validator=check_range(0, 8))
    steps_per_leg: int = attrs.field(default=30, validator=check_range(1, 10_000))

    def file_for(self, market: str) -> str | None:
        """The candle file of ``market`` (None when ``data`` names none for it)."""
        if isinstance(self.data, str):
            return self.data
        found: str | None = self.data.get(market)
        return found

    @property
    def start_ms(self) -> int | None:
        """``start`` in UTC milliseconds."""
        return None if self.start is None else parse_time_ms(self.start)

    @property
    def end_ms(self) -> int | None:
        """``end`` in UTC milliseconds."""
        return None if self.end is None else parse_time_ms(self.end)
