"""When the store tries again: which database errors are temporary, and for how long.

A locked SQLite file or a lost or refused server connection is retried with bounded backoff;
anything else (a constraint, a missing table) is a mistake and is raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import attrs
import sqlalchemy as sa

from tradekit.backoff import backoff_delay

__all__ = ["RetryPolicy", "is_transient", "reason"]


@attrs.frozen
class RetryPolicy:
    """How long the store keeps trying when the database is locked or unreachable.

    Attributes:
        attempts: tries in all (at least 1).
        first_delay: seconds to wait after the first failure; doubled after each later one.
        max_delay: the longest wait between two tries.
        sleep: the function that waits (tests pass one that does not).
    """

    attempts: int = 6
    first_delay: float = 0.05
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> Iterator[float]:
        """The waits between tries, in order."""
        for retry in range(max(self.attempts, 1) - 1):
            yield backoff_delay(retry, self.first_delay, self.max_delay)


_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def is_transient(exc: sa.exc.SQLAlchemyError, dialect: str) -> bool:
    """True for errors worth retrying: locks, lost or refused connections."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    if dialect == "sqlite":
        # SQLite also reports plain mistakes ("no such table") as OperationalError.
        message = str(exc.orig).lower()
        return any(word in message for word in _SQLITE_TRANSIENT)
    return True


def reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]
