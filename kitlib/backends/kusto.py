"""Live backends: a Log Analytics workspace through its ADX proxy, or an Azure Data Explorer database.

Both speak the Kusto REST protocol, so one class serves both, driven by ``azure-kusto-data``
with a token callback from :mod:`kitlib.settings.auth`. What it adds to the client:

- **Completeness.** Every request sets ``deferpartialqueryfailures``, so a truncated or
  partially failed result comes back with its rows instead of an exception; ``errors_count``
  is checked after every call and a partial result becomes :class:`PartialResultError`
  (carrying the rows and the service's reason) or, with ``on_partial = "warn"``, a result
  marked incomplete with the reason in its warnings. Never a silent short answer.
- **Limits.** A query that declares it may be split (``// split: by_window`` once the catalog
  accepts the key; meanwhile the ``split_queries`` option) runs as consecutive time slices
  of ``split_by`` (aligned to multiples of it, so per-day bins never straddle two slices),
  each under Log Analytics' 500,000-row / ~64 MB / 10-minute ceilings, stitched in order.
- **Transient failures.** Throttling (429), 5xx and dropped connections are retried with
  exponential backoff (honouring ``Retry-After``) up to ``max_attempts``; a 401 makes the
  token provider refresh once; a timeout says which limit to raise.
- **Parameters.** ``param_mode = "request"`` sends values as request parameters (ADX),
  ``"let"`` binds them with the typed encoder (:meth:`Query.bind_as_lets`), the default for
  Log Analytics whose query API does not take parameter values.
- **Same shapes as local.** Missing tables follow the local semantics (required -> the same
  MissingTableError, optional -> an empty table typed from the registry, with a warning) and
  frames get the same dtypes as the local engine's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests
from azure.kusto.data import ClientRequestProperties, KustoClient, KustoConnectionStringBuilder
from azure.kusto.data._models import WellKnownDataSet
from azure.kusto.data.exceptions import (
    KustoAuthenticationError,
    KustoMultiApiError,
    KustoNetworkError,
    KustoServiceError,
    KustoThrottlingError,
)
from azure.kusto.data.helpers import parse_timedelta
from azure.kusto.data.kusto_trusted_endpoints import MatchRule, well_known_kusto_endpoints

from kitlib.backends.base import ClosingBackend, QueryResult
from kitlib.backends.frames import normalize
from kitlib.domain.schema import TABLES
from kitlib.errors import (
    AuthError,
    KitError,
    MissingTableError,
    PartialResultError,
    QueryDefinitionError,
    QueryExecutionError,
    QueryTimeoutError,
    ThrottledError,
)
from kitlib.query.binding import kql_literal
from kitlib.query.catalog import Query
from kitlib.settings.auth import build_provider
from kitlib.settings.config import DEFAULT_SERVER_TIMEOUT, WorkspaceConfig

log = logging.getLogger(__name__)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_UNRESOLVED = re.compile(r"[Ff]ailed to resolve (?:table or column|table|scalar) expression named '([^']+)'")
_TRANSIENT_STATUS = frozenset({500, 502, 503})
_BETWEEN_WINDOW = re.compile(r"between\s*\(\s*start\s*\.\.\s*end\s*\)", re.IGNORECASE)
_HALF_OPEN = (re.compile(r">=\s*start\b"), re.compile(r"<\s*end\b"))

#: Result ceilings of the Log Analytics query API, for the messages that explain a truncation.
LA_LIMITS = "500,000 rows, ~64 MB compressed, 10 minutes per request"


@dataclass(frozen=True)
class LiveOptions:
    """How a live backend sends queries; every field is settable per workspace in the config."""

    param_mode: str = "let"
    server_timeout: dt.timedelta = DEFAULT_SERVER_TIMEOUT
    max_attempts: int = 4
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    split_by: dt.timedelta | None = None
    split_queries: frozenset[str] = frozenset()
    on_partial: str = "raise"
    application: str = "kitlib"

    @classmethod
    def from_workspace(cls, ws: WorkspaceConfig) -> LiveOptions:
        return cls(
            param_mode=ws.param_mode,
            server_timeout=ws.server_timeout,
            max_attempts=ws.max_attempts,
            split_by=ws.split_by,
            split_queries=frozenset(ws.split_queries),
            on_partial=ws.on_partial,
        )


@dataclass
class _Outcome:
    frame: pd.DataFrame
    partial_reason: str | None = None
    warnings: list[str] = field(default_factory=list)


class KustoBackend(ClosingBackend):
    """Runs catalog queries on a Log Analytics workspace (ADX proxy) or an ADX database."""

    def __init__(
        self,
        url: str,
        database: str,
        token_provider: Callable[[], str],
        *,
        kind: str = "log_analytics",
        options: LiveOptions | None = None,
        now: dt.datetime | None = None,
        description: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.kind = kind
        self.options = options or LiveOptions(param_mode="let" if kind == "log_analytics" else "request")
        self.now = now
        self.token_provider = token_provider
        what = "Log Analytics workspace" if kind == "log_analytics" else "Azure Data Explorer database"
        self.description = description or f"{what} {database} ({self.url})"
        self.run_id = uuid.uuid4().hex[:12]
        self._schemas: dict[str, dict[str, str] | None] = {}
        self._client = KustoClient(KustoConnectionStringBuilder.with_token_provider(self.url, token_provider))

    # -- the Backend interface ---------------------------------------------------------------

    def run(self, query: Query, parameters: Mapping[str, Any]) -> QueryResult:
        typed = query.coerce_values(parameters)
        missing = [t for t in query.optional_tables if self.table_schema(t) is None]
        warnings = [f"table {t} is not in this workspace; treated as empty" for t in missing]
        slices = self._slices(query, typed)
        started = time.perf_counter()
        frames: list[pd.DataFrame] = []
        partial_reasons: list[str] = []
        for index, window in enumerate(slices):
            values = dict(typed)
            label = query.name
            if window is not None:
                values["start"], values["end"] = window
                label = f"{query.name} slice {index + 1}/{len(slices)} [{_iso(window[0])} .. {_iso(window[1])})"
            outcome = self._execute(query, values, missing, label)
            frames.append(outcome.frame)
            warnings.extend(outcome.warnings)
            if outcome.partial_reason is not None:
                reason = f"{label}: {outcome.partial_reason}"
                if self.options.on_partial == "raise":
                    raise PartialResultError(query.name, reason, partial=_concat(frames))
                partial_reasons.append(reason)
                warnings.append(f"INCOMPLETE RESULT: {reason}")
        frame = _concat(frames)
        elapsed = time.perf_counter() - started
        log.info(
            "query %s: %d rows in %.2fs from %s%s%s",
            query.name,
            len(frame),
            elapsed,
            self.description,
            f" ({len(slices)} slices)" if len(slices) > 1 else "",
            " PARTIAL" if partial_reasons else "",
        )
        return QueryResult(
            query.name, frame, elapsed, complete=not partial_reasons, warnings=warnings, missing_tables=missing
        )

    def available_tables(self) -> set[str]:
        return {t for t in TABLES if self.table_schema(t) is not None}

    def table_schema(self, table: str) -> dict[str, str] | None:
        """Column name -> Kusto type as the service reports it (``getschema``); None if absent."""
        if table not in self._schemas:
            if table not in TABLES:
                raise QueryExecutionError("getschema", f"{table} is not a table the kit knows")
            try:
                response = self._send(
                    f"{table} | getschema | project ColumnName, ColumnType",
                    _properties(self, f"schema-{table}"),
                    f"schema of {table}",
                )
            except MissingTableError:
                self._schemas[table] = None
            else:
                rows = _primary(response).raw_rows
                self._schemas[table] = {str(r[0]): str(r[1]) for r in rows}
        return self._schemas[table]

    def close(self) -> None:
        self._client.close()

    # -- one request --------------------------------------------------------------------------

    def _execute(self, query: Query, values: Mapping[str, Any], missing: Sequence[str], label: str) -> _Outcome:
        properties = _properties(self, query.name)
        if self.options.param_mode == "request":
            text = query.text
            for p in query.parameters:
                if p.name in values:
                    # String values go as they are (the service never parses them as code);
                    # every other type as the KQL literal of its declared type.
                    value = values[p.name] if p.kql_type == "string" else kql_literal(p.kql_type, values[p.name])
                    properties.set_parameter(p.name, value)
            if missing:
                text = _with_empty_tables(text, missing, query.declare_span)
        else:
            text = query.bind_as_lets(values)
            if missing:
                text = _empty_tables(missing) + text
        log.debug("query %s: parameters %s", label, _redacted(query, values))
        response = self._send(text, properties, label, query)
        table = _primary(response)
        frame = result_frame(table.columns, table.raw_rows)
        outcome = _Outcome(frame)
        if response.errors_count:
            outcome.partial_reason = _partial_reason(response)
            log.warning("query %s came back incomplete (%d rows): %s", label, len(frame), outcome.partial_reason)
        return outcome

    def _send(self, text: str, properties: Any, label: str, query: Query | None = None) -> Any:
        """POST one query, retrying what is worth retrying; every failure becomes a KitError."""
        name = query.name if query else label
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                return self._client.execute_query(self.database, text, properties)
            except KustoThrottlingError as exc:
                if attempt >= self.options.max_attempts:
                    raise ThrottledError(name, attempt) from None
                self._pause(attempt, _retry_after(exc), f"{label}: throttled (429)")
            except KustoAuthenticationError as exc:
                inner = exc.exception
                if isinstance(inner, KitError):
                    raise inner from None
                raise AuthError(f"could not get a token for {self.description}: {type(inner).__name__}") from None
            except KustoMultiApiError as exc:
                # The service ignored deferpartialqueryfailures and put the error inside the
                # rows: the client dropped them. Say so rather than returning nothing.
                raise PartialResultError(
                    name, f"{label}: {_api_errors(exc)} (the rows already sent were lost)"
                ) from None
            except KustoNetworkError as exc:
                if _is_timeout(exc):
                    raise QueryTimeoutError(
                        name,
                        f"{label}: no answer within the server timeout plus 30 s; "
                        f"raise server_timeout or split the window",
                    ) from None
                if attempt >= self.options.max_attempts:
                    raise QueryExecutionError(
                        name, f"{label}: cannot reach {self.url}: network error on all {attempt} attempts"
                    ) from None
                self._pause(attempt, None, f"{label}: network error")
            except KustoServiceError as exc:
                status = _status(exc)
                message = _service_message(exc)
                if status == 401:
                    refresh = getattr(self.token_provider, "refresh", None)
                    if refreshed:
                        raise AuthError(
                            f"{self.description} refused the token (401) even after a refresh: check that the "
                            f"signed-in identity can read this workspace (e.g. the Log Analytics Reader role), "
                            f"or sign in again with: kitlib auth login"
                        ) from None
                    refreshed = True
                    attempt -= 1  # a refresh is not a retry of the query
                    log.info("%s: the service refused the token (401); refreshing it once", label)
                    if callable(refresh):
                        refresh()
                    continue
                if status == 403:
                    raise AuthError(f"{self.description} denied access (403): {message}") from None
                if status == 504 or "Query is expired" in message or "80DA0006" in message:
                    raise QueryTimeoutError(
                        name,
                        f"{label}: the service stopped the query after its timeout "
                        f"(server_timeout {self.options.server_timeout}; Log Analytics allows at most 10 minutes); "
                        f"split the window (split_by) or narrow the query",
                    ) from None
                missing_table = _missing_table(message)
                if missing_table is not None:
                    raise MissingTableError(
                        missing_table, self.description, [f"table {missing_table} in database {self.database}"]
                    ) from None
                if status in _TRANSIENT_STATUS and attempt < self.options.max_attempts:
                    self._pause(attempt, None, f"{label}: service error {status}")
                    continue
                raise QueryExecutionError(name, f"{label}: {message}") from None

    def _pause(self, attempt: int, retry_after: float | None, why: str) -> None:
        delay = min(self.options.backoff_cap, self.options.backoff_base * 2 ** (attempt - 1))
        delay = delay * (0.5 + random.random() / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.options.backoff_cap))
        log.warning("%s; attempt %d of %d, retrying in %.2fs", why, attempt, self.options.max_attempts, delay)
        time.sleep(delay)

    # -- time slices --------------------------------------------------------------------------

    def _slices(self, query: Query, values: Mapping[str, Any]) -> list[tuple[dt.datetime, dt.datetime] | None]:
        step = self.options.split_by
        if step is None or not is_splittable(query, self.options.split_queries):
            return [None]
        start, end = values.get("start"), values.get("end")
        if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime) or end - start <= step:
            return [None]
        check_splittable(query)
        return list(time_slices(start, end, step))


def is_splittable(query: Query, named: Iterable[str] = ()) -> bool:
    """True when the query declared ``split: by_window`` or is named in the backend option."""
    return getattr(query, "split", None) == "by_window" or query.name in set(named)


def check_splittable(query: Query) -> None:
    """Refuse to split a query whose window is not half-open: its slices would overlap."""
    text = query.text
    if _BETWEEN_WINDOW.search(text) or not all(p.search(text) for p in _HALF_OPEN):
        raise QueryDefinitionError(
            str(query.path),
            "a query split by window must filter a half-open window (TimeGenerated >= start and "
            "TimeGenerated < end); 'between (start .. end)' includes both ends and would count a row "
            "on a slice boundary twice",
        )
    if not {"start", "end"} <= {p.name for p in query.parameters if p.kql_type == "datetime"}:
        raise QueryDefinitionError(
            str(query.path), "a query split by window must declare start:datetime and end:datetime"
        )


def time_slices(start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> Iterable[tuple[dt.datetime, dt.datetime]]:
    """Consecutive half-open windows covering ``[start, end)``, cut at multiples of ``step``.

    Cutting at multiples of ``step`` since the Unix epoch (midnight UTC for ``1d``) keeps each
    ``bin(TimeGenerated, step)`` bucket inside one slice, so per-bucket aggregates stitch.
    """
    if step <= dt.timedelta(0):
        raise ValueError("step must be positive")
    cursor = start
    while cursor < end:
        boundary = _EPOCH + ((cursor - _EPOCH) // step + 1) * step
        upper = min(boundary, end)
        yield cursor, upper
        cursor = upper


# -- requests and responses --------------------------------------------------------------------


def _properties(backend: KustoBackend, name: str) -> Any:
    properties = ClientRequestProperties()
    properties.set_option(ClientRequestProperties.results_defer_partial_query_failures_option_name, True)
    properties.set_option(ClientRequestProperties.request_timeout_option_name, backend.options.server_timeout)
    properties.set_option("results_progressive_enabled", False)
    properties.application = backend.options.application
    properties.client_request_id = f"kitlib;{backend.run_id};{name};{uuid.uuid4()}"
    return properties


def _primary(response: Any) -> Any:
    results = response.primary_results
    if not results:
        raise QueryExecutionError("response", "the service sent no primary result table")
    return results[0]


def _partial_reason(response: Any) -> str:
    """The service's own words for why a result is incomplete (QueryCompletionInformation)."""
    reasons = []
    for table in response.tables:
        if table.table_kind != WellKnownDataSet.QueryCompletionInformation:
            continue
        for row in table.raw_rows:
            record = dict(zip((c.column_name for c in table.columns), row, strict=False))
            if not isinstance(record.get("Level"), int) or record["Level"] >= 4:
                continue
            text = ""
            try:
                payload = json.loads(record.get("Payload") or "{}")
                text = str(payload.get("Text", "")) if isinstance(payload, dict) else ""
            except (TypeError, ValueError):
                text = str(record.get("Payload", ""))
            status = str(record.get("StatusCodeName") or record.get("EventTypeName") or "error")
            reasons.append(f"{status}: {text}".strip(": ") if text else status)
    if not reasons:
        reasons = list(response.get_exceptions())
    return "; ".join(reasons) or f"the service reported {response.errors_count} error(s)"


