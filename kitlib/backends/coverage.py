"""Which times the data in a workspace covers, and what to do when the window misses it.

A report over a window that holds no rows is not a finding ("nobody writes without MFA"), it is
a misplaced window: an export from last spring analysed with today's ``--now``. This module asks
each table how many rows it has, how many fall in the window and from when to when, so the
batch runner, the doctor and the pages can name the data's real time range, suggest a ``--now``
that covers it, and divide per-day rates by the days the data covers rather than the window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kitlib.backends.base import Backend
from kitlib.query.catalog import Query, parse_query
from kitlib.timeparse import format_timespan

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Coverage:
    """How one present table's rows lie in time, against the analysis window ``[start, end)``."""

    table: str
    total_rows: int
    rows_in_window: int
    oldest: dt.datetime | None
    newest: dt.datetime | None

    def days_covered(self, start: dt.datetime, end: dt.datetime) -> float:
        """Days of ``[start, end)`` the table has data for (from its first to its last row), at least one.

        A per-day rate divided by the window's length would understate activity whenever the
        data starts late (retention, a diagnostic setting switched on mid-window) or stops early.
        """
        if self.oldest is None or self.newest is None:
            return max((end - start) / DAY, 1.0)
        low, high = max(start, self.oldest), min(end, self.newest)
        return max((high - low) / DAY, 1.0) if high > low else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "total_rows": self.total_rows,
            "rows_in_window": self.rows_in_window,
            "oldest": _iso(self.oldest),
            "newest": _iso(self.newest),
        }


def utility_query(kind: str, table: str, body: str, declares_window: bool) -> Query:
    """A one-off query over ``table`` in the catalog's form, so every backend runs it the usual way."""
    name = f"kitlib_{kind}_{table}"
    declare = "declare query_parameters(start:datetime, end:datetime);\n" if declares_window else ""
    text = f"// name: {name}\n// description: kitlib {kind} check\n// tables: {table}\n{declare}{body}\n"
    return parse_query(Path(f"{name}.kql"), text)


def table_coverage(backend: Backend, table: str, start: dt.datetime, end: dt.datetime) -> Coverage:
    """Rows in all and in the window, and the oldest and newest ``TimeGenerated`` of a present table."""
    query = utility_query(
        "coverage",
        table,
        f"{table}\n| summarize Total = count(), InWindow = countif(TimeGenerated >= start and TimeGenerated < end), "
        f"Oldest = min(TimeGenerated), Newest = max(TimeGenerated)",
        True,
    )
    row = backend.run(query, {"start": start, "end": end}).frame.iloc[0]
    return Coverage(table, int(row["Total"]), int(row["InWindow"]), _when(row["Oldest"]), _when(row["Newest"]))


def workspace_coverage(
    backend: Backend, start: dt.datetime, end: dt.datetime, tables: Iterable[str] | None = None
) -> list[Coverage]:
    """:func:`table_coverage` of every present table (of ``tables``, default all the kit reads)."""
    present = backend.available_tables()
    wanted = sorted(present) if tables is None else [t for t in tables if t in present]
    return [table_coverage(backend, t, start, end) for t in wanted]


def suggested_window(coverages: Sequence[Coverage], lookback: dt.timedelta) -> tuple[dt.datetime, dt.timedelta] | None:
    """A ``--now`` (the midnight after the newest row) and a ``--lookback`` that cover all the data.

    The lookback stays as given when the data fits in it, else it grows to whole days.
    """
    oldest = [c.oldest for c in coverages if c.oldest is not None]
    newest = [c.newest for c in coverages if c.newest is not None]
    if not oldest or not newest:
        return None
    last = max(newest).astimezone(dt.UTC)
    now = dt.datetime(last.year, last.month, last.day, tzinfo=dt.UTC) + DAY
    needed = now - min(oldest)
    span = lookback if needed <= lookback else math.ceil(needed / DAY) * DAY
    return now, span


def empty_window_warning(
    coverages: Sequence[Coverage], start: dt.datetime, end: dt.datetime, lookback: dt.timedelta
) -> str | None:
    """What to say when no present table has a row in the window: the data's range and a --now that covers it.

    None when some table has rows in the window, or no table is present.
    """
    if not coverages or any(c.rows_in_window for c in coverages):
        return None
    window = f"{_day(start)} .. {_day(end)}"
    if not any(c.total_rows for c in coverages):
        return f"the window {window} holds no rows: the workspace's tables ({_tables(coverages)}) are empty"
    suggestion = suggested_window(coverages, lookback)
    assert suggestion is not None  # some table has rows, so it has an oldest and a newest one
    now, span = suggestion
    held = [c for c in coverages if c.oldest and c.newest]
    first = min(c.oldest for c in held if c.oldest)
    last = max(c.newest for c in held if c.newest)
    return (
        f"the window {window} holds no rows in any table: the data covers {_day(first)} .. {_day(last)} "
        f"({', '.join(c.table for c in held)}). "
        f"Run with --now {now:%Y-%m-%dT%H:%M:%SZ} --lookback {format_timespan(span)} to analyse it"
    )


def _tables(coverages: Sequence[Coverage]) -> str:
    return ", ".join(c.table for c in coverages)


def _when(value: Any) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    moment: dt.datetime = pd.Timestamp(value).to_pydatetime()
    return moment.astimezone(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _day(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value is not None else "?"
