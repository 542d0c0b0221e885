"""The breakout strategy plugin: registration, its windows and signals."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.config import ConfigError, structure_config
from tradekit.models import Bar
from tradekit.plugins import load_plugins

H = 3_600_000


def test_registered_with_spec_defaults() -> None:
    registered = load_plugins().get("strategy", "breakout")
    assert registered.cls is BreakoutStrategy
    assert registered.plugin.distribution == "tradekit-breakout"
    config = BreakoutConfig()
    assert (config.lookback, config.volume_factor, config.stop_loss, config.take_profit) == (
        20,
        1.5,
        0.015,
        0.03,
    )
    assert (config.take_profit_fraction, config.trailing_stop) == (0.5, 0.01)


def test_config_rejects_out_of_range_values() -> None:
    with pytest.raises(ConfigError) as info:
        structure_config(
            {"lookback": 0, "stop_loss": 1.5, "take_profit_fraction": -0.1},
            BreakoutConfig,
            "strategy",
        )
    assert info.value.problems == [
        "strategy.lookback: expected a number in [1, inf], got 0",
        "strategy.stop_loss: expected a number in (0, 1], got 1.5",
        "strategy.take_profit_fraction: expected a number in [0, 1], got -0.1",
    ]


@given(
    st.lists(
        st.tuples(st.integers(1, 50), st.integers(0, 20), st.sampled_from([0.0, 0.5, 1.0, 3.0])),
        min_size=1,
        max_size=200,
    ),
    st.integers(1, 30),
    st.sampled_from([0.0, 1.0, 1.5, 2.0]),
)
@example([(5, 0, 1.0), (5, 0, 1.0)], 1, 0.0)  # a close equal to the window's high: no entry
@example([(5, 0, 1.0), (6, 0, 1.0)], 1, 1.0)  # a volume equal to factor x mean: no entry
def test_signals_match_the_rule_computed_naively(
    rows: list[tuple[int, int, float]], lookback: int, factor: float
) -> None:
    """close[i] > max(high[i-lookback..i-1]) and volume[i] > factor * their mean, exactly."""
    strategy = BreakoutStrategy(BreakoutConfig(lookback=lookback, volume_factor=factor))
    highs: list[float] = []
    volumes: list[Fraction] = []
    for i, (close, extra, volume) in enumerate(rows):
        bar = Bar(
            "KRW-BTC", i * H, float(close), float(close + extra), float(close), float(close), volume
        )
        signal = strategy.on_bar(bar)
        window_h, window_v = highs[-lookback:], volumes[-lookback:]
        expected = (
            len(highs) >= lookback
            and close > max(window_h)
            and Fraction(volume) > Fraction(str(factor)) * sum(window_v) / lookback
        )
        assert (signal is not None) == expected, i
        highs.append(bar.high)
        volumes.append(Fraction(volume))


def test_signal_carries_exit_plan_and_reason() -> None:
    strategy = BreakoutStrategy(BreakoutConfig(lookback=3))
    bars = [Bar("KRW-BTC", i * H, 100.0, 101.0, 99.0, 100.0, 1.0) for i in range(3)]
    assert all(strategy.on_bar(b) is None for b in bars)
    signal = strategy.on_bar(Bar("KRW-BTC", 3 * H, 100.0, 102.0, 99.0, 102.0, 2.0))
    assert signal is not None
    assert (signal.market, signal.time_ms, signal.action, signal.price) == (
        "KRW-BTC",
        3 * H,
        "buy",
        102.0,
    )
    assert signal.exit_plan.stop_loss == 0.015
    assert signal.stop_loss_price == 102.0 * (1 - 0.015)
    assert signal.take_profit_price == 102.0 * (1 + 0.03)
    assert signal.reason == "close 102 above 3-bar high 101"
    assert strategy.warmup_bars == 3


def test_signal_depends_only_on_bars_seen_so_far() -> None:
    """Feeding the same prefix gives the same signals, whatever comes after."""
    rng = random.Random(5)
    bars = []
    price = 100.0
    for i in range(500):
        close = max(1.0, price * (1 + rng.gauss(0, 0.02)))
        bars.append(
            Bar(
                "KRW-BTC",
                i * H,
                price,
                max(price, close) * 1.01,
                min(price, close) * 0.99,
                close,
                rng.choice([0.0, 1.0, 3.0]),
            )
        )
        price = close
    full = BreakoutStrategy(BreakoutConfig(lookback=5))
    signals = [full.on_bar(b) is not None for b in bars]
    assert any(signals)
    prefix = BreakoutStrategy(BreakoutConfig(lookback=5))
    assert [prefix.on_bar(b) is not None for b in bars[:250]] == signals[:250]


# -- the whole history at once (ScansCandles) -----------------------------------------------


def _bars_from(highs_closes_volumes: list[tuple[float, float, float]]) -> list[Bar]:
    out = []
    for i, (high, close, volume) in enumerate(highs_closes_volumes):
        low = min(close, high) * 0.99
        out.append(
            Bar("KRW-BTC", 1_600_000_000_000 + i * H, close, max(high, close), low, close, volume)
        )
    return out


def _scan_matches_on_bar(bars: list[Bar], config: BreakoutConfig) -> int:
    """Assert signal_rows/signal_at give exactly what on_bar gives; return the signal count."""
    from tradekit.testing import assert_scan_matches_on_bar

    return len(assert_scan_matches_on_bar(lambda: BreakoutStrategy(config), bars))


@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 300),
    lookback=st.integers(1, 30),
    factor=st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 1.2345678, 3.0000001]),
    flat=st.booleans(),
)
@example(seed=1, n=0, lookback=1, factor=1.5, flat=False)
@example(seed=1, n=1, lookback=1, factor=0.0, flat=True)
def test_scan_gives_exactly_the_signals_of_on_bar(
    seed: int, n: int, lookback: int, factor: float, flat: bool
) -> None:
    rng = random.Random(seed)
    rows = []
    price = 1000.0
    for _ in range(n):
        price = max(1.0, price + rng.choice([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0]))  # ties and plateaus
        high = price + rng.choice([0.0, 0.0, 1.0])
        # Zero volumes (exact zero means) and repeated volumes (exact equality at the factor).
        volume = 0.0 if flat and rng.random() < 0.5 else rng.choice([0.0, 0.1, 0.15, 0.3, 1.0, 7.5])
        rows.append((high, price, volume))
    _scan_matches_on_bar(_bars_from(rows), BreakoutConfig(lookback=lookback, volume_factor=factor))


def test_scan_matches_on_bar_on_the_real_candles() -> None:
    from pathlib import Path

    from tradekit.builtin.csv_source import CsvCandleSource
    from tradekit.models import Timeframe

    path = Path(__file__).resolve().parents[3] / "examples" / "data" / "bithumb_btc_krw_1h.csv"
    bars = list(CsvCandleSource(path).bars("KRW-BTC", Timeframe("1h")))
    total = 0
    for lookback, factor in [(20, 1.5), (5, 1.0), (60, 2.0), (1, 0.0)]:
        total += _scan_matches_on_bar(bars, BreakoutConfig(lookback=lookback, volume_factor=factor))
    assert total > 1000


def test_scan_falls_back_to_on_bar_where_64_bit_sums_could_overflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1e12 units a bar x 20 bars x a factor with a 10^7 denominator is past 2^62.
    rng = random.Random(3)
    rows = []
    price = 100.0
    for _ in range(400):
        price += rng.choice([-1.0, 1.0, 2.0])
        rows.append((price, price, rng.choice([1e4, 2e4, 9e4])))
    calls = []
    by_bar = BreakoutStrategy._rows_bar_by_bar

    def counted(self: BreakoutStrategy, candles: object) -> list[int]:
        calls.append(1)
        return by_bar(self, candles)  # type: ignore[arg-type]

    monkeypatch.setattr(BreakoutStrategy, "_rows_bar_by_bar", counted)
    assert _scan_matches_on_bar(_bars_from(rows), BreakoutConfig(volume_factor=1.2345678)) > 0
    assert calls == [1]
    assert _scan_matches_on_bar(_bars_from(rows), BreakoutConfig(volume_factor=1.5)) > 0
    assert calls == [1]  # within 64 bits: the columns are used
