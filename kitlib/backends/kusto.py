"""Live backends: a Log Analytics workspace through its ADX proxy, or an Azure Data Explorer database.

Both speak the Kusto REST protocol, so one class serves both, driven by ``azure-kusto-data``
with a token callback from :mod:`kitlib.settings.auth`. What it adds to the client:

- **Completeness.** Every request sets ``deferpartialqueryfailures``, so a truncated or
  partially failed result comes back with its rows instead of an exception. The answer's
  frames are read here, not by the client (which drops all but ``DataTable`` frames and the
  rows before an in-band error): an error object inside the rows, a ``TableCompletion`` or
  ``DataSetCompletion`` error, ``HasErrors``/``Cancelled`` and ``QueryCompletionInformation``
  rows of level Error all make the answer incomplete. It then becomes
  :class:`PartialResultError` (carrying the rows that arrived and the service's reason) or,
  with ``on_partial = "warn"``, a result marked incomplete with the reason in its warnings;
  Warning rows only add a warning. "Query is expired" (``0x80DA0006``), wherever it is
  reported, is a :class:`QueryTimeoutError`. Never a silent short answer.
- **Errors in the service's words.** A refused request keeps the most specific reason the
  body carries: the OneApi ``@message``, or the ``innererror`` chain (ADX's
  ``@errorMessage``, the Log Analytics query API's nested ``innererror``) that the client
  drops; a missing table is recognised in any of them. An answer of an unexpected shape is a
  clear :class:`QueryExecutionError`, never a stray ``KeyError``.
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
  frames get the same dtypes as the local engine's. Values keep their exact meaning: longs
  stay exact integers (nullable ``Int64`` when a column has nulls, never rounded through
  float), timespans keep their sign over the whole value (``-1.02:03:04`` is minus a day
  *and* two hours), and a value that cannot be converted is a :class:`QueryExecutionError`
  naming the column.
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
from azure.kusto.data.exceptions import (
    KustoAuthenticationError,
    KustoMultiApiError,
    KustoNetworkError,
    KustoServiceError,
    KustoThrottlingError,
)
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
#: "Query is expired" (the service's E_QUERY_CANCELLED after its timeout), hex and as a signed StatusCode.
_EXPIRED = re.compile(r"80DA0006|Query is expired", re.IGNORECASE)
_EXPIRED_STATUS = -2133196794
#: Truncation (E_QUERY_RESULT_SET_TOO_LARGE) and a runaway query (E_RUNAWAY_QUERY).
_TRUNCATED = re.compile(r"80DA0003|E_QUERY_RESULT_SET_TOO_LARGE", re.IGNORECASE)
_RUNAWAY = re.compile(r"80DA0001|E_RUNAWAY_QUERY", re.IGNORECASE)
#: QueryCompletionInformation levels: 1 Critical, 2 Error, 3 Warning, 4 Info, 5 Verbose, 6 Stats.
_WARNING_LEVEL = 3
#: A Kusto timespan as the v2 protocol writes it: ``[-][d.]hh:mm:ss[.fffffff]``.
_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")
_TICKS_PER_SECOND = 10_000_000
#: The nanosecond range pandas can hold (about +-292 years), in Kusto ticks of 100 ns.
_MAX_TICKS = (2**63 - 1) // 100


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
        self._client: Any = FrameClient(KustoConnectionStringBuilder.with_token_provider(self.url, token_provider))

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
                self._schemas[table] = {str(r[0]): str(r[1]) for r in response.rows}
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
        answer: Answer = self._send(text, properties, label, query)
        frame = result_frame(answer.columns, answer.rows, query.name)
        outcome = _Outcome(frame)
        verdict = answer.verdict()
        outcome.warnings.extend(f"{label}: service warning: {w}" for w in verdict.warnings)
        if verdict.expired:
            reason = (verdict.reason or "Query is expired").rstrip(".")
            raise QueryTimeoutError(
                query.name, f"{label}: {reason} ({len(frame)} rows had arrived). {self._timeout_advice()}"
            )
        if verdict.reason is not None:
            outcome.partial_reason = verdict.reason
            log.warning("query %s came back incomplete (%d rows): %s", label, len(frame), verdict.reason)
        return outcome

    def _timeout_advice(self) -> str:
        return (
            f"The service stopped the query after its timeout (server_timeout {self.options.server_timeout}; "
            f"Log Analytics allows at most 10 minutes): raise server_timeout, or split the window (split_by runs "
            f"queries marked '// split: by_window' in time slices), or narrow the query"
        )

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
                # FrameClient reads in-band errors itself; this is only reached if a future
                # client parses before it. Say so rather than returning nothing.
                raise PartialResultError(
                    name, f"{label}: {_api_errors(exc)} (the rows already sent were lost)"
                ) from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # The client trips over bodies it does not expect (JSON without "error", ...).
                raise QueryExecutionError(
                    name, f"{label}: unexpected answer from the service ({type(exc).__name__}: {exc})"
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
                texts = error_texts(exc)
                message = _service_message(exc, texts)
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
                if status == 504 or any(_EXPIRED.search(t) for t in texts):
                    raise QueryTimeoutError(name, f"{label}: {message.rstrip('.')}. {self._timeout_advice()}") from None
                missing_table = next((t for t in map(_missing_table, texts) if t is not None), None)
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


# -- the answer, frame by frame -----------------------------------------------------------------


class FrameClient(KustoClient):
    """The Kusto client, with every answer's frames read by :func:`parse_answer` instead of by the client.

    azure-kusto-data 6.0.4 keeps only ``DataTable`` frames (so ``TableCompletion`` and
    ``DataSetCompletion`` with ``HasErrors``, ``Cancelled`` and their errors are never seen) and
    raises on an error object inside the rows, discarding the rows before it. Its one hook is
    the parser it calls on every answer; the live tests fail if an upgrade stops calling it.
    """

    @staticmethod
    def _kusto_parse_by_endpoint(endpoint: str, response_json: Any) -> Any:
        return parse_answer(response_json)


class AnswerShapeError(ValueError):
    """The service answered 200 with a body that is not a result this backend can read."""


@dataclass
class Verdict:
    """What an answer says about its own completeness."""

    #: None when complete; otherwise the service's reasons, joined.
    reason: str | None = None
    #: True when a reason is "Query is expired" (0x80DA0006): a timeout, not a partial result.
    expired: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class Answer:
    """One query answer as the service sent it: the primary table and all it said about completeness."""

    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    #: OneApi error objects reported in band: inside rows, in TableCompletion / DataSetCompletion.
    errors: list[Mapping[str, Any]] = field(default_factory=list)
    #: QueryCompletionInformation rows, column name -> value.
    completion: list[dict[str, Any]] = field(default_factory=list)
    has_errors: bool = False
    cancelled: bool = False

    def verdict(self) -> Verdict:
        """Complete, partial (with the service's reasons) or expired; Warning rows only warn."""
        reasons: list[str] = []
        warnings: list[str] = []
        expired = False
        for error in self.errors:
            found = _walk_error(error.get("error", error) if isinstance(error, Mapping) else error)
            reasons.append(_one_api_line(error))
            expired = expired or any(_EXPIRED.search(text) for _, _, text in found)
        for row in self.completion:
            level = _level(row)
            if level is not None and level > _WARNING_LEVEL:
                continue
            text = _completion_text(row)
            if level is None or level == _WARNING_LEVEL:
                warnings.append(text if level is not None else f"completion row without a level: {text}")
                continue
            reasons.append(text)
            expired = expired or row.get("StatusCode") == _EXPIRED_STATUS or bool(_EXPIRED.search(text))
        if self.cancelled:
            reasons.append("the service cancelled the query (DataSetCompletion.Cancelled)")
        if self.has_errors and not reasons:
            reasons.append(
                "the service flagged the answer as having errors (DataSetCompletion.HasErrors) without saying which"
            )
        reasons = list(dict.fromkeys(reasons))
        if not reasons:
            return Verdict(None, False, warnings)
        reason = "; ".join(reasons)
        if not expired and any(_TRUNCATED.search(r) for r in reasons):
            reason += f" (Log Analytics caps one request at {LA_LIMITS}: summarise more in the query, or set split_by)"
        elif not expired and any(_RUNAWAY.search(r) for r in reasons):
            reason += " (the query used too many resources: narrow it, or set split_by)"
        return Verdict(reason, expired, warnings)


def parse_answer(body: Any) -> Answer:
    """Read a v2 frame list (or the Log Analytics query API's ``{"tables": ...}``) into an :class:`Answer`.

    In-band errors are collected wherever the service puts them (an object in place of a row,
    in any table; ``TableCompletion.OneApiErrors``; ``DataSetCompletion``), and the rows that
    arrived before them are kept.
    """
    if isinstance(body, Mapping):
        return _parse_query_api(body)
    if not isinstance(body, list):
        raise AnswerShapeError(f"expected a list of v2 frames, got {type(body).__name__}")
    primary: tuple[list[tuple[str, str]], list[list[Any]]] | None = None
    progressive: dict[int, tuple[str, list[tuple[str, str]], list[list[Any]]]] = {}
    answer = Answer([], [])
    seen: set[str] = set()

    def add_errors(errors: Any) -> None:
        for error in errors if isinstance(errors, list) else [errors]:
            key = json.dumps(error, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                answer.errors.append(error if isinstance(error, Mapping) else {"error": {"message": str(error)}})

    def split_rows(rows: Any) -> list[list[Any]]:
        kept = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, Mapping):
                add_errors(row.get("OneApiErrors") or [{"error": {"code": "InBandError", "message": json.dumps(row)}}])
            else:
                kept.append(list(row))
        return kept

    for frame in body:
        if not isinstance(frame, Mapping):
            raise AnswerShapeError(f"a v2 frame is a JSON object, got {type(frame).__name__}")
        kind = frame.get("FrameType")
        if kind == "DataTable":
            columns = _frame_columns(frame)
            rows = split_rows(frame.get("Rows"))
            table_kind = frame.get("TableKind")
            if table_kind == "PrimaryResult" and primary is None:
                primary = (columns, rows)
            elif table_kind == "QueryCompletionInformation":
                names = [name for name, _ in columns]
                answer.completion.extend(dict(zip(names, row, strict=False)) for row in rows)
        elif kind == "TableHeader":
            progressive[int(frame.get("TableId", -1))] = (str(frame.get("TableKind")), _frame_columns(frame), [])
        elif kind == "TableFragment":
            table = progressive.get(int(frame.get("TableId", -1)))
            if table is not None:
                rows = split_rows(frame.get("Rows"))
                if frame.get("TableFragmentType") == "DataReplace":
                    table[2].clear()
                table[2].extend(rows)
        elif kind == "TableCompletion":
            add_errors(frame.get("OneApiErrors") or [])
        elif kind == "DataSetCompletion":
            answer.has_errors = bool(frame.get("HasErrors"))
            answer.cancelled = bool(frame.get("Cancelled"))
            add_errors(frame.get("OneApiErrors") or [])
    if primary is None:
        primary = next(((c, r) for k, c, r in progressive.values() if k == "PrimaryResult"), None)
    if primary is None:
        if answer.errors:
            primary = ([], [])  # the query failed before its table began: the errors say why
        else:
            raise AnswerShapeError("the service sent no primary result table")
    answer.columns, answer.rows = primary
    return answer


def _parse_query_api(body: Mapping[str, Any]) -> Answer:
    """The Log Analytics query API shape: ``{"tables": [{name, columns, rows}], "error": {...}}``."""
    tables = body.get("tables")
    error = body.get("error")
    if not isinstance(tables, list) or not tables:
        if error is not None:
            return Answer([], [], errors=[{"error": error}], has_errors=True)
        raise AnswerShapeError(f"a JSON object without tables (keys: {', '.join(sorted(map(str, body)))[:200]})")
    first = tables[0] if isinstance(tables[0], Mapping) else {}
    columns = [
        (str(c.get("name") or c.get("ColumnName")), str(c.get("type") or c.get("ColumnType") or "string"))
        for c in first.get("columns") or []
        if isinstance(c, Mapping)
    ]
    rows = [list(r) for r in first.get("rows") or [] if isinstance(r, list)]
    errors: list[Mapping[str, Any]] = [{"error": error}] if error is not None else []
    return Answer(columns, rows, errors=errors, has_errors=bool(errors))


def _frame_columns(frame: Mapping[str, Any]) -> list[tuple[str, str]]:
    columns = frame.get("Columns")
    if not isinstance(columns, list):
        raise AnswerShapeError(f"a {frame.get('FrameType')} frame without columns")
    return [(str(c.get("ColumnName")), str(c.get("ColumnType") or c.get("DataType") or "string")) for c in columns]


_LEVEL_NAMES = {"critical": 1, "error": 2, "warning": 3, "info": 4, "verbose": 5, "stats": 6}


def _level(row: Mapping[str, Any]) -> int | None:
    """A completion row's level (by number, else by name); None when it has neither."""
    level = row.get("Level")
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    return _LEVEL_NAMES.get(str(row.get("LevelName") or "").lower())


def _completion_text(row: Mapping[str, Any]) -> str:
    """A QueryCompletionInformation row in the service's words: status name and payload text."""
    payload = row.get("Payload")
    text = ""
    try:
        decoded = json.loads(payload) if isinstance(payload, str) else payload
        text = str(decoded.get("Text", "")) if isinstance(decoded, Mapping) else ""
    except ValueError:
        text = str(payload or "")
    status = str(row.get("StatusCodeName") or row.get("EventTypeName") or row.get("LevelName") or "error")
    return f"{status}: {text}" if text else status


def _walk_error(body: Any, depth: int = 0) -> list[tuple[int, str, str]]:
    """Every (depth, code, text) in a OneApi / Log Analytics error, through ``innererror`` and ``details``."""
    if depth > 8:
        return []
    if isinstance(body, str):
        return [(depth, "", body)] if body.strip() else []
    if not isinstance(body, Mapping):
        return []
    code = str(body.get("@errorCode") or body.get("code") or "")
    found = [
        (depth, code, value.strip())
        for key in ("@message", "@errorMessage", "message")
        if isinstance(value := body.get(key), str) and value.strip()
    ]
    for detail in body.get("details") or [] if isinstance(body.get("details"), list) else []:
        found.extend(_walk_error(detail, depth + 1))
    found.extend(_walk_error(body.get("innererror"), depth + 1))
    return found


def _one_api_line(error: Any) -> str:
    """One OneApi error as ``code: reason``, the reason being the most specific text it carries."""
    body = error.get("error", error) if isinstance(error, Mapping) else error
    found = _walk_error(body)
    if not found:
        return json.dumps(body, default=str)[:300]
    outer = body if isinstance(body, Mapping) else {}
    if isinstance(outer.get("@message"), str) and outer["@message"].strip():
        code = str(outer.get("code") or "")
        return f"{code}: {outer['@message'].strip()}" if code else outer["@message"].strip()
    deepest = max(d for d, _, _ in found)
    _, code, text = next(item for item in found if item[0] == deepest)
    line = f"{code}: {text}" if code and not text.startswith(code) else text
    if deepest > 0:
        _, outer_code, outer_text = found[0]
        line += f" ({outer_code}: {outer_text})" if outer_code else f" ({outer_text})"
    return line


def _api_errors(exc: Any) -> str:
    parts = [f"{e.code}: {e.description or e.message}" for e in exc.get_api_errors()]
    return "; ".join(parts) or str(exc)


def _status(exc: Any) -> int | None:
    response = getattr(exc, "http_response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if isinstance(status, int) else None


def _error_body(exc: Any) -> Any:
    """The ``error`` object of a refused request's JSON body, which the client parses only in part."""
    response = getattr(exc, "http_response", None)
    try:
        body = response.json() if response is not None else None
    except ValueError:
        return None
    return body.get("error") if isinstance(body, Mapping) else None


def error_texts(exc: Any) -> list[str]:
    """Every reason a refused request carries, outermost first (``innererror`` and ``details`` included)."""
    texts: list[str] = []
    api = getattr(exc, "get_api_error", None)
    if callable(api):
        error = api()
        texts.extend(t for t in (error.description, error.message) if isinstance(t, str) and t)
    texts.extend(text for _, _, text in _walk_error(_error_body(exc)))
    texts.append(str(getattr(exc, "message_text", None) or exc))
    return list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))


