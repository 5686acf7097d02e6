"""Import exported sign-in and activity logs into a local workspace folder.

``import_paths`` reads every file it is given (folders are walked, zips opened, gzip/bz2/xz
decompressed), recognises its shape (:mod:`kitlib.ingest.formats`), maps each record to its Log
Analytics table and columns, types it by the schema registry (:mod:`kitlib.ingest.values`) and
writes Parquet part files the local backend reads like any other workspace::

    <workspace>/SigninLogs/import-<hash16>-00000.parquet
    <workspace>/_rejects/<file>-<hash16>.jsonl     rows that could not be imported, with the reason
    <workspace>/_imports/import-<hash16>.json      what was imported from where, and the counts

Guarantees:

- **Bounded memory.** Records stream through; a table's rows are buffered only up to a chunk
  (``chunk_rows`` rows or ``chunk_bytes`` of input) and then written as one part file.
- **Nothing dropped silently.** Every record is counted as written, rejected (to the rejects
  file, with the reason and the raw record), a duplicate, or skipped because it belongs to a
  log the kit does not read (AuditLogs in a ``search`` export); the report says which.
- **Idempotent.** Part names derive from the SHA-256 of the decompressed content, so importing
  the same logs again (renamed or recompressed) replaces the earlier parts; identical content
  with identical options is recognised from the manifest and left alone. Overlapping exports are
  de-duplicated row by row (:mod:`kitlib.ingest.dedupe`).
- **One file, one transaction.** Parts are staged and moved into place only when the whole file
  was read; a file that fails leaves the workspace as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from kitlib.backends.local import FORMATS
from kitlib.domain.schema import TABLES
from kitlib.errors import (
    ColumnMismatchError,
    ImportConflictError,
    ImportInputError,
    KitError,
    UnknownFormatError,
    UsageError,
)
from kitlib.ingest.dedupe import PART_NAME, KeyIndex, RowHasher
from kitlib.ingest.formats import (
    SHAPES,
    FileNotes,
    LaRows,
    OffsetValue,
    RecordProblem,
    Routed,
    Shape,
    detect_json_shape,
    finish,
    known_shapes,
    missing_required,
    table_from_columns,
    table_from_path,
)
from kitlib.ingest.sources import InputUnit, RawRecord, SourceReader, content_hash, expand_paths
from kitlib.ingest.values import ValueProblem, arrow_schema, converter, empty_value, to_datetime

log = logging.getLogger(__name__)

#: Bump when a mapping changes: earlier imports of the same content are then redone, not skipped.
IMPORTER_VERSION = 1
CHUNK_ROWS = 50_000
CHUNK_BYTES = 32 << 20
UNPARSED = "(unparsed)"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class TableCounts:
    """What happened to one table's rows from one file (or in total)."""

    read: int = 0
    written: int = 0
    rejected: int = 0
    duplicates: int = 0
    #: Rows an earlier import of the same content had written, which this import replaced.
    replaced: int = 0

    def add(self, other: TableCounts) -> None:
        self.read += other.read
        self.written += other.written
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.replaced += other.replaced

    @property
    def added(self) -> int:
        """Rows the workspace gained: written, less the earlier copy of the same content they replaced."""
        return self.written - self.replaced


@dataclass
class FileReport:
    """The outcome for one input (a file, or one member of a zip).

    ``status``: ``imported``; ``partial`` (the file broke off, e.g. truncated JSON: what came
    before was imported, the break is a reject); ``unchanged`` (this content was imported before
    with the same options); ``empty``; ``failed`` (nothing from it was written; ``error`` says why).
    """

    source: str
    status: str = "imported"
    shape: str = ""
    encoding: str = ""
    sha256: str = ""
    bytes: int = 0
    tables: dict[str, TableCounts] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    rejects_file: Path | None = None
    parts: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    time_ranges: dict[str, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)

    def counts(self, table: str) -> TableCounts:
        return self.tables.setdefault(table, TableCounts())


