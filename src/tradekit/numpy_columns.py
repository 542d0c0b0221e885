"""NumPy views of the columns a backtest records (equity, times, prices), for the figures
computed after the run.

The engine and the candle readers keep their columns as ``array.array`` ('d' floats, 'q'
milliseconds): these are viewed without a copy. Any other sequence is copied once. Import
this module only where the figures are computed: the live bot never needs numpy.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["float_column", "int_column"]


def float_column(values: Sequence[float]) -> NDArray[np.float64]:
    """``values`` as float64 (a read-only view of an ``array('d')`` or a float64 array)."""
    if isinstance(values, array) and values.typecode == "d":
        return np.frombuffer(values, dtype=np.float64) if len(values) else np.empty(0)
    return np.asarray(values, dtype=np.float64)


def int_column(values: Sequence[int]) -> NDArray[np.int64]:
    """``values`` as int64 (a read-only view of an ``array('q')`` or an int64 array)."""
    if isinstance(values, array) and values.typecode == "q":
        if not len(values):
            return np.empty(0, dtype=np.int64)
        return np.frombuffer(values, dtype=np.int64)
    return np.asarray(values, dtype=np.int64)