def _api_errors(exc: Any) -> str:
    parts = [f"{e.code}: {e.description or e.message}" for e in exc.get_api_errors()]
    return "; ".join(parts) or str(exc)


def _status(exc: Any) -> int | None:
    response = getattr(exc, "http_response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if isinstance(status, int) else None


def _service_message(exc: Any) -> str:
    """One readable line from a service error: the OneApi ``@message`` when there is one."""
    api = getattr(exc, "get_api_error", None)
    if callable(api):
        error = api()
        text = error.description or error.message or ""
        if text:
            return f"{error.code}: {text}" if error.code else text
    return (
        str(getattr(exc, "message_text", None) or exc).strip().splitlines()[0]
        if str(exc).strip()
        else type(exc).__name__
    )


def _missing_table(message: str) -> str | None:
    match = _UNRESOLVED.search(message)
    if match and match.group(1) in TABLES:
        return match.group(1)
    return None


def _retry_after(exc: Any) -> float | None:
    response = exc.args[1] if len(exc.args) > 1 else None
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _is_timeout(exc: BaseException) -> bool:
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, requests.exceptions.Timeout):
            return True
        cause = cause.__cause__
    return False


def _empty_tables(tables: Sequence[str]) -> str:
    """``let`` statements standing in for absent tables: empty, typed as in the registry."""
    lines = []
    for t in tables:
        columns = ", ".join(f"['{c}']:{k}" for c, k in TABLES[t].columns)
        lines.append(f"let {t} = datatable({columns})[];")
    return "\n".join(lines) + "\n"


