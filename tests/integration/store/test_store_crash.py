"""A writer killed with SIGKILL mid-write leaves a store that opens and can be reconciled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa

from tradekit.models import OrderStatus
from tradekit.store import Store, check_schema, make_engine

CHILD = Path(__file__).with_name("store_crash_child.py")


def _run_and_kill(url: str, writes: int) -> dict[str, str]:
    """Run the child until it reports ``writes`` committed writes, then SIGKILL it."""
    committed: dict[str, str] = {}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for count, line in enumerate(child.stdout, start=1):
            cid, status = line.split()
            committed[cid] = status
            if count >= writes:
                break
        # Killed while it keeps writing: most likely in the middle of a transaction.
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        # Whatever it printed before dying was committed too.
        for line in child.stdout:
            cid, _, status = line.strip().partition(" ")
            if status:
                committed[cid] = status
        stderr = child.stderr.read() if child.stderr else ""
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL, stderr
    assert committed, stderr
    return committed


@pytest.mark.slow
def test_killed_writer_leaves_a_usable_store(store_url: str) -> None:
    committed = _run_and_kill(store_url, writes=150)

    engine = make_engine(store_url)
    try:
        check_schema(engine)
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        engine.dispose()

    with Store.open(store_url) as store:
        stored = {o.client_order_id: o for o in store.orders()}
        # Every write the child saw committed is there, in at least that state.
        for cid, status in committed.items():
            assert cid in stored
            if status == "filled":
                assert stored[cid].status is OrderStatus.FILLED
        candidates = store.reconcile_candidates()
        assert candidates
        assert {o.status for o in candidates} == {OrderStatus.NEW}
        assert {o.client_order_id for o in candidates} == {
            cid for cid, o in stored.items() if o.status is OrderStatus.NEW
        }
        # The runner marks what it cannot confirm, and the store keeps working after the crash.
        lost = attrs.evolve(
            candidates[0], status=OrderStatus.UNKNOWN, updated_ms=candidates[0].updated_ms + 1
        )
        store.update_order(lost)
        assert store.order(lost.client_order_id) == lost
        [run] = store.runs()
        assert run["ended_ms"] is None  # the crash left the run open, as it should
        with store.engine.connect() as conn:
            fills = conn.execute(sa.text("SELECT count(*) FROM fills")).scalar()
        filled = sum(1 for o in stored.values() if o.status is OrderStatus.FILLED)
        # The child may have died between storing a fill and updating its order.
        assert fills in (filled, filled + 1)
