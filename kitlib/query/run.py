"""Run a catalog query by name on any backend, filling the analysis window when it is not given."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kitlib.backends.base import Backend, QueryResult
from kitlib.query.catalog import get_query


def run_query(
    backend: Backend,
    name: str,
    *,
    now: dt.datetime | None = None,
    lookback: dt.timedelta | None = None,
    **parameters: Any,
) -> QueryResult:
    """Run query ``name``; ``start``/``end`` default to ``[now - lookback, now]`` when declared.

    ``now`` defaults to the current time; pass it for reproducible runs.
    """
    query = get_query(name)
    declared = {p.name for p in query.parameters}
    if {"start", "end"} <= declared and ("start" not in parameters or "end" not in parameters):
        end = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        parameters.setdefault("end", end)
        parameters.setdefault("start", end - (lookback or dt.timedelta(days=30)))
    return backend.run(query, parameters)
