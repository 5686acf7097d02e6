"""What every backend offers: run a catalog query with parameters, get a normalised frame back.

The local engine (:mod:`kitlib.backends.local`) and the live services
(:mod:`kitlib.backends.kusto`) share this interface, so the analysis and the notebooks never
know which one answered. :func:`kitlib.backends.connect.connect` is the one place that picks
one. A backend holds a connection: close it, or use it as a context manager::

    with connect("build/demo-tenant") as backend:
        frame = run_query(backend, "arm_writes_mfa_daily").frame
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

import pandas as pd

from kitlib.query.catalog import Query


@dataclass
class QueryResult:
    """A query's rows and what is known about how complete they are."""

    query: str
    frame: pd.DataFrame
    elapsed_seconds: float
    complete: bool = True
    warnings: list[str] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.frame)


class Backend(Protocol):
    """The contract the analysis relies on."""

    #: Human-readable description for report headers ("local workspace demo/", "Log Analytics ws1").
    description: str

    def run(self, query: Query, parameters: Mapping[str, Any]) -> QueryResult:
        """Run ``query`` with typed ``parameters``; raise a KitError subclass on failure."""
        ...

    def available_tables(self) -> set[str]:
        """Names of the registry tables this backend can see."""
        ...

    def close(self) -> None:
        """Release the connection; the backend is not used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ClosingBackend:
    """Context-manager use for a concrete backend: ``with`` closes it, whatever happened inside."""

    def close(self) -> None:
        """Subclasses release what they hold."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def window(now: dt.datetime, lookback: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    """The analysis window ``[now - lookback, now]`` in UTC."""
    end = now.astimezone(dt.UTC)
    return end - lookback, end