def _service_message(exc: Any, texts: Sequence[str] = ()) -> str:
    """One readable line from a service error: the OneApi ``@message``, else the most specific inner reason."""
    body = _error_body(exc)
    if isinstance(body, Mapping) and _walk_error(body):
        return _one_api_line(body)
    api = getattr(exc, "get_api_error", None)
    if callable(api):
        error = api()
        text = error.description or error.message or ""
        if text and error.code != "FailedToParse":
            return f"{error.code}: {text}" if error.code else text
    first = next(iter(texts), "") or str(getattr(exc, "message_text", None) or exc).strip()
    if first.lstrip().startswith("<"):
        # A gateway's page, not a Kusto answer: its title, never its markup.
        title = re.search(r"<title>\s*([^<]{1,200}?)\s*</title>", first, re.IGNORECASE)
        status = _status(exc)
        what = f"an HTML page ({title.group(1)})" if title else "an HTML page"
        return f"service error {status}: {what}" if status else what
    return first.splitlines()[0] if first else type(exc).__name__


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


def result_frame(columns: Sequence[Any], rows: Sequence[Sequence[Any]], query: str = "result") -> pd.DataFrame:
    """A frame from v2 result columns/rows with the dtypes the local engine produces.

    ``columns`` are ``(name, type)`` pairs or the client's column objects. Each column is built
    from its raw values (never through a float-inferring frame constructor), so longs stay
    exact; a value that cannot be converted is a :class:`QueryExecutionError` naming the column.
    """
    pairs = [
        (str(c[0]), str(c[1])) if isinstance(c, tuple) else (str(c.column_name), str(c.column_type)) for c in columns
    ]
    series = {}
    for index, (name, kusto_type) in enumerate(pairs):
        values = [row[index] if index < len(row) else None for row in rows]
        try:
            series[name] = _convert(values, kusto_type.lower())
        except (ValueError, TypeError, OverflowError) as exc:
            raise QueryExecutionError(query, f"column {name!r} ({kusto_type}) cannot be read: {exc}") from None
    return normalize(pd.DataFrame(series) if series else pd.DataFrame())


