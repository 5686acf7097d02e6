"""Run a catalog query by name on any backend, filling the analysis window when it is not given."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from kitlib.backends.base import Backend, QueryResult
from kitlib.errors import UsageError
from kitlib.query.catalog import Query, get_query

#: What :func:`run_query` does when the workspace lacks a table the query needs.
IF_ABSENT = ("raise", "empty")


def run_query(
    backend: Backend,
    name: str,
    *,
    now: dt.datetime | None = None,
    lookback: dt.timedelta | None = None,
    if_absent: str = "raise",
    **parameters: Any,
) -> QueryResult:
    """Run query ``name``; ``start``/``end`` default to ``[now - lookback, now]`` when declared.

    ``now`` defaults to the current time; pass it for reproducible runs. ``if_absent="empty"``
    lets a page carry on without a table: every table the workspace lacks stands in as an empty
    table typed from the registry (as optional tables always do), and the result names it in
    ``missing_tables``, so the page can say it could not look instead of failing.
    """
    if if_absent not in IF_ABSENT:
        raise UsageError(f"if_absent must be one of {', '.join(IF_ABSENT)}, not {if_absent!r}")
    query = get_query(name)
    declared = {p.name for p in query.parameters}
    if {"start", "end"} <= declared and ("start" not in parameters or "end" not in parameters):
        end = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        parameters.setdefault("end", end)
        parameters.setdefault("start", end - (lookback or dt.timedelta(days=30)))
    if if_absent == "empty":
        query = every_table_optional(query)
    return backend.run(query, parameters)


def every_table_optional(query: Query) -> Query:
    """``query`` with all its tables optional: an absent one becomes an empty typed stand-in."""
    return dataclasses.replace(query, tables=(), optional_tables=query.all_tables)