def _with_empty_tables(text: str, tables: Sequence[str], declare_span: tuple[int, int] | None) -> str:
    if declare_span is None:
        return _empty_tables(tables) + text
    end = declare_span[1]
    return text[:end] + "\n" + _empty_tables(tables) + text[end:]


def _redacted(query: Query, values: Mapping[str, Any]) -> dict[str, str]:
    """Parameter values for a debug line: strings (possibly personal data) as short hashes."""
    shown = {}
    for p in query.parameters:
        if p.name not in values:
            continue
        value = values[p.name]
        if p.kql_type in ("string", "dynamic"):
            shown[p.name] = f"<{p.kql_type} sha256:{hashlib.sha256(repr(value).encode()).hexdigest()[:8]}>"
        else:
            shown[p.name] = str(value)
    return shown


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- frames -------------------------------------------------------------------------------------


def result_frame(columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A frame from v2 result columns/rows with the dtypes the local engine produces."""
    names = [c.column_name for c in columns]
    frame = pd.DataFrame(list(rows), columns=names) if rows else pd.DataFrame({n: [] for n in names})
    for column in columns:
        frame[column.column_name] = _convert(frame[column.column_name], str(column.column_type).lower())
    return normalize(frame)


def _convert(series: pd.Series, kusto_type: str) -> pd.Series:
    has_nulls = bool(series.isna().any())
    if kusto_type in ("datetime", "date"):
        return pd.to_datetime(series, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    if kusto_type in ("long", "int64"):
        return series.astype("Int64" if has_nulls else "int64")
    if kusto_type in ("int", "int32"):
        return series.astype("Int32" if has_nulls else "int32")
    if kusto_type in ("real", "double", "decimal"):
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        return pd.to_numeric(series.map(lambda v: special.get(v, v) if isinstance(v, str) else v)).astype("float64")
    if kusto_type in ("bool", "boolean"):
        return series.astype("boolean" if has_nulls else "bool")
    if kusto_type in ("timespan", "time"):
        return series.map(lambda v: parse_timedelta(v) if v is not None else pd.NaT).astype("timedelta64[ns]")
    return series.astype(object)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0]
    non_empty = [f for f in frames if len(f)]
    if not non_empty:
        return frames[0]
    stitched = pd.concat(non_empty, ignore_index=True)
    for column in stitched.columns:
        # An int column that had nulls in one slice only comes back as float or object.
        kinds = {str(f[column].dtype) for f in non_empty}
        if kinds <= {"int64", "Int64"}:
            stitched[column] = stitched[column].astype("Int64" if "Int64" in kinds else "int64")
        elif kinds <= {"bool", "boolean"}:
            stitched[column] = stitched[column].astype("boolean" if "boolean" in kinds else "bool")
    return stitched


def open_workspace(
    ws: WorkspaceConfig, now: dt.datetime | None = None, token_provider: Callable[[], str] | None = None
) -> KustoBackend:
    """The live backend a configured ``log_analytics`` or ``adx`` workspace describes."""
    if ws.trusted_hosts:
        rules = [MatchRule(h, exact=True) for h in ws.trusted_hosts]
        well_known_kusto_endpoints.add_trusted_hosts(rules, replace=False)
    provider = token_provider or build_provider(ws.auth, ws.url, ws.name)
    what = "Log Analytics workspace" if ws.kind == "log_analytics" else "Azure Data Explorer database"
    return KustoBackend(
        ws.url,
        ws.database,
        provider,
        kind=ws.kind,
        options=LiveOptions.from_workspace(ws),
        now=now,
        description=f"{what} {ws.database} (workspace {ws.name!r})",
    )