def _convert(values: list[Any], kusto_type: str) -> pd.Series:
    """One column's raw v2 values as a typed series."""
    has_nulls = any(v is None for v in values)
    if kusto_type in ("datetime", "date"):
        texts = pd.Series(values, dtype=object)
        return pd.to_datetime(texts, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    if kusto_type in ("long", "int64", "int", "int32"):
        wide = kusto_type in ("long", "int64")
        bits = 63 if wide else 31
        exact = [None if v is None else _whole_number(v, bits) for v in values]
        if has_nulls:
            return pd.Series(pd.array(exact, dtype="Int64" if wide else "Int32"))
        return pd.Series(exact, dtype="int64" if wide else "int32")
    if kusto_type in ("real", "double", "decimal"):
        return pd.Series([math.nan if v is None else _real(v) for v in values], dtype="float64")
    if kusto_type in ("bool", "boolean"):
        flags = [None if v is None else _flag(v) for v in values]
        return pd.Series(pd.array(flags, dtype="boolean")) if has_nulls else pd.Series(flags, dtype=bool)
    if kusto_type in ("timespan", "time"):
        return pd.Series([pd.NaT if v is None else _timespan(v) for v in values], dtype="timedelta64[ns]")
    return pd.Series(values, dtype=object)


def _whole_number(value: Any, bits: int) -> int:
    """An exact integer from a JSON number (or its text); fractions and out-of-range values are refused."""
    if isinstance(value, bool):
        raise ValueError(f"value {value!r} is a boolean, not a number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"value {value!r} is not a whole number")
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        number = int(value)
    else:
        raise ValueError(f"value {value!r} is not a whole number")
    if not -(2**bits) <= number < 2**bits:
        raise ValueError(f"value {value!r} does not fit in {bits + 1} bits")
    return number


def _real(value: Any) -> float:
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    if isinstance(value, str) and value in special:
        return special[value]
    if isinstance(value, bool):
        raise ValueError(f"value {value!r} is a boolean, not a number")
    return float(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"value {value!r} is not a boolean")


def _timespan(value: Any) -> pd.Timedelta:
    """A Kusto timespan: the text ``[-][d.]hh:mm:ss[.fffffff]`` (sign over the whole value) or ticks."""
    if isinstance(value, bool):
        raise ValueError(f"value {value!r} is not a timespan")
    if isinstance(value, int):
        ticks = value
    elif isinstance(value, str) and (match := _TIMESPAN.match(value.strip())):
        sign, days, hours, minutes, seconds, fraction = match.groups()
        whole = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)
        ticks = whole * _TICKS_PER_SECOND + int((fraction or "").ljust(7, "0"))
        ticks = -ticks if sign else ticks
    else:
        raise ValueError(f"value {value!r} is not a timespan ([-][d.]hh:mm:ss[.fffffff] or ticks)")
    if abs(ticks) > _MAX_TICKS:
        raise ValueError(f"value {value!r} is beyond the +-106,751 days a frame can hold")
    return pd.Timedelta(ticks * 100, unit="ns")


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
