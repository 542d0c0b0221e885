"""Incremental indicators: O(1) (amortised) per bar, no rescanning of the window."""

from __future__ import annotations

from collections import deque

__all__ = ["RollingMax", "RollingSum"]


class RollingMax:
    """Maximum of the last ``size`` values pushed, via a monotonic deque."""

    __slots__ = ("_count", "_items", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: deque[tuple[int, float]] = deque()
        self._count = 0

    @property
    def full(self) -> bool:
        """True once ``size`` values were pushed."""
        return self._count >= self.size

    @property
    def value(self) -> float:
        """The maximum of the window (the window must not be empty)."""
        return self._items[0][1]

    def push(self, x: float) -> None:
        """Add a value; the oldest one leaves the window once it is full."""
        items = self._items
        while items and items[-1][1] <= x:
            items.pop()
        index = self._count
        items.append((index, x))
        if items[0][0] <= index - self.size:
            items.popleft()
        self._count = index + 1


class RollingSum:
    """Exact sum of the last ``size`` integers pushed (ints never drift, floats would)."""

    __slots__ = ("_count", "_pos", "_ring", "size", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self._ring = [0] * size
        self._pos = 0
        self._count = 0
        self.total = 0

    @property
    def full(self) -> bool:
        """True once ``size`` values were pushed."""
        return self._count >= self.size

    def push(self, x: int) -> None:
        """Add a value, dropping the one ``size`` pushes ago."""
        pos = self._pos
        self.total += x - self._ring[pos]
        self._ring[pos] = x
        self._pos = pos + 1 if pos + 1 < self.size else 0
        self._count += 1
