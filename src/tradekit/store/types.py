"""Column types shared by the tables and the migrations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

__all__ = ["Money", "money_column_type"]


def money_column_type() -> TypeEngine[Any]:
    """The DDL type of a money column: ``NUMERIC`` (exact, unbounded), text on SQLite.

    SQLite has no decimal type: ``NUMERIC`` there is a float affinity that silently rounds, so
    amounts are kept as exact decimal strings instead. Migrations use this same function, so
    the tables and the migrated schema cannot drift apart.
    """
    return sa.Numeric(asdecimal=True).with_variant(sa.String(64), "sqlite")


class Money(sa.types.TypeDecorator[Decimal]):
    """An exact decimal amount (price, quantity, fee, profit).

    Binds ``Decimal``, ``int`` or ``float`` (a float is taken at its shortest repr, so
    ``0.1`` is stored as ``0.1``, not ``0.1000000000000000055...``); returns ``Decimal``.
    """

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(64))
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = value if isinstance(value, Decimal) else Decimal(repr(value))
        if dialect.name == "sqlite":
            return format(d, "f")
        return d

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))
