"""The embedded backend: DuckDB with the ``duckdb-kql`` translator over a workspace folder.

A workspace folder holds one file or folder per table, named after the table
(``SigninLogs.parquet``, ``AzureActivity/part-0.parquet``, ``SigninLogs.csv``, ``.json``,
``.jsonl``). Each table becomes a DuckDB *view* that casts the files' columns to the schema
registry's types, so queries see Log Analytics' types whatever the file format, and data is
read in place rather than loaded into memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql
import pandas as pd

from kitlib.backends.base import ClosingBackend, QueryResult
from kitlib.backends.frames import normalize
from kitlib.domain.schema import DUCKDB_TYPES, TABLES, TableSchema
from kitlib.environment import ENGINE_MEMORY_ENV
from kitlib.errors import (
    ConfigError,
    MissingTableError,
    QueryExecutionError,
    UnsupportedQueryError,
    WorkspaceError,
)
from kitlib.query.catalog import Query

log = logging.getLogger(__name__)

#: The local engine's memory limit unless ``KITLIB_ENGINE_MEMORY`` says otherwise.
DEFAULT_ENGINE_MEMORY = "3GB"

FORMATS = ("parquet", "csv", "jsonl", "json")
_NESTED_PREFIXES = ("STRUCT", "MAP", "UNION")


@dataclass(frozen=True)
class TableSource:
    """Where a table's rows live in a workspace folder."""

    table: str
    files: tuple[Path, ...]
    fmt: str


def find_table(root: Path, table: str) -> TableSource | None:
    """Locate ``table`` in ``root``: a single file per format, or a folder of files."""
    for fmt in FORMATS:
        single = root / f"{table}.{fmt}"
        if single.is_file():
            return TableSource(table, (single,), fmt)
    folder = root / table
    if folder.is_dir():
        for fmt in FORMATS:
            files = tuple(sorted(p for p in folder.glob(f"*.{fmt}") if p.is_file()))
            if files:
                return TableSource(table, files, fmt)
    return None


def looked_for(table: str) -> list[str]:
    return [f"{table}.{fmt}" for fmt in FORMATS] + [f"{table}/*.{{{','.join(FORMATS)}}}"]


def _glob_literal(path: Path) -> str:
    """``path`` as DuckDB's file readers must get it to read that one file: they expand glob patterns,
    so ``part[1].parquet`` would read ``part1.parquet`` (counting its rows twice) unless each
    pattern character is written as a one-character class."""
    return "".join(f"[{ch}]" if ch in "*?[{}" else ch for ch in str(path))


def _reader_sql(source: TableSource) -> str:
    files = "[" + ", ".join(_sql_string(_glob_literal(p)) for p in source.files) + "]"
    if source.fmt == "parquet":
        return f"read_parquet({files}, union_by_name = true)"
    if source.fmt == "csv":
        # Everything as text first: the sniffer would turn ResultType "0" into an integer.
        return f"read_csv({files}, all_varchar = true, header = true, union_by_name = true)"
    json_format = "newline_delimited" if source.fmt == "jsonl" else "auto"
    return f"read_json({files}, format = '{json_format}', union_by_name = true, maximum_object_size = 268435456)"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cast(column: str, source_type: str, kql_type: str) -> str:
    """SQL that turns a file column of ``source_type`` into the registry's ``kql_type``."""
    target = DUCKDB_TYPES[kql_type]
    col = _ident(column)
    nested = source_type.startswith(_NESTED_PREFIXES) or source_type.endswith("[]") or source_type == "JSON"
    if target == "VARCHAR":
        if nested:
            return f"CAST(to_json({col}) AS VARCHAR)"
        return f"CAST({col} AS VARCHAR)"
    if target == "JSON":
        if nested:
            return f"to_json({col})"
        if source_type == "VARCHAR":
            # JSON text becomes the document; any other text becomes a JSON string, never lost.
            # One parse per value: TRY_CAST both validates and converts (json_valid + CAST parsed twice).
            return f"coalesce(TRY_CAST({col} AS JSON), to_json({col}))"
        return f"to_json({col})"
    if target == "TIMESTAMPTZ" and source_type == "VARCHAR":
        return f"CAST(NULLIF({col}, '') AS TIMESTAMPTZ)"
    if source_type == "VARCHAR" and target in ("BOOLEAN", "BIGINT", "INTEGER", "DOUBLE"):
        return f"CAST(NULLIF({col}, '') AS {target})"
    return f"CAST({col} AS {target})"


