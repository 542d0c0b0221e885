"""Market ids (``KRW-BTC``): the one shape every edge accepts (config, control API, CLI).

A market id names files, URL paths and database rows; anything else (``../etc``, ``krw-btc``,
an empty string) is refused where it enters rather than failing somewhere deep inside a run.
"""

from __future__ import annotations

import re

__all__ = ["MARKET_ID_PATTERN", "is_market_id", "market_id_problem"]

#: Quote and base currency codes in capitals and digits, joined by one dash (``KRW-BTC``,
#: ``KRW-1INCH``).
MARKET_ID_PATTERN = r"^[A-Z0-9]+-[A-Z0-9]+$"
_MARKET_ID = re.compile(MARKET_ID_PATTERN)


def is_market_id(value: object) -> bool:
    """True for a well-formed market id such as ``KRW-BTC``."""
    # fullmatch: "$" alone would also accept a trailing newline.
    return isinstance(value, str) and _MARKET_ID.fullmatch(value) is not None


def market_id_problem(where: str, value: object) -> str | None:
    """None for a good market id, else a ``where: ...`` message naming the value."""
    if is_market_id(value):
        return None
    return (
        f"{where}: {value!r} is not a market id "
        "(expected QUOTE-BASE in capitals and digits, e.g. KRW-BTC)"
    )
