"""Exponential backoff, the one formula every retry loop in tradekit uses."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["backoff_delay"]

_MAX_DOUBLINGS = 32  # 2**32 times any sane first delay is past every cap: no float overflow


def backoff_delay(
    retry: int,
    first: float,
    cap: float,
    *,
    jitter: Callable[[], float] | None = None,
) -> float:
    """Seconds to wait before retry number ``retry`` (0 for the first retry).

    The delay doubles from ``first`` up to ``cap``. With ``jitter`` (a function returning a
    number in [0, 1), e.g. ``random.random``) it is "equal jitter": somewhere between half
    and all of the delay, which keeps backing off while spreading clients that failed at the
    same moment.
    """
    delay = min(cap, first * 2.0 ** min(max(retry, 0), _MAX_DOUBLINGS))
    if jitter is None:
        return delay
    return delay / 2 + jitter() * delay / 2
