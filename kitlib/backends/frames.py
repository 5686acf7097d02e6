"""Normalise result frames so every backend hands the analysis the same dtypes.

Datetimes become timezone-aware UTC, ``dynamic`` values become Python objects (as the
``azure-kusto-data`` helper returns them), strings stay ``object``. Golden tests and the
analysis then never depend on which engine or pandas version produced a frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd


def _parse_dynamic(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def normalize(
    frame: pd.DataFrame, dynamic_columns: Iterable[str] = (), datetime_columns: Iterable[str] = ()
) -> pd.DataFrame:
    """Return ``frame`` with UTC datetimes and parsed dynamic columns (in place where possible)."""
    for column in datetime_columns:
        if column in frame.columns:
            frame[column] = to_utc(frame[column])
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = to_utc(frame[column])
    for column in dynamic_columns:
        if column in frame.columns:
            frame[column] = frame[column].map(_parse_dynamic)
    return frame


def to_utc(series: pd.Series) -> pd.Series:
    """A datetime series as ``datetime64[ns, UTC]``; naive values are taken to be UTC."""
    converted = pd.to_datetime(series, utc=True, errors="raise")
    return converted.astype("datetime64[ns, UTC]")
