"""The store's tables, as SQLAlchemy Core :class:`~sqlalchemy.Table` objects.

Models stay free of the ORM: :mod:`tradekit.store.rows` converts between them and rows.
Times are UTC milliseconds (``BigInteger``); amounts are exact decimals
(:class:`~tradekit.store.types.Money`); candle values and ratios are floats because the
models and the backtest contract define them on floats.

Changing a table needs a new migration in ``migrations/versions`` (a test compares the two).
"""

from __future__ import annotations

import sqlalchemy as sa

from tradekit.store.types import Money

__all__ = [
    "candles",
    "daily_performance",
    "events",
    "fills",
    "metadata",
    "orders",
    "positions",
    "runs",
    "signals",
]

# Named constraints keep migrations reproducible across SQLite and PostgreSQL.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> sa.Column[int]:
    # BIGINT on servers; SQLite only auto-increments a column declared exactly INTEGER.
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return sa.Column("id", id_type, primary_key=True, autoincrement=True)


def _run_id() -> sa.Column[str | None]:
    return sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True, index=True)


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("started_ms", sa.BigInteger, nullable=False),
    sa.Column("ended_ms", sa.BigInteger, nullable=True),
    # A digest of the config with secrets removed: tells runs apart, never reveals a secret.
    sa.Column("config_digest", sa.String(64), nullable=True),
    sa.Column("version", sa.String(32), nullable=False),
)

candles = sa.Table(
    "candles",
    metadata,
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("timeframe", sa.String(8), primary_key=True),
    sa.Column("time_ms", sa.BigInteger, primary_key=True),
    sa.Column("open", sa.Double, nullable=False),
    sa.Column("high", sa.Double, nullable=False),
    sa.Column("low", sa.Double, nullable=False),
    sa.Column("close", sa.Double, nullable=False),
    sa.Column("volume", sa.Double, nullable=False),
)

signals = sa.Table(
    "signals",
    metadata,
    _id(),
    _run_id(),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("price", Money, nullable=False),
    sa.Column("confidence", sa.Double, nullable=False),
    # Prices implied by the exit plan (for people reading the table) ...
    sa.Column("stop_loss", Money, nullable=True),
    sa.Column("take_profit", Money, nullable=True),
    # ... and the plan itself, so the signal can be rebuilt exactly.
    sa.Column("stop_loss_fraction", sa.Double, nullable=True),
    sa.Column("take_profit_fraction", sa.Double, nullable=True),
    sa.Column("take_profit_share", sa.Double, nullable=False),
    sa.Column("trailing_stop", sa.Double, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index(None, "market", "time_ms"),
)

orders = sa.Table(
    "orders",
    metadata,
    _id(),
    _run_id(),
    sa.Column("client_order_id", sa.String(64), nullable=False, unique=True),
    sa.Column("exchange_order_id", sa.String(64), nullable=True, index=True),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("price", Money, nullable=True),
    sa.Column("volume", Money, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("executed_volume", Money, nullable=False),
    sa.Column("average_price", Money, nullable=True),
    sa.Column("fee", Money, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    # JSON of an entry's ExitPlan (migration 0002): a restart protects what the order bought.
    sa.Column("exit_plan", sa.Text, nullable=True),
)

fills = sa.Table(
    "fills",
    metadata,
    _id(),
    _run_id(),
    # Not a foreign key: simulated fills (backtest, paper) have no stored order.
    sa.Column("client_order_id", sa.String(64), nullable=True, index=True),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("price", Money, nullable=False),
    sa.Column("quantity", Money, nullable=False),
    sa.Column("fee", Money, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Index(None, "market", "time_ms"),
)

positions = sa.Table(
    "positions",
    metadata,
    _id(),
    _run_id(),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("entry_time_ms", sa.BigInteger, nullable=False),
    sa.Column("average_price", Money, nullable=False),
    sa.Column("size", Money, nullable=False),
    sa.Column("last_price", Money, nullable=True),
    sa.Column("unrealized_pnl", Money, nullable=False),
    sa.Column("stop", Money, nullable=True),
    sa.Column("take_profit", Money, nullable=True),
    sa.Column("take_profit_reached", sa.Boolean, nullable=False),
    sa.Column("highest", Money, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    # One row per position (market + entry time); later states overwrite it.
    sa.UniqueConstraint("market", "entry_time_ms"),
)

daily_performance = sa.Table(
    "daily_performance",
    metadata,
    sa.Column("trading_day", sa.Date, primary_key=True),
    _run_id(),
    sa.Column("start_equity", Money, nullable=False),
    sa.Column("end_equity", Money, nullable=False),
    sa.Column("profit", Money, nullable=False),
    sa.Column("max_drawdown", sa.Double, nullable=False),
    sa.Column("win_rate", sa.Double, nullable=True),
    sa.Column("trades", sa.Integer, nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    _id(),
    _run_id(),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("time_ms", sa.BigInteger, nullable=False, index=True),
    sa.Column("payload", sa.JSON, nullable=False),
)