def typed_select(schema: TableSchema, source_columns: Mapping[str, str], reader: str) -> str:
    """A SELECT giving every registry column its Log Analytics type; extra columns pass through."""
    parts = []
    for column, kql_type in schema.columns:
        if column in source_columns:
            parts.append(f"{_cast(column, source_columns[column], kql_type)} AS {_ident(column)}")
        else:
            parts.append(f"CAST(NULL AS {DUCKDB_TYPES[kql_type]}) AS {_ident(column)}")
    known = set(schema.column_names)
    parts.extend(_ident(c) for c in source_columns if c not in known)
    return f"SELECT {', '.join(parts)} FROM {reader}"


def empty_select(schema: TableSchema) -> str:
    cols = ", ".join(f"CAST(NULL AS {DUCKDB_TYPES[t]}) AS {_ident(c)}" for c, t in schema.columns)
    return f"SELECT {cols} WHERE false"


class LocalBackend(ClosingBackend):
    """Runs catalog queries on a workspace folder with the embedded engine."""

    def __init__(self, workspace: Path | str, now: dt.datetime | None = None) -> None:
        self.root = Path(workspace)
        if not self.root.is_dir():
            raise WorkspaceError(f"workspace folder {self.root} does not exist")
        self.now = now
        self.description = f"local workspace {self.root}"
        self.sources = {t: s for t in TABLES if (s := find_table(self.root, t)) is not None}
        self._con = duckdb_kql.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        # DuckDB spills large aggregations to ".tmp" in the working directory by default; a private
        # folder in the system's temp keeps checkouts and report folders clean and is removed on close.
        self._spill = tempfile.mkdtemp(prefix="kitlib-duckdb-")
        self._remove_spill = weakref.finalize(self, shutil.rmtree, self._spill, ignore_errors=True)
        self._con.execute(f"SET temp_directory = {_sql_string(self._spill)}")
        self._limit_memory()
        try:
            self._con.execute("SET enable_progress_bar = false")  # no bars in reports or cron mail
        except duckdb.Error:
            pass  # inside Jupyter DuckDB refuses the setting without ipywidgets, and draws no bar either
        self._views: set[str] = set()
        self._empty: set[str] = set()

    def _limit_memory(self) -> None:
        """Cap the engine's buffers so a 100,000-user month stays within a laptop's memory.

        DuckDB's default (80% of RAM) let the activity log's one pass hold 4.5 GiB on a 24 GiB
        machine; capped at 3 GB it spills to ``temp_directory`` and peaks at 2.9 GiB (bench/notes.md).
        """
        limit = os.environ.get(ENGINE_MEMORY_ENV, DEFAULT_ENGINE_MEMORY).strip()
        if limit.lower() == "none":
            return
        try:
            self._con.execute(f"SET memory_limit = {_sql_string(limit)}")
        except duckdb.Error as exc:
            raise ConfigError(
                f"{ENGINE_MEMORY_ENV}={limit!r} is not a memory size DuckDB accepts (e.g. 2GB, 512MB, none): {exc}"
            ) from None

    def available_tables(self) -> set[str]:
        return set(self.sources)

    def _ensure_view(self, table: str, optional: bool) -> bool:
        """Create the typed view for ``table``; returns False when it stood in as an empty table."""
        if table in self._views:
            return table not in self._empty
        schema = TABLES[table]
        source = self.sources.get(table)
        if source is None:
            if not optional:
                raise MissingTableError(table, str(self.root), looked_for(table))
            self._con.execute(f"CREATE OR REPLACE VIEW {_ident(table)} AS {empty_select(schema)}")
            self._views.add(table)
            self._empty.add(table)
            return False
        reader = _reader_sql(source)
        try:
            described = self._con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
        except duckdb.Error as exc:
            raise WorkspaceError(f"cannot read table {table} from {', '.join(map(str, source.files))}: {exc}") from None
        source_columns = {str(row[0]): str(row[1]) for row in described}
        self._con.execute(f"CREATE OR REPLACE VIEW {_ident(table)} AS {typed_select(schema, source_columns, reader)}")
        self._views.add(table)
        return True

    def run(self, query: Query, parameters: Mapping[str, Any]) -> QueryResult:
        typed = query.coerce_values(parameters)
        missing = [t for t in query.optional_tables if not self._ensure_view(t, optional=True)]
        for t in query.tables:
            self._ensure_view(t, optional=False)
        started = time.perf_counter()
        try:
            relation = duckdb_kql.kql(self._con, query.text, parameters=typed, query_now=self.now)
            dynamic = [c for c, t in zip(relation.columns, relation.types, strict=False) if str(t) == "JSON"]
            frame = relation.df()
        except duckdb_kql.KqlUnsupportedError as exc:
            raise UnsupportedQueryError(query.name, _construct(str(exc))) from None
        except AssertionError:
            # duckdb-kql 1.1.2 asserts on some constructs it cannot translate instead of raising.
            raise UnsupportedQueryError(query.name, "a construct the translator cannot handle") from None
        except (duckdb_kql.KqlError, duckdb.Error) as exc:
            raise QueryExecutionError(query.name, str(exc).splitlines()[0]) from None
        elapsed = time.perf_counter() - started
        frame = normalize(frame, dynamic_columns=dynamic)
        warnings = [f"table {t} is not in this workspace; treated as empty" for t in missing]
        log.info("query %s: %d rows in %.2fs", query.name, len(frame), elapsed)
        return QueryResult(query.name, frame, elapsed, complete=True, warnings=warnings, missing_tables=missing)

    def row_counts(self) -> dict[str, int]:
        """Rows per present table (cheap for Parquet: read from file metadata)."""
        counts = {}
        for table in self.sources:
            self._ensure_view(table, optional=False)
            counts[table] = int(self._con.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0])  # type: ignore[index]
        return counts

    def close(self) -> None:
        self._con.close()
        self._remove_spill()