@dataclass
class ImportReport:
    """Per-file and per-table results of :func:`import_paths`."""

    workspace: Path
    files: list[FileReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, TableCounts]:
        """Counts per table over every file (files left unchanged are not counted again)."""
        totals: dict[str, TableCounts] = {}
        for report in self.files:
            if report.status == "unchanged":
                continue
            for table, counts in report.tables.items():
                totals.setdefault(table, TableCounts()).add(counts)
        return dict(sorted(totals.items()))

    @property
    def ok(self) -> bool:
        """True when every file was read to its end (rejected rows are reported, not failures)."""
        return all(f.status in ("imported", "unchanged", "empty") for f in self.files)

    @property
    def written(self) -> int:
        return sum(c.written for c in self.totals().values())

    @property
    def rejected(self) -> int:
        return sum(c.rejected for c in self.totals().values())

    def to_text(self) -> str:
        """A plain-text summary for the CLI and logs."""
        lines = [f"Import into {self.workspace}: {len(self.files)} input(s)"]
        for report in self.files:
            head = f"  {report.source}: {report.status}"
            if report.shape:
                head += f" [{report.shape}{', ' + report.encoding if report.encoding not in ('', 'utf-8') else ''}]"
            if report.seconds:
                head += f" in {report.seconds:.1f}s"
            lines.append(head)
            if report.error:
                lines.append(f"      error: {report.error}")
            for table, c in sorted(report.tables.items()):
                lines.append(
                    f"      {table:<34} read {c.read:>9,}  written {c.written:>9,}  "
                    f"rejected {c.rejected:>7,}  duplicates {c.duplicates:>7,}" + _replaced_text(c)
                )
            for name, n in sorted(report.skipped.items()):
                lines.append(f"      {name:<34} skipped {n:,} row(s): not a table the kit reads")
            for note in report.notes:
                lines.append(f"      note: {note}")
            if report.rejects_file:
                lines.append(f"      rejected rows (reason + raw record): {report.rejects_file}")
        totals = self.totals()
        if totals:
            lines.append("Totals:")
            for table, c in totals.items():
                lines.append(
                    f"  {table:<36} read {c.read:>9,}  written {c.written:>9,}  "
                    f"rejected {c.rejected:>7,}  duplicates {c.duplicates:>7,}" + _replaced_text(c)
                )
        for warning in self.warnings:
            lines.append(f"WARNING: {warning}")
        failed = [f for f in self.files if f.status in ("failed", "partial")]
        if failed:
            lines.append(f"{len(failed)} input(s) not fully imported: " + ", ".join(f.source for f in failed))
        return "\n".join(lines)


def _replaced_text(counts: TableCounts) -> str:
    if not counts.replaced:
        return ""
    return f"  (replacing {counts.replaced:,} row(s) an earlier import of this content wrote: {counts.added:+,} net)"


