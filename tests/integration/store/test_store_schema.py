"""Migrations: empty database to head, no drift from the tables, the start-up check, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from tradekit.errors import StorageError
from tradekit.store import check_schema, make_engine, upgrade
from tradekit.store.cli import db
from tradekit.store.schema import current_revision, head_revision
from tradekit.store.tables import metadata

BASE_CONFIG = (
    "mode: backtest\nmarkets: [KRW-BTC]\nstrategy: {use: breakout}\n"
    "backtest: {data: {KRW-BTC: candles.csv}}\n"
)


def test_upgrade_from_empty_reaches_head_without_drift(store_url: str) -> None:
    upgrade(store_url)
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) == head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_upgrade_twice_is_harmless(store_url: str) -> None:
    upgrade(store_url)
    upgrade(store_url)
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_check_schema_creates_a_new_database_at_head(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) is None
        check_schema(engine)
        assert current_revision(engine) == head_revision()
        check_schema(engine)  # and accepts it from then on
    finally:
        engine.dispose()


def test_check_schema_refuses_a_database_ahead(store_url: str) -> None:
    upgrade(store_url)
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00d'")
        with pytest.raises(StorageError, match="newer than this tradekit") as info:
            check_schema(engine)
        assert "upgrade tradekit" in str(info.value)
    finally:
        engine.dispose()


def test_check_schema_refuses_a_database_behind(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(store_url, "0001")  # a database made by an older tradekit
    engine = make_engine(store_url)
    try:
        with pytest.raises(StorageError, match="behind 0002") as info:
            check_schema(engine)
        assert "tradekit db upgrade CONFIG" in str(info.value)
    finally:
        engine.dispose()


def test_check_schema_refuses_tables_without_a_revision(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        metadata.create_all(engine, tables=[metadata.tables["runs"]])
        with pytest.raises(StorageError, match="no schema revision"):
            check_schema(engine)
    finally:
        engine.dispose()


def test_check_schema_reports_an_unreachable_server() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    try:
        with pytest.raises(StorageError, match="cannot open the store"):
            check_schema(engine)
    finally:
        engine.dispose()


def test_db_upgrade_command_reads_storage_url(store_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(BASE_CONFIG + f"storage:\n  url: '{store_url}'\n", encoding="utf-8")
    result = CliRunner().invoke(db, ["upgrade", str(config)])
    assert result.exit_code == 0, result.output
    assert f"schema revision {head_revision()}" in result.output
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) == head_revision()
        check_schema(engine)
    finally:
        engine.dispose()
    shown = CliRunner().invoke(db, ["current", str(config)])
    assert shown.exit_code == 0, shown.output
    assert f"revision {head_revision()}, head {head_revision()}" in shown.output


def test_db_upgrade_command_defaults_to_tradekit_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(BASE_CONFIG, encoding="utf-8")
    result = CliRunner().invoke(db, ["upgrade", str(config)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tradekit.db").exists()
