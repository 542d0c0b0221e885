"""WAL readers beside a writer, locked and unreachable databases."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tradekit.errors import StorageError
from tradekit.models import Order, OrderStatus, OrderType, Side
from tradekit.store import RetryPolicy, Store, make_engine

T0 = 1_700_000_000_000


def order(i: int) -> Order:
    return Order(
        f"tk-{i}",
        "KRW-BTC",
        Side.BUY,
        OrderType.MARKET,
        None,
        10_000.0,
        OrderStatus.NEW,
        T0 + i,
        T0 + i,
    )


class Sleeps:
    """A RetryPolicy sleep that records the waits instead of waiting, then runs ``then``."""

    def __init__(self, then: object = None) -> None:
        self.delays: list[float] = []
        self.then = then

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if callable(self.then):
            self.then()
            self.then = None


def test_sqlite_connections_use_wal(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url, busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_a_reader_reads_while_a_write_is_open(store_url: str) -> None:
    with Store.open(store_url) as writer_store, Store.open(store_url) as reader:
        writer_store.record_order(order(0))
        with writer_store.engine.connect() as writer:
            writer.execution_options(tradekit_sqlite_begin="IMMEDIATE")
            with writer.begin():
                writer.execute(
                    sa.text("UPDATE orders SET status = 'open' WHERE client_order_id = 'tk-0'")
                )
                # The write lock is held; the reader neither waits nor sees the change.
                assert [o.status for o in reader.orders()] == [OrderStatus.NEW]
            assert [o.status for o in reader.orders()] == [OrderStatus.OPEN]


def test_concurrent_reader_thread_while_writing(store_url: str) -> None:
    total = 200
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()
    with Store.open(store_url) as writer, Store.open(store_url) as reader:

        def read() -> None:
            try:
                while not done.is_set():
                    seen.append(len(reader.orders()))
                seen.append(len(reader.orders()))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        try:
            for i in range(total):
                writer.record_order(order(i))
        finally:
            done.set()
            thread.join()
    assert errors == []
    assert seen == sorted(seen)  # a reader never sees a committed order disappear
    assert seen[-1] == total


def _lock(path: Path) -> sqlite3.Connection:
    """Hold SQLite's write lock from another connection, as a second process would."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_locked_database_is_retried_then_raises(sqlite_url: str, tmp_path: Path) -> None:
    sleeps = Sleeps()
    retry = RetryPolicy(attempts=3, first_delay=0.5, sleep=sleeps)
    with Store.open(sqlite_url, retry=retry, busy_timeout_ms=10) as store:
        locker = _lock(tmp_path / "store.db")
        try:
            with pytest.raises(StorageError, match=r"after 3 attempts.*database is locked"):
                store.record_order(order(1))
        finally:
            locker.rollback()
            locker.close()
        assert sleeps.delays == [0.5, 1.0]
        assert store.orders() == []
        store.record_order(order(1))  # the lock is gone: writes work again
        assert store.orders() == [order(1)]


def test_a_lock_released_during_the_retries_loses_nothing(sqlite_url: str, tmp_path: Path) -> None:
    locker = None

    def release() -> None:
        assert locker is not None
        locker.commit()

    sleeps = Sleeps(then=release)
    retry = RetryPolicy(attempts=5, sleep=sleeps)
    with Store.open(sqlite_url, retry=retry, busy_timeout_ms=10) as store:
        locker = _lock(tmp_path / "store.db")
        try:
            store.record_order(order(1))
        finally:
            locker.close()
        assert len(sleeps.delays) == 1
        assert store.orders() == [order(1)]


def test_an_unreachable_server_is_retried_then_raises() -> None:
    sleeps = Sleeps()
    retry = RetryPolicy(attempts=2, sleep=sleeps)
    with pytest.raises(StorageError, match="after 2 attempts"):
        Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2", retry=retry)
    assert len(sleeps.delays) == 1


def test_a_server_going_away_mid_run_raises_storage_error() -> None:
    sleeps = Sleeps()
    store = Store(
        make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"),
        retry=RetryPolicy(attempts=3, sleep=sleeps),
    )
    try:
        with pytest.raises(StorageError, match="record order tk-1 failed after 3 attempts"):
            store.record_order(order(1))
    finally:
        store.engine.dispose()
    assert len(sleeps.delays) == 2


def test_a_plain_mistake_is_not_retried(sqlite_url: str) -> None:
    sleeps = Sleeps()
    engine = make_engine(sqlite_url)
    store = Store(engine, retry=RetryPolicy(sleep=sleeps))  # schema never created
    try:
        with pytest.raises(StorageError, match="no such table"):
            store.record_order(order(1))
    finally:
        engine.dispose()
    assert sleeps.delays == []
