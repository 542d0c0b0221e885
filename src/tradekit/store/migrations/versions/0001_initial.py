"""Initial schema: runs, candles, signals, orders, fills, positions, daily_performance, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tradekit.store.types import money_column_type

# Written out here rather than imported from tables.py: a migration must not change when the
# tables do. Money columns use the shared type function (exact NUMERIC; text on SQLite).
MONEY = money_column_type()
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "candles",
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.Double(), nullable=False),
        sa.Column("high", sa.Double(), nullable=False),
        sa.Column("low", sa.Double(), nullable=False),
        sa.Column("close", sa.Double(), nullable=False),
        sa.Column("volume", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("market", "timeframe", "time_ms", name=op.f("pk_candles")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.Column("config_digest", sa.String(length=64), nullable=True),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "daily_performance",
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("start_equity", MONEY, nullable=False),
        sa.Column("end_equity", MONEY, nullable=False),
        sa.Column("profit", MONEY, nullable=False),
        sa.Column("max_drawdown", sa.Double(), nullable=False),
        sa.Column("win_rate", sa.Double(), nullable=True),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_daily_performance_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("trading_day", name=op.f("pk_daily_performance")),
    )
    op.create_index(
        op.f("ix_daily_performance_run_id"), "daily_performance", ["run_id"], unique=False
    )
    op.create_table(
        "events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_events_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_kind"), "events", ["kind"], unique=False)
    op.create_index(op.f("ix_events_run_id"), "events", ["run_id"], unique=False)
    op.create_index(op.f("ix_events_time_ms"), "events", ["time_ms"], unique=False)
    op.create_table(
        "fills",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_fills_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
    )
    op.create_index(op.f("ix_fills_client_order_id"), "fills", ["client_order_id"], unique=False)
    op.create_index(op.f("ix_fills_market_time_ms"), "fills", ["market", "time_ms"], unique=False)
    op.create_index(op.f("ix_fills_run_id"), "fills", ["run_id"], unique=False)
    op.create_table(
        "orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("exchange_order_id", sa.String(length=64), nullable=True),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("price", MONEY, nullable=True),
        sa.Column("volume", MONEY, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("executed_volume", MONEY, nullable=False),
        sa.Column("average_price", MONEY, nullable=True),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_orders_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    op.create_index(
        op.f("ix_orders_exchange_order_id"), "orders", ["exchange_order_id"], unique=False
    )
    op.create_index(op.f("ix_orders_run_id"), "orders", ["run_id"], unique=False)
    op.create_index(op.f("ix_orders_status"), "orders", ["status"], unique=False)
    op.create_table(
        "positions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("entry_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("average_price", MONEY, nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("last_price", MONEY, nullable=True),
        sa.Column("unrealized_pnl", MONEY, nullable=False),
        sa.Column("stop", MONEY, nullable=True),
        sa.Column("take_profit", MONEY, nullable=True),
        sa.Column("take_profit_reached", sa.Boolean(), nullable=False),
        sa.Column("highest", MONEY, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_positions_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint(
            "market", "entry_time_ms", name=op.f("uq_positions_market_entry_time_ms")
        ),
    )
    op.create_index(op.f("ix_positions_run_id"), "positions", ["run_id"], unique=False)
    op.create_index(op.f("ix_positions_status"), "positions", ["status"], unique=False)
    op.create_table(
        "signals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("stop_loss", MONEY, nullable=True),
        sa.Column("take_profit", MONEY, nullable=True),
        sa.Column("stop_loss_fraction", sa.Double(), nullable=True),
        sa.Column("take_profit_fraction", sa.Double(), nullable=True),
        sa.Column("take_profit_share", sa.Double(), nullable=False),
        sa.Column("trailing_stop", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_signals_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    op.create_index(
        op.f("ix_signals_market_time_ms"), "signals", ["market", "time_ms"], unique=False
    )
    op.create_index(op.f("ix_signals_run_id"), "signals", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_signals_run_id"), table_name="signals")
    op.drop_index(op.f("ix_signals_market_time_ms"), table_name="signals")
    op.drop_table("signals")
    op.drop_index(op.f("ix_positions_status"), table_name="positions")
    op.drop_index(op.f("ix_positions_run_id"), table_name="positions")
    op.drop_table("positions")
    op.drop_index(op.f("ix_orders_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_run_id"), table_name="orders")
    op.drop_index(op.f("ix_orders_exchange_order_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_index(op.f("ix_fills_run_id"), table_name="fills")
    op.drop_index(op.f("ix_fills_market_time_ms"), table_name="fills")
    op.drop_index(op.f("ix_fills_client_order_id"), table_name="fills")
    op.drop_table("fills")
    op.drop_index(op.f("ix_events_time_ms"), table_name="events")
    op.drop_index(op.f("ix_events_run_id"), table_name="events")
    op.drop_index(op.f("ix_events_kind"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_daily_performance_run_id"), table_name="daily_performance")
    op.drop_table("daily_performance")
    op.drop_table("runs")
    op.drop_table("candles")