def _construct(message: str) -> str:
    start = message.find("'")
    end = message.find("'", start + 1)
    return message[start : end + 1] if 0 <= start < end else message


#: A value of each KQL type for required parameters of :func:`empty_result` (no row is read).
_PLACEHOLDERS: dict[str, Any] = {
    "string": "",
    "datetime": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    "timespan": dt.timedelta(0),
    "long": 0,
    "int": 0,
    "real": 0.0,
    "bool": False,
    "dynamic": [],
    "guid": "00000000-0000-0000-0000-000000000000",
}


def empty_result(query: Query) -> pd.DataFrame:
    """The columns and dtypes ``query`` returns, with no rows.

    What a page shows for a query that could not run (a table missing, the service failing):
    the query runs on the embedded engine over empty stand-ins of all its tables, so the frame
    has exactly the columns and types the real answer would have, and no workspace or service
    is needed. Every catalog query runs locally (a test sees to it).
    """
    hollow = dataclasses.replace(query, tables=(), optional_tables=query.all_tables)
    values = {p.name: _PLACEHOLDERS[p.kql_type] for p in query.parameters if p.required}
    with tempfile.TemporaryDirectory(prefix="kitlib-empty-") as folder, LocalBackend(folder) as backend:
        return backend.run(hollow, values).frame