def import_paths(
    paths: list[Path],
    workspace: Path,
    *,
    fmt: str | None = None,
    table: str | None = None,
    progress: bool = False,
    encoding: str | None = None,
    keep_going: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    chunk_bytes: int = CHUNK_BYTES,
) -> ImportReport:
    """Import export files (or folders, or zips of them) into ``workspace``; see the module doc.

    ``fmt`` forces a shape (``la-csv``, ``la-json``, ``diagnostic``, ``activity-rest``,
    ``graph``); ``table`` names the table for rows that do not say theirs (rows that name
    another table are rejected, not moved). ``encoding`` is for files that are not UTF-8/16/32.
    A file that cannot be imported raises its :class:`~kitlib.errors.KitError` at once, unless
    ``keep_going``: then it is reported as ``failed`` and the others are still imported.
    """
    if fmt is not None and fmt not in SHAPES:
        raise UsageError(f"unknown format {fmt!r}; formats: {', '.join(SHAPES)}")
    table_name = _table_option(table)
    workspace = Path(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    # A workspace inside an input folder is output, not input (its Parquet parts and manifests).
    inside = workspace.resolve()
    units = [u for u in expand_paths(paths) if inside not in u.path.resolve().parents]
    session = _Session(workspace, fmt, table_name, encoding, chunk_rows, chunk_bytes, progress)
    report = ImportReport(workspace)
    for unit in units:
        started = time.perf_counter()
        try:
            file_report = session.import_unit(unit)
        except KitError as exc:
            if not keep_going:
                raise
            file_report = FileReport(unit.label, status="failed", error=str(exc))
            log.error("%s", exc)
        file_report.seconds = time.perf_counter() - started
        report.files.append(file_report)
    session.close()
    report.warnings.extend(overlap_warnings(workspace))
    return report


def overlap_warnings(workspace: Path) -> list[str]:
    """Tables fed by different export shapes over overlapping times: the same events may be there twice.

    Row de-duplication recognises identical rows only; one sign-in exported once as Graph JSON
    and once as portal CSV differs in precision and columns, so it would be counted twice.
    """
    spans: dict[str, dict[str, list[tuple[dt.datetime, dt.datetime]]]] = {}
    for path in sorted((workspace / "_imports").glob("import-*.json")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            shape = str(manifest.get("shape", ""))
            for table, (low, high) in (manifest.get("time_ranges") or {}).items():
                interval = (dt.datetime.fromisoformat(low), dt.datetime.fromisoformat(high))
                spans.setdefault(table, {}).setdefault(shape, []).append(interval)
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    warnings = []
    for table, by_shape in sorted(spans.items()):
        merged = {shape: _merge_intervals(intervals) for shape, intervals in sorted(by_shape.items())}
        shapes = list(merged)
        for i, shape_a in enumerate(shapes):
            for shape_b in shapes[i + 1 :]:
                overlap = _first_overlap(merged[shape_a], merged[shape_b])
                if overlap:
                    warnings.append(
                        f"{table} holds {shape_a} and {shape_b} rows over overlapping times "
                        f"(e.g. {overlap[0]:%Y-%m-%d %H:%M} to {overlap[1]:%Y-%m-%d %H:%M} UTC): the same events may "
                        f"be counted twice, since different shapes are not de-duplicated against each other"
                    )
    return warnings


def _merge_intervals(intervals: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _first_overlap(
    a: list[tuple[dt.datetime, dt.datetime]], b: list[tuple[dt.datetime, dt.datetime]]
) -> tuple[dt.datetime, dt.datetime] | None:
    i = j = 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if low <= high:
            return low, high
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return None


def _table_option(table: str | None) -> str | None:
    if table is None:
        return None
    for name in TABLES:
        if name.lower() == table.strip().lower():
            return name
    raise UsageError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")


class _Session:
    """State shared by the files of one import call: options and the dedupe indexes."""

    def __init__(
        self,
        workspace: Path,
        fmt: str | None,
        table: str | None,
        encoding: str | None,
        chunk_rows: int,
        chunk_bytes: int,
        progress: bool,
    ) -> None:
        self.workspace = workspace
        self.fmt = fmt
        self.table = table
        self.encoding = encoding
        self.chunk_rows = max(1, chunk_rows)
        self.chunk_bytes = max(1, chunk_bytes)
        self.progress = progress
        self.indexes: dict[str, KeyIndex] = {}
        self.checked_tables: set[str] = set()
        self.hasher = RowHasher()
        self._staging: Path | None = None
        self._listings: dict[Path, set[str]] = {}

    def close(self) -> None:
        self.hasher.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            try:
                self._staging.parent.rmdir()
            except OSError:
                pass

    @property
    def options(self) -> dict[str, Any]:
        return {"format": self.fmt, "table": self.table, "encoding": self.encoding}

    def index(self, table: str) -> KeyIndex:
        if table not in self.indexes:
            self.check_table_target(table)
            index = KeyIndex(table)
            index.load(self.workspace / table, self.hasher)
            self.indexes[table] = index
        return self.indexes[table]

    def check_table_target(self, table: str) -> None:
        """Refuse to write beside a table the local backend would read instead of our folder."""
        if table in self.checked_tables:
            return
        for fmt in FORMATS:
            single = self.workspace / f"{table}.{fmt}"
            if single.exists():
                raise ImportConflictError(
                    f"workspace {self.workspace} already holds {table} as {single.name}, which the local engine "
                    f"reads instead of the {table}/ folder imports write; import that file "
                    f"(kitlib import {single} --workspace NEW_DIR) or move it away"
                )
        folder = self.workspace / table
        if folder.is_dir():
            others = [p.name for p in folder.iterdir() if p.suffix.lstrip(".") in FORMATS and p.suffix != ".parquet"]
            if others:
                raise ImportConflictError(
                    f"{folder} holds {', '.join(sorted(others)[:3])}: the local engine reads one format per "
                    f"table folder, so imported Parquet parts would hide them; import them instead"
                )
        self.checked_tables.add(table)

    # -------------------------------------------------------------- one input

    def import_unit(self, unit: InputUnit) -> FileReport:
        sha, size = content_hash(unit)
        short = sha[:16]
        report = FileReport(unit.label, sha256=sha, bytes=size)
        previous = self._previous(short)
        if previous is not None:
            # Nothing is read or written now: the counts stay at zero, and the note says what
            # the earlier import of this content left in the workspace.
            report.status = "unchanged"
            report.shape = previous.get("shape", "")
            earlier = ", ".join(
                f"{t} {int(c.get('written', 0)):,}" for t, c in sorted(previous.get("tables", {}).items())
            )
            report.notes.append(
                "same content already imported with the same options; nothing written now"
                + (f" (rows it wrote then, still there: {earlier})" if earlier else "")
            )
            return report
        job: _FileJob | None = None
        try:
            with SourceReader(unit, self.encoding) as reader:
                report.encoding = reader.encoding
                if reader.container == "empty":
                    report.status = "empty"
                    report.notes.append("the file is empty: nothing to import")
                    self._remove_previous(short)
                    self._write_manifest(unit, report, short, [])
                    return report
                job = _FileJob(self, unit, reader, report, short)
                job.run()
            self._commit(unit, report, job, short)
        finally:
            if job is not None:
                job.discard()
        return report

    def staging_dir(self) -> Path:
        """One staging folder per import call, inside the workspace (same file system: moves are renames)."""
        if self._staging is None:
            self._staging = self.workspace / "_staging" / f"session-{os.getpid()}-{time.time_ns()}"
            self._staging.mkdir(parents=True)
        return self._staging

    def _listing(self, folder: Path) -> set[str]:
        """File names in ``folder``, read once per import call and kept current as files move."""
        names = self._listings.get(folder)
        if names is None:
            names = {entry.name for entry in os.scandir(folder)} if folder.is_dir() else set()
            self._listings[folder] = names
        return names

    def _manifest_path(self, short: str) -> Path:
        return self.workspace / "_imports" / f"import-{short}.json"

    def _previous(self, short: str) -> dict[str, Any] | None:
        """The manifest of an identical earlier import whose parts are all still there."""
        path = self._manifest_path(short)
        try:
            manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if manifest.get("importer_version") != IMPORTER_VERSION or manifest.get("options") != self.options:
            return None
        if manifest.get("status") not in ("imported", "empty"):
            return None
        if not all((self.workspace / part).is_file() for part in manifest.get("parts", [])):
            return None
        return manifest

    def _earlier_rows(self, short: str) -> dict[str, int]:
        """Rows per table an earlier import of the same content (any options) still has in the workspace."""
        try:
            manifest = json.loads(self._manifest_path(short).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        if not all((self.workspace / part).is_file() for part in manifest.get("parts", [])):
            return {}
        tables = manifest.get("tables") or {}
        return {str(t): int(c.get("written", 0)) for t, c in tables.items() if int(c.get("written", 0))}

    def _remove_previous(self, short: str) -> None:
        """Delete an earlier import of the same content (its parts and rejects), whatever its options."""
        prefix = f"import-{short}-"
        for table in TABLES:
            folder = self.workspace / table
            names = self._listing(folder)
            for name in [n for n in names if n.startswith(prefix) and n.endswith(".parquet")]:
                (folder / name).unlink(missing_ok=True)
                names.discard(name)
        folder = self.workspace / "_rejects"
        names = self._listing(folder)
        for name in [n for n in names if n.endswith(f"-{short}.jsonl")]:
            (folder / name).unlink(missing_ok=True)
            names.discard(name)

    def _commit(self, unit: InputUnit, report: FileReport, job: _FileJob, short: str) -> None:
        """Move the staged parts and rejects into the workspace, replacing an earlier import."""
        for table, written in self._earlier_rows(short).items():
            report.counts(table).replaced = written
        self._remove_previous(short)
        parts: list[Path] = []
        for table, staged in job.staged_parts:
            target = self.workspace / table / staged.name.split(".", 1)[1]
            target.parent.mkdir(exist_ok=True)
            os.replace(staged, target)
            self._listing(target.parent).add(target.name)
            parts.append(target)
        job.staged_parts = []
        if job.staged_rejects is not None:
            target = self.workspace / "_rejects" / job.staged_rejects.name
            target.parent.mkdir(exist_ok=True)
            os.replace(job.staged_rejects, target)
            self._listing(target.parent).add(target.name)
            report.rejects_file = target
            job.staged_rejects = None
        report.parts = parts
        self._write_manifest(unit, report, short, parts)

    def _write_manifest(self, unit: InputUnit, report: FileReport, short: str, parts: list[Path]) -> None:
        manifest = {
            "importer_version": IMPORTER_VERSION,
            "source": unit.label,
            "sha256": report.sha256,
            "bytes": report.bytes,
            "shape": report.shape,
            "encoding": report.encoding,
            "options": self.options,
            "status": report.status,
            "imported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tables": {t: vars(c) for t, c in sorted(report.tables.items())},
            "time_ranges": {t: [lo.isoformat(), hi.isoformat()] for t, (lo, hi) in sorted(report.time_ranges.items())},
            "skipped": report.skipped,
            "parts": [str(p.relative_to(self.workspace)) for p in parts],
            "rejects": str(report.rejects_file.relative_to(self.workspace)) if report.rejects_file else None,
            "notes": report.notes,
        }
        path = self._manifest_path(short)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, path)


class _TableBuffer:
    """One table's typed rows (lists in registry order) waiting to become a part file."""

    def __init__(self, table: str) -> None:
        schema = TABLES[table]
        self.table = table
        self.arrow = arrow_schema(schema)
        # column -> (position, type, converter); strings that are already str skip the converter
        self.plan = {
            name: (i, kql_type, converter(kql_type), kql_type in ("string", "guid"))
            for i, (name, kql_type) in enumerate(schema.columns)
        }
        self.template = [empty_value(kql_type) for _, kql_type in schema.columns]
        self.rows: list[list[Any]] = []
        self.parts = 0
        self.time_index = self.plan["TimeGenerated"][0]

    def convert(self, values: dict[str, Any]) -> list[Any]:
        """The row in registry order and types; raises ValueProblem naming the column."""
        row = self.template.copy()
        plan = self.plan
        for name, value in values.items():
            entry = plan.get(name)
            if entry is None or value is None:
                continue
            index, kql_type, convert, is_text = entry
            if is_text and value.__class__ is str:
                row[index] = value
                continue
            try:
                if isinstance(value, OffsetValue):
                    typed = to_datetime(value.value, value.offset) if kql_type == "datetime" else convert(value.value)
                else:
                    typed = convert(value)
            except ValueProblem as exc:
                raise ValueProblem(f"{name}: {exc}") from None
            if typed is not None:
                row[index] = typed
        return row

    def append(self, row: list[Any]) -> None:
        self.rows.append(row)

    def take(self) -> list[list[Any]]:
        rows, self.rows = self.rows, []
        return rows


class _FileJob:
    """Reads one input to its end: routes, converts, de-duplicates and stages its rows."""

    def __init__(
        self, session: _Session, unit: InputUnit, reader: SourceReader, report: FileReport, short: str
    ) -> None:
        self.session = session
        self.unit = unit
        self.reader = reader
        self.report = report
        self.short = short
        self.staged_parts: list[tuple[str, Path]] = []
        self.staged_rejects: Path | None = None
        self.notes = FileNotes()
        self.buffers: dict[str, _TableBuffer] = {}
        self.required_checked: set[str] = set()
        self.present: set[str] | None = None
        self.file_table: str | None = None
        self.rejects: Any = None
        self.last_flush = 0
        self.bar: Any = None

    def run(self) -> None:
        records = self.reader.records()
        shape, first = self._shape(records)
        self.report.shape = shape.name
        self.file_table = self.session.table or table_from_path(self.unit.label)
        if isinstance(shape, LaRows) and self.file_table is None and self.present is not None:
            self.file_table = table_from_columns(self.present)
        if self.session.progress:
            self.bar = tqdm(total=self.unit.size(), unit="B", unit_scale=True, desc=self.unit.name, leave=False)
        try:
            for raw in _chain(first, records):
                self._one(shape, raw)
                if self.reader.data_bytes - self.last_flush >= self.session.chunk_bytes:
                    self._flush_all()
            self._flush_all()
        finally:
            if self.rejects is not None:
                self.rejects.close()
            if self.bar is not None:
                self.bar.close()
        if self.reader.fatal:
            self.report.status = "partial"
            self.report.notes.append(self.reader.fatal)
        self.report.notes.extend(self.reader.notes)
        self.report.notes.extend(self.notes.messages)
        for message, n in sorted(self.notes.counts.items()):
            self.report.notes.append(f"{message}: {n:,} row(s)")
        for table, fields in sorted(self.notes.ignored.items()):
            names = sorted(fields, key=str.lower)
            shown = ", ".join(names[:25]) + (f" and {len(names) - 25} more" if len(names) > 25 else "")
            where = f"{table}: " if table else ""
            self.report.notes.append(f"{where}fields not in the schema registry, not imported: {shown}")

    def _shape(self, records: Iterator[RawRecord]) -> tuple[Shape, list[RawRecord]]:
        """The file's shape (forced or detected) and the records already read to detect it."""
        reader = self.reader
        forced = self.session.fmt
        if reader.container == "csv":
            if forced not in (None, "la-csv", "la-json"):
                raise UnknownFormatError(
                    self.unit.label, f"--format {forced} is a JSON shape but the file is CSV", known_shapes()
                )
            shape: Shape = SHAPES["la-csv"](self.notes)
            assert reader.header is not None and isinstance(shape, LaRows)
            problems = shape.zone_problems(reader.header)
            if problems:
                raise ImportInputError(self.unit.label, problems[0])
            self.present = shape.present_columns(reader.header)
            if not self.present:
                raise UnknownFormatError(
                    self.unit.label,
                    f"CSV header has no Log Analytics column of a known table (it has: {_names(reader.header)})",
                    known_shapes(),
                )
            return shape, []
        if forced == "la-csv":
            raise UnknownFormatError(self.unit.label, "--format la-csv given but the file is JSON", known_shapes())
        seen: list[RawRecord] = []  # unreadable records before the first good one are rejected later, not lost
        first: RawRecord | None = None
        for raw in records:
            seen.append(raw)
            first = raw
            if raw.data is not None or self.reader.fatal or len(seen) >= 1000:
                break
        name = forced
        if name is None:
            if first is None or first.data is None:
                detail = first.problem if first is not None and first.problem else "no JSON object found"
                raise UnknownFormatError(self.unit.label, f"cannot tell the shape: {detail}", known_shapes())
            name = detect_json_shape(first.data)
            if name is None:
                raise UnknownFormatError(
                    self.unit.label,
                    f"the records fit no known shape (first record's fields: {_names(list(first.data))})",
                    known_shapes(),
                )
        shape = SHAPES[name](self.notes)
        if isinstance(shape, LaRows) and first is not None and first.data is not None:
            self.present = shape.present_columns(first.data)
        return shape, seen

    def _one(self, shape: Shape, raw: RawRecord) -> None:
        if raw.data is None:
            self._reject(None, raw, raw.problem or "unreadable record")
            return
        try:
            routed = shape.route(raw.data)
        except RecordProblem as exc:
            self._reject(self.file_table, raw, str(exc))
            return
        if routed.foreign is not None:
            self.report.skipped[routed.foreign] = self.report.skipped.get(routed.foreign, 0) + 1
            return
        table = self._table_of(routed, raw)
        if table is None:
            return
        counts = self.report.counts(table)
        counts.read += 1
        if isinstance(shape, LaRows):
            self._check_required(shape, table, raw)
        values = finish(table, routed.values, self.notes)
        buffer = self._buffer(table)
        try:
            row = buffer.convert(values)
        except ValueProblem as exc:
            self._reject(table, raw, str(exc), counted=True)
            return
        if row[buffer.time_index] is None:
            self._reject(table, raw, "no TimeGenerated (nor a creation time to take it from)", counted=True)
            return
        buffer.append(row)
        if len(buffer.rows) >= self.session.chunk_rows:
            self._flush(buffer)

    def _table_of(self, routed: Routed, raw: RawRecord) -> str | None:
        wanted = self.session.table
        if wanted is not None:
            if routed.table is not None and routed.table != wanted:
                self._reject(
                    routed.table,
                    raw,
                    f"row is a {routed.table} row (by its {routed.how}), not {wanted} as --table asked",
                )
                return None
            return wanted
        table = routed.table or self.file_table
        if table is None:
            raise UnknownFormatError(
                self.unit.label,
                "rows do not say which table they belong to (no $table, Type, Category or signInEventTypes), "
                "and neither do the file name or columns; pass --table",
                known_shapes(),
            )
        return table

    def discard(self) -> None:
        """Remove whatever this file staged and did not commit (it failed part-way)."""
        if self.rejects is not None and not self.rejects.closed:
            self.rejects.close()
        for _, staged in self.staged_parts:
            staged.unlink(missing_ok=True)
        if self.staged_rejects is not None:
            self.staged_rejects.unlink(missing_ok=True)
        self.staged_parts, self.staged_rejects = [], None

    def _check_required(self, shape: LaRows, table: str, raw: RawRecord) -> None:
        if table in self.required_checked:
            return
        present = (
            self.present
            if self.reader.container == "csv" and self.present is not None
            else shape.present_columns(raw.data or {})
        )
        missing = missing_required(table, present)
        if missing:
            raise ColumnMismatchError(self.unit.label, table, missing, f"the file has: {_names(sorted(present))}")
        self.required_checked.add(table)

    def _buffer(self, table: str) -> _TableBuffer:
        buffer = self.buffers.get(table)
        if buffer is None:
            self.session.check_table_target(table)
            buffer = _TableBuffer(table)
            self.buffers[table] = buffer
        return buffer

    def _reject(self, table: str | None, raw: RawRecord, reason: str, counted: bool = False) -> None:
        name = table or UNPARSED
        counts = self.report.counts(name)
        if not counted:
            counts.read += 1
        counts.rejected += 1
        if self.rejects is None:
            stem = _SAFE.sub("_", Path(self.unit.name).name)[:80] or "input"
            self.staged_rejects = self.session.staging_dir() / f"{stem}-{self.short}.jsonl"
            self.rejects = open(self.staged_rejects, "w", encoding="utf-8")
        entry = {
            "source": self.unit.label,
            "position": raw.position,
            "table": table,
            "reason": reason,
            "raw": raw.data if raw.data is not None else raw.raw,
        }
        self.rejects.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    def _flush_all(self) -> None:
        for buffer in self.buffers.values():
            if buffer.rows:
                self._flush(buffer)
        self.last_flush = self.reader.data_bytes
        if self.bar is not None:
            self.bar.update(self.reader.raw_bytes - self.bar.n)

    def _flush(self, buffer: _TableBuffer) -> None:
        rows = buffer.take()
        counts = self.report.counts(buffer.table)
        index = self.session.index(buffer.table)
        group = index.group_id(self.report.sha256)
        columns = zip(*rows, strict=True)
        arrays = [pa.array(list(values), type=f.type) for f, values in zip(buffer.arrow, columns, strict=True)]
        del rows, columns
        table = pa.Table.from_arrays(arrays, schema=buffer.arrow)
        keys = self.session.hasher.chunk(buffer.table, table)
        duplicate = index.duplicates(keys, group)
        n_dup = int(duplicate.sum())
        if n_dup:
            table = table.filter(pa.array(~duplicate))
            keys = keys[~duplicate]
        counts.duplicates += n_dup
        if table.num_rows:
            staged = self.session.staging_dir() / f"{buffer.table}.import-{self.short}-{buffer.parts:05d}.parquet"
            pq.write_table(table, staged, compression="zstd")
            self.staged_parts.append((buffer.table, staged))
            buffer.parts += 1
            self._track_time(buffer.table, table)
        index.add(keys, group)
        counts.written += table.num_rows

    def _track_time(self, name: str, table: pa.Table) -> None:
        bounds = pc.min_max(table.column("TimeGenerated"))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is None:
            return
        known = self.report.time_ranges.get(name)
        self.report.time_ranges[name] = (min(known[0], low), max(known[1], high)) if known else (low, high)


def _chain(first: list[RawRecord], rest: Iterator[RawRecord]) -> Iterator[RawRecord]:
    yield from first
    yield from rest


def _names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def part_files(workspace: Path, table: str) -> list[Path]:
    """The importer's part files of ``table`` in ``workspace``."""
    folder = Path(workspace) / table
    return sorted(p for p in folder.glob("import-*.parquet") if PART_NAME.match(p.name)) if folder.is_dir() else []
