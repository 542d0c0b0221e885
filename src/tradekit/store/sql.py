"""The SQL the store shares between its methods: reads of models, portable inserts and upserts.

SQLite and PostgreSQL use their native ``ON CONFLICT``; any other database gets a portable
fallback (update, then insert where nothing matched).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tradekit.models import Bar, Order
from tradekit.store import rows, tables

__all__ = ["insert_if_absent", "select_bars", "select_order", "upsert"]


def select_bars(stmt: sa.Select[Any], conn: Connection) -> list[Bar]:
    return [rows.bar_from_row(r._mapping) for r in conn.execute(stmt)]


def select_order(conn: Connection, client_order_id: str) -> Order | None:
    t = tables.orders
    row = conn.execute(sa.select(t).where(t.c.client_order_id == client_order_id)).first()
    return None if row is None else rows.order_from_row(row._mapping)


def native_insert(conn: Connection, table: sa.Table) -> Any:
    """A dialect insert with ON CONFLICT support, or None where there is none."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    return None


def insert_if_absent(
    conn: Connection, table: sa.Table, row: dict[str, Any], keys: Sequence[str]
) -> bool:
    """Insert ``row`` unless a row with the same keys exists; True when inserted."""
    stmt = native_insert(conn, table)
    if stmt is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        # rowcount is not reliable here (psycopg reports -1); RETURNING says what happened.
        returned = conn.execute(stmt.returning(table.c[keys[0]]), row).first()
        return returned is not None
    match = sa.and_(*(table.c[k] == row[k] for k in keys))
    if conn.execute(sa.select(sa.literal(1)).select_from(table).where(match)).first():
        return False
    conn.execute(table.insert(), row)
    return True


def upsert(
    conn: Connection,
    table: sa.Table,
    batch: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    newer: Callable[[Any], Any] | None = None,
) -> None:
    """Insert rows, or update ``update`` columns where the keys exist.

    ``newer(new)`` gives an extra condition for updating, in terms of the incoming row
    (``excluded``); rows failing it are left as they are.
    """
    stmt = native_insert(conn, table)
    if stmt is not None:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: stmt.excluded[c] for c in update},
            where=None if newer is None else newer(stmt.excluded),
        )
        conn.execute(stmt, list(batch))
        return
    # Portable fallback for other databases: update, insert when nothing matched.
    for row in batch:
        match = sa.and_(*(table.c[k] == row[k] for k in keys))
        upd = table.update().where(match).values({c: row[c] for c in update})
        if newer is not None:
            upd = upd.where(newer(_Literal(row)))
        if conn.execute(upd).rowcount:
            continue
        if not conn.execute(sa.select(sa.literal(1)).select_from(table).where(match)).first():
            conn.execute(table.insert(), row)


class _Literal:
    """Column access on a plain row, as bound literals (the fallback's ``excluded``)."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return sa.literal(self._row[name])
