"""Start a throwaway PostgreSQL server for the tests with ``.ci/postgres.sh``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import attrs
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "postgres.sh"


@attrs.frozen
class PostgresServer:
    """A server to create test databases on; ``base`` is set when this process started it."""

    url: str
    base: Path | None = None

    def stop(self) -> None:
        """Stop the server if this process started it."""
        if self.base is None:
            return
        env = {**os.environ, "TRADEKIT_PG_DIR": str(self.base)}
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, check=False, timeout=60)


def reachable(url: str) -> str | None:
    """None when ``url`` answers a query, else the reason."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any failure means "not usable"; the reason is reported
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def start_postgres(env_url: str | None) -> tuple[PostgresServer | None, list[str]]:
    """A usable server: ``env_url`` if it answers, else one started here; with the problems."""
    problems: list[str] = []
    if env_url:
        problem = reachable(env_url)
        if problem is None:
            return PostgresServer(env_url), problems
        problems.append(f"TRADEKIT_TEST_POSTGRES_URL does not answer ({problem})")
    else:
        problems.append("TRADEKIT_TEST_POSTGRES_URL is not set")
    if shutil.which("bash") is None or not SCRIPT.exists():
        problems.append(f"cannot run {SCRIPT}")
        return None, problems
    # Under /tmp rather than pytest's tmp dir: the server runs as the `postgres` user, who
    # cannot enter root's private pytest directories.
    base = Path(tempfile.gettempdir()) / f"tradekit-pytest-pg-{os.getpid()}"
    env = {**os.environ, "TRADEKIT_PG_DIR": str(base)}
    try:
        done = subprocess.run(
            [str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        problems.append(f"{SCRIPT.name} failed: {exc}")
        return None, problems
    prefix = "export TRADEKIT_TEST_POSTGRES_URL="
    urls = [
        line.removeprefix(prefix) for line in done.stdout.splitlines() if line.startswith(prefix)
    ]
    if done.returncode != 0 or not urls:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        problems.append(f"{SCRIPT.name} could not start a server ({tail})")
        PostgresServer("", base).stop()
        return None, problems
    return PostgresServer(urls[0], base), problems
