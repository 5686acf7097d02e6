"""Normalise result frames so every backend hands the analysis the same dtypes.

Datetimes become timezone-aware UTC, ``dynamic`` values become Python objects (as the
``azure-kusto-data`` helper returns them), strings stay ``object``. Golden tests and the
analysis then never depend on which engine or pandas version produced a frame.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd
from pandas.errors import OutOfBoundsDatetime

log = logging.getLogger(__name__)


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
    """A datetime series as ``datetime64[ns, UTC]``; naive values are taken to be UTC.

    A time pandas cannot hold (before 1677 or after 2262: Windows' ``1601-01-01`` "no date" is the
    usual one) becomes empty, with a warning naming how many, instead of failing the whole query.
    """
    converted = pd.to_datetime(series, utc=True, errors="raise")
    try:
        return converted.astype("datetime64[ns, UTC]")
    except (OutOfBoundsDatetime, OverflowError):
        lowest, highest = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
        inside = converted.isna() | ((converted >= lowest) & (converted <= highest))
        log.warning(
            "%s: %d time(s) outside the years pandas can hold (1677-2262; 1601-01-01 is Windows' 'no date') "
            "are shown as empty",
            series.name,
            int((~inside).sum()),
        )
        return converted.where(inside).astype("datetime64[ns, UTC]")
