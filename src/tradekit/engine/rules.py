"""Exchange rules the decision core applies in every mode: quantity step and price ticks.

Live orders go through :class:`~tradekit.models.MarketRules` (exact decimals) in the
connector; the core works in floats, so it keeps a float copy of the two rules that change its
decisions: sizes are cut down to the quantity step (a sale can never be larger than the
exchange accepts), and stop and take-profit levels are put on the price grid (a trade that
crosses a stop is at or below the first tick under it, so the simulated fill is at that tick).
"""

from __future__ import annotations

import math

import attrs

__all__ = ["KRW_TICKS", "VenueRules"]

#: Price units of KRW markets as Bithumb publishes them: ``(lower bound, tick)``, highest
#: band first (the connector keeps the authoritative decimal copy).
KRW_TICKS: tuple[tuple[float, float], ...] = (
    (1_000_000.0, 1000.0),
    (500_000.0, 500.0),
    (100_000.0, 100.0),
    (50_000.0, 50.0),
    (10_000.0, 10.0),
    (5_000.0, 5.0),
    (100.0, 1.0),
    (10.0, 0.01),
    (1.0, 0.001),
    (0.0, 0.0001),
)

_NOISE = 1e-6  # absorbs float noise such as 0.0098 * 1e4 = 97.99999999999999


@attrs.frozen
class VenueRules:
    """The quantity step and (optionally) the price grid of one market.

    Attributes:
        quantity_decimals: sizes are multiples of ``10 ** -quantity_decimals`` (Bithumb: 4;
            8 reproduces the unrounded fill rules).
        ticks: ``(lower bound, tick)`` pairs, highest first; None leaves prices unrounded.
    """

    quantity_decimals: int = 8
    ticks: tuple[tuple[float, float], ...] | None = None

    @property
    def quantity_step(self) -> float:
        """The smallest quantity the exchange accepts, and the unit of every size."""
        return 10.0**-self.quantity_decimals

    def floor_quantity(self, quantity: float) -> float:
        """``quantity`` cut down to the step (with 8 decimals: ``floor8`` of the fill rules)."""
        scale = 10.0**self.quantity_decimals
        units = quantity * scale
        # The noise allowance grows with the size: at 3e10 units one float step is 4e-6, so
        # a quantity already on the step (292.21111539) would otherwise lose a unit.
        return math.floor(units + max(_NOISE, abs(units) * 1e-15)) / scale

    def tick(self, price: float) -> float | None:
        """The tick at ``price`` (None when prices are not rounded)."""
        if self.ticks is None:
            return None
        for bound, tick in self.ticks:
            if price >= bound:
                return tick
        return self.ticks[-1][1]

    def price_down(self, price: float) -> float:
        """The highest price on the grid at or below ``price`` (where a falling price meets it)."""
        tick = self.tick(price)
        if tick is None:
            return price
        return _on_grid(math.floor(price / tick + 1e-9), tick)

    def price_up(self, price: float) -> float:
        """The lowest price on the grid at or above ``price`` (where a rising price meets it)."""
        tick = self.tick(price)
        if tick is None:
            return price
        up = _on_grid(math.ceil(price / tick - 1e-9), tick)
        coarser = self.tick(up)  # rounding up may cross into a band with a coarser tick
        if coarser is not None and coarser != tick:
            up = _on_grid(math.ceil(up / coarser - 1e-9), coarser)
        return up


def _on_grid(units: int, tick: float) -> float:
    # Rounded to the tick's decimals: 3 * 0.01 is 0.030000000000000002 in floating point.
    decimals = max(0, -math.floor(math.log10(tick)))
    return round(units * tick, decimals)
