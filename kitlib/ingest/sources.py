"""Reading export files as streams of raw records, with bounded memory.

An input is a file or one member of a zip archive, possibly gzip/bz2/xz compressed (detected by
magic bytes, not by name). Its text encoding is read from a byte-order mark or, for UTF-16
without one, from the NUL-byte pattern; otherwise it must be UTF-8 (or what the caller says):
bytes that do not decode are never guessed at. A file that is not UTF-8 from the start fails
with an error naming the byte; a stray undecodable line deeper in a large file rejects that
line only.

The container is sniffed from the first bytes: CSV (the portal export), JSON Lines (one record,
or one ``{"records": [...]}`` batch, per line), or one JSON document (an array, an envelope such
as ``{"records": [...]}``, ``{"value": [...]}`` or ``{"tables": [...]}``, or concatenated pages)
streamed with ijson so a 2 GB document never sits in memory.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import hashlib
import io
import json
import logging
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import ijson  # type: ignore[import-untyped]

from kitlib.errors import InputEncodingError, InputNotFoundError, UnknownFormatError, UnreadableInputError
from kitlib.ingest.formats import known_shapes

log = logging.getLogger(__name__)

SNIFF_BYTES = 1 << 20
_BLOCK = 1 << 20
_TAIL = 4096
#: JSON documents up to this size (decompressed) are parsed again on a syntax error, for its line and column.
LOCATE_LIMIT = 64 << 20
#: How far the streaming JSON parser may have read past an error (its buffer and the reader's).
LOOKAHEAD_BYTES = (256 + 64) * 1024
_CSV_FIELD_LIMIT = 64 << 20
_SURROGATE = re.compile("[\udc80-\udcff]")
_ENVELOPE_KEYS = ("records", "value")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class InputUnit:
    """One importable byte stream: a file on disk, or one member of a zip archive on disk."""

    path: Path
    member: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @property
    def name(self) -> str:
        return Path(self.member).name if self.member else self.path.name

    def size(self) -> int:
        """Bytes on disk (compressed size for archive members)."""
        if self.member:
            with zipfile.ZipFile(self.path) as archive:
                return archive.getinfo(self.member).compress_size
        return self.path.stat().st_size

    def open_raw(self) -> IO[bytes]:
        """The stored bytes (still compressed if the file is gzip/bz2/xz)."""
        try:
            if self.member is None:
                return open(self.path, "rb")
            archive = zipfile.ZipFile(self.path)
            return cast(IO[bytes], _ZipMember(archive, archive.open(self.member)))
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise UnreadableInputError(self.label, f"cannot open: {exc}") from None


class _ZipMember(io.RawIOBase):
    """A zip member stream that closes its archive with it."""

    def __init__(self, archive: zipfile.ZipFile, stream: IO[bytes]) -> None:
        self._archive = archive
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._stream.close()
            self._archive.close()
        finally:
            super().close()


def expand_paths(paths: Iterable[Path | str]) -> list[InputUnit]:
    """Files to import: folders are walked (sorted, hidden entries skipped), zips are opened."""
    units: list[InputUnit] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise InputNotFoundError(str(path), "no such file or folder")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
        else:
            files = [path]
        for file in files:
            units.extend(_units_of(file))
    return units


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def _units_of(file: Path) -> list[InputUnit]:
    try:
        with open(file, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise UnreadableInputError(str(file), f"cannot read: {exc.strerror or exc}") from None
    if magic != b"PK\x03\x04":
        return [InputUnit(file)]
    try:
        with zipfile.ZipFile(file) as archive:
            members = [
                info.filename for info in archive.infolist() if not info.is_dir() and not _hidden(Path(info.filename))
            ]
    except zipfile.BadZipFile as exc:
        raise UnreadableInputError(str(file), f"not a readable zip archive: {exc}") from None
    return [InputUnit(file, member) for member in sorted(members)]


def open_bytes(unit: InputUnit, raw: IO[bytes] | None = None) -> IO[bytes]:
    """The unit's content bytes, decompressed when the stored bytes are gzip, bz2 or xz."""
    raw = raw or unit.open_raw()
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw))
    magic = buffered.peek(6)[:6]
    if magic[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
    if magic[:3] == b"BZh":
        return cast(IO[bytes], bz2.BZ2File(buffered, "rb"))
    if magic[:6] == b"\xfd7zXZ\x00":
        return cast(IO[bytes], lzma.LZMAFile(buffered, "rb"))
    return buffered


_STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


def content_hash(unit: InputUnit) -> tuple[str, int]:
    """SHA-256 of the decompressed content and its length: the identity of an import.

    The same logs imported again (renamed, or gzipped this time) hash the same, so their
    part files replace the earlier ones instead of duplicating them.
    """
    digest = hashlib.sha256()
    total = 0
    try:
        with open_bytes(unit) as stream:
            while block := stream.read(_BLOCK):
                digest.update(block)
                total += len(block)
    except _STREAM_ERRORS as exc:
        raise UnreadableInputError(
            unit.label, f"cannot read the content (corrupt or truncated archive?): {exc}"
        ) from None
    return digest.hexdigest(), total


class _Counting(io.RawIOBase):
    """Counts the bytes read through it and keeps the last few KB (for truncation reports)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.tail = (self.tail + data)[-_TAIL:] if n < _TAIL else data[-_TAIL:]
        return n

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


class _Replay(io.RawIOBase):
    """Serves already-sniffed bytes, then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head.nbytes:
            n = min(len(buffer), self._head.nbytes)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Utf8Recode(io.RawIOBase):
    """Text in any codec -> UTF-8 bytes, for ijson (which reads UTF-8)."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._text.read(64 * 1024)
            if not chunk:
                return 0
            self._pending = chunk.encode("utf-8")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def sniff_encoding(head: bytes, label: str, declared: str | None) -> tuple[str, int]:
    """``(codec, BOM length)`` for a file starting with ``head``; raises when it is not text we can read."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError:
            raise InputEncodingError(label, f"unknown encoding {declared!r}") from None
        return declared, 0
    sample = head[:4096]
    if len(sample) >= 8:
        even_nul = sample[0::2].count(0) / max(1, len(sample[0::2]))
        odd_nul = sample[1::2].count(0) / max(1, len(sample[1::2]))
        if odd_nul > 0.3 and even_nul < 0.05:
            return "utf-16-le", 0
        if even_nul > 0.3 and odd_nul < 0.05:
            return "utf-16-be", 0
    if head.startswith(b"PAR1"):
        raise UnknownFormatError(
            label,
            "this is a Parquet file, not an export; a Parquet table can be placed in the workspace "
            "folder as <Table>.parquet or <Table>/*.parquet without importing",
            known_shapes(),
        )
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        bad = head[exc.start : exc.start + 4]
        context = head[max(0, exc.start - 30) : exc.start + 10].decode("latin-1", "backslashreplace")
        hint = "Latin-1/Windows-1252" if bad and 0xA0 <= bad[0] <= 0xFF else "not text (a binary file?)"
        raise InputEncodingError(
            label,
            f"not UTF-8: byte 0x{bad[0]:02X} at offset {exc.start} (near {context!r}); it looks like {hint}. "
            f"Re-save it as UTF-8, or pass the encoding (e.g. --encoding cp1252)",
        ) from None
    return "utf-8", 0


@dataclass
class RawRecord:
    """One record as read: parsed data, or the problem that kept it from parsing."""

    position: str
    data: dict[str, Any] | None
    raw: Any = None
    problem: str | None = None


@dataclass
class SourceReader:
    """Opens one input, decides encoding and container, and yields its raw records."""

    unit: InputUnit
    declared_encoding: str | None = None
    sniff_bytes: int = SNIFF_BYTES
    container: str = ""
    encoding: str = ""
    header: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    fatal: str | None = None
    _raw: _Counting | None = None
    _data: _Counting | None = None
    _stream: IO[bytes] | None = None
    _head: bytes = b""

    def __enter__(self) -> SourceReader:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def raw_bytes(self) -> int:
        """Stored bytes consumed so far (for progress)."""
        return self._raw.count if self._raw else 0

    @property
    def data_bytes(self) -> int:
        """Content bytes consumed so far (for chunk budgeting)."""
        return self._data.count if self._data else 0

    def open(self) -> None:
        self._raw = _Counting(self.unit.open_raw())
        try:
            self._data = _Counting(open_bytes(self.unit, io.BufferedReader(self._raw)))
            head = b""
            while len(head) < self.sniff_bytes:
                block = self._data.read(self.sniff_bytes - len(head))
                if not block:
                    break
                head += block
        except _STREAM_ERRORS as exc:
            self.close()
            raise UnreadableInputError(self.unit.label, f"cannot read: {exc}") from None
        self.encoding, bom = sniff_encoding(head, self.unit.label, self.declared_encoding)
        self._head = head
        self._stream = io.BufferedReader(_Replay(head[bom:], self._data), buffer_size=256 * 1024)  # type: ignore[arg-type]
        self.container = self._sniff_container(head[bom:])
        if self.container == "csv":
            self.header = self._read_csv_header()

    def close(self) -> None:
        for stream in (self._stream, self._data, self._raw):
            if stream is not None:
                try:
                    stream.close()
                except Exception:
                    pass

    def _sniff_container(self, head: bytes) -> str:
        try:
            text = head[: 64 * 1024].decode(self.encoding, errors="replace")
        except LookupError:
            text = head[: 64 * 1024].decode("utf-8", errors="replace")
        stripped = text.lstrip("\ufeff \t\r\n")
        if not stripped:
            if len(head) < self.sniff_bytes:
                return "empty"
            raise UnknownFormatError(self.unit.label, "the first MB holds only whitespace", known_shapes())
        if stripped[0] == "[":
            return "json"
        if stripped[0] == "{":
            return "jsonl" if self._first_line_is_json(head) else "json"
        return "csv"

    def _first_line_is_json(self, head: bytes) -> bool:
        """JSON Lines when the first line is a JSON value of its own.

        A broken first line does not make a file a document: if the head is not a valid start
        of one JSON document but some of its first lines parse alone, it is JSON Lines with a
        bad line (rejected later, like any other).
        """
        text = head.decode(self.encoding, errors="replace").lstrip("\ufeff \t\r\n")
        lines = text.split("\n")
        if len(lines) == 1 and len(head) >= self.sniff_bytes:
            return False  # one long line: stream it as a document
        complete = lines if len(head) < self.sniff_bytes else lines[:-1]
        if _parses_alone(complete[0]):
            return True
        if not any(_parses_alone(line) for line in complete[1:50]):
            return False
        utf8 = text.encode("utf-8")
        try:
            for _ in ijson.parse(io.BytesIO(utf8), multiple_values=True):
                pass
        except ijson.JSONError as exc:
            return "premature EOF" not in str(exc)
        return False

    # ---------------------------------------------------------------- CSV

    def _text(self) -> IO[str]:
        assert self._stream is not None
        errors = "surrogateescape" if self.encoding == "utf-8" else "strict"
        return io.TextIOWrapper(self._stream, encoding=self.encoding, errors=errors, newline="")

    def _read_csv_header(self) -> list[str]:
        self._csv_text = self._text()
        self._csv_bad_line = False
        first = self._csv_text.readline()
        delimiter = max((",", "\t", ";"), key=first.count)
        if first.count(delimiter) == 0:
            raise UnknownFormatError(
                self.unit.label, "not JSON, and the first line is not a CSV header (no delimiter)", known_shapes()
            )
        self._csv_lines = self._watch_lines(self._csv_text)
        header = next(csv.reader([first], delimiter=delimiter))
        self._csv_delimiter = delimiter
        self._csv_line_no = 1
        return [h.lstrip("\ufeff") for h in header]

    def _watch_lines(self, text: IO[str]) -> Iterator[str]:
        for line in text:
            if _SURROGATE.search(line):
                self._csv_bad_line = True
            yield line

    def _csv_records(self) -> Iterator[RawRecord]:
        assert self.header is not None
        csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
        reader = csv.reader(self._csv_lines, delimiter=self._csv_delimiter, strict=False)
        width = len(self.header)
        row_no = 0
        while True:
            start = reader.line_num + 2
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row_no += 1
                yield RawRecord(f"CSV line {start}", None, None, f"unreadable CSV: {exc}")
                continue
            row_no += 1
            position = f"CSV row {row_no} (line {start})"
            if self._csv_bad_line:
                self._csv_bad_line = False
                raw = [c.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") for c in row]
                yield RawRecord(position, None, raw, "row holds bytes that are not valid UTF-8")
                continue
            if not row or row == [""]:
                continue
            if len(row) != width:
                yield RawRecord(position, None, row, f"row has {len(row)} fields, the header has {width}")
                continue
            yield RawRecord(position, dict(zip(self.header, row, strict=True)), None)

    # ---------------------------------------------------------------- JSON Lines

    def _jsonl_records(self) -> Iterator[RawRecord]:
        assert self._stream is not None
        if self.encoding == "utf-8":
            lines: Iterable[bytes | str] = self._stream
        else:
            lines = self._text()
        for line_no, line in enumerate(lines, 1):
            if isinstance(line, bytes):
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield RawRecord(
                        f"line {line_no}",
                        None,
                        line.decode("utf-8", "backslashreplace"),
                        f"line is not valid UTF-8 (byte 0x{line[exc.start]:02X} at column {exc.start + 1})",
                    )
                    continue
            else:
                text = line
            if line_no == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                where = f"line {line_no}, column {exc.colno}"
                reason = f"invalid JSON at {where}: {exc.msg}"
                if not any(n.startswith(f"{self.unit.label}: invalid JSON") for n in self.notes):
                    self.notes.append(f"{self.unit.label}: {reason} (rejected, as is any other invalid line)")
                yield RawRecord(f"line {line_no}", None, text.rstrip("\r\n"), reason)
                continue
            yield from _expand(value, f"line {line_no}", self.notes)

    # ---------------------------------------------------------------- JSON document

    def _json_stream(self) -> IO[bytes]:
        assert self._stream is not None
        if self.encoding == "utf-8":
            return self._stream
        return io.BufferedReader(_Utf8Recode(self._text()))

    def _json_records(self) -> Iterator[RawRecord]:
        head = self._head
        if self.encoding != "utf-8":
            head = head.decode(self.encoding, errors="ignore").encode("utf-8")
        mode, prefix = json_layout(head.lstrip(codecs.BOM_UTF8))
        if b"@odata.nextLink" in head:
            self._note_next_link()
        stream = self._json_stream()
        count = 0
        try:
            if mode == "tables":
                for record in _table_rows(stream, prefix):
                    count += 1
                    record.position = f"row {count}"
                    yield record
            else:
                for value in ijson.items(stream, prefix, multiple_values=True, use_float=True):
                    count += 1
                    yield from _expand(value, f"record {count}", self.notes)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            tail = self._data.tail if self._data else b""
            # yajl raises IncompleteJSONError for every parse error; only "premature EOF" is a cut-off file
            truncated = "premature EOF" in str(exc)
            reason = (
                f"the input ends inside a JSON value after {count} complete record(s) (truncated file?)"
                if truncated
                else f"{self.unit.label}: invalid JSON {self._error_place(count, _first_line(str(exc)))}; "
                "the rest of the file could not be read"
            )
            self.fatal = reason
            yield RawRecord(f"after record {count}", None, tail.decode("utf-8", "backslashreplace"), reason)
        if self._data is not None and b"@odata.nextLink" in self._data.tail:
            self._note_next_link()

    def _error_place(self, count: int, parser_says: str) -> str:
        """Where a JSON document stops parsing: line and column, read again by Python's parser.

        The streaming parser (yajl) names no position. Inputs up to :data:`LOCATE_LIMIT`
        (decompressed) are parsed again whole for the exact line and column; a larger one is
        placed by the bytes read so far, as a range.
        """
        consumed = self.data_bytes
        after = f"after {count} complete record(s)"
        try:
            with open_bytes(self.unit) as stream:
                data = stream.read(LOCATE_LIMIT + 1)
            if len(data) <= LOCATE_LIMIT:
                text = data.decode(self.encoding or "utf-8", errors="replace").lstrip("\ufeff")
                try:
                    json.loads(text)
                except json.JSONDecodeError as exc:
                    return f"at line {exc.lineno}, column {exc.colno}: {exc.msg} ({after})"
                return f"{after}: {parser_says}"
            del data
            with open_bytes(self.unit) as stream:
                lines = _newlines_before(stream, max(0, consumed - LOOKAHEAD_BYTES))
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return f"{after}: {parser_says}"
        start = max(0, consumed - LOOKAHEAD_BYTES)
        return f"{after}, between bytes {start:,} and {consumed:,} (from about line {lines + 1:,}): {parser_says}"

    def _note_next_link(self) -> None:
        message = (
            "Graph page with @odata.nextLink: the result continues on further pages; import every page "
            "(re-importing a page never duplicates rows)"
        )
        if message not in self.notes:
            self.notes.append(message)

    def records(self) -> Iterator[RawRecord]:
        """The file's records in order; unreadable ones carry a ``problem`` instead of data."""
        if self.container == "empty":
            return iter(())
        if self.container == "csv":
            return self._guard(self._csv_records())
        if self.container == "jsonl":
            return self._guard(self._jsonl_records())
        return self._guard(self._json_records())

    def _guard(self, records: Iterator[RawRecord]) -> Iterator[RawRecord]:
        """Turn stream failures mid-file (bad codec bytes, a corrupt archive) into clear errors."""
        try:
            yield from records
        except UnicodeDecodeError as exc:
            raise InputEncodingError(
                self.unit.label,
                f"not valid {self.encoding} after about {self.data_bytes} bytes ({exc.reason}); "
                "pass the right --encoding",
            ) from None
        except _STREAM_ERRORS as exc:
            raise UnreadableInputError(
                self.unit.label, f"read failed after about {self.data_bytes} bytes: {exc}"
            ) from None


def _newlines_before(stream: IO[bytes], offset: int) -> int:
    """Line breaks in the first ``offset`` bytes of ``stream`` (read in blocks, never held whole)."""
    seen = lines = 0
    while seen < offset:
        block = stream.read(min(1 << 20, offset - seen))
        if not block:
            break
        lines += block.count(b"\n")
        seen += len(block)
    return lines


def _parses_alone(line: str) -> bool:
    try:
        return isinstance(json.loads(line), (dict, list))
    except json.JSONDecodeError:
        return False


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _expand(value: Any, position: str, notes: list[str]) -> Iterator[RawRecord]:
    """A parsed JSON value as records: an object is one, an envelope or array holds several."""
    if isinstance(value, dict):
        if isinstance(value.get("tables"), list):
            yield from _expand_tables(value["tables"], position)
            return
        envelope = _envelope_items(value)
        if envelope is None:
            yield RawRecord(position, value, None)
            return
        if any(str(k).lower() == "@odata.nextlink" for k in value):
            message = (
                "Graph page with @odata.nextLink: the result continues on further pages; import every page "
                "(re-importing a page never duplicates rows)"
            )
            if message not in notes:
                notes.append(message)
        for index, item in enumerate(envelope, 1):
            yield from _expand_item(item, f"{position}, item {index}")
        return
    if isinstance(value, list):
        for index, item in enumerate(value, 1):
            yield from _expand_item(item, f"{position}, item {index}")
        return
    yield RawRecord(position, None, value, f"a JSON {type(value).__name__}, not an object")


def _expand_tables(tables: list[Any], position: str) -> Iterator[RawRecord]:
    """The Log Analytics REST shape held in memory (a small file or one JSON Lines line)."""
    for t_index, table in enumerate(tables, 1):
        if not isinstance(table, dict):
            continue
        columns = [str(c.get("name") if isinstance(c, dict) else c) for c in table.get("columns") or []]
        for r_index, row in enumerate(table.get("rows") or [], 1):
            where = f"{position}, table {t_index}, row {r_index}"
            if isinstance(row, list) and len(row) == len(columns):
                yield RawRecord(where, dict(zip(columns, row, strict=True)), None)
            else:
                yield RawRecord(where, None, row, f"row does not match the table's {len(columns)} columns")


def _expand_item(item: Any, position: str) -> Iterator[RawRecord]:
    if isinstance(item, dict):
        yield RawRecord(position, item, None)
    else:
        yield RawRecord(position, None, item, f"a JSON {type(item).__name__}, not an object")


def _envelope_items(value: dict[str, Any]) -> list[Any] | None:
    """The record list of ``{"records": [...]}`` / ``{"value": [...]}`` (other keys only metadata)."""
    if len(value) > 8:
        return None  # an envelope has its list and a few @odata / paging keys, a record has many fields
    for key, inner in value.items():
        if str(key).lower() in _ENVELOPE_KEYS and isinstance(inner, list):
            others = [k for k in value if k != key]
            if all(str(k).startswith("@") or str(k).lower() in ("nextlink", "count") for k in others):
                return inner
    return None


def json_layout(head: bytes) -> tuple[str, str]:
    """Where the records sit in a JSON document, judged from its first bytes.

    ``("items", "item")`` for a top-level array, ``("items", "records.item")`` /
    ``("items", "value.item")`` for envelopes, ``("tables", "tables")`` for the Log Analytics
    REST shape, ``("items", "")`` when each top-level value is a record.
    """
    keys: list[str] = []
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(head), multiple_values=True):
            if prefix == "" and event == "start_array":
                return "items", "item"
            if prefix == "" and event == "map_key":
                keys.append(value)
            elif event == "start_array" and keys and prefix == keys[-1]:
                if prefix.lower() in _ENVELOPE_KEYS:
                    return "items", f"{prefix}.item"
                if prefix.lower() == "tables":
                    return "tables", prefix
            elif prefix == "" and event == "end_map":
                return "items", ""
    except ijson.JSONError:
        pass
    return "items", ""


def _table_rows(stream: IO[bytes], prefix: str) -> Iterator[RawRecord]:
    """Rows of ``{"tables": [{"name", "columns": [{"name", "type"}], "rows": [[...]]}]}`` as objects."""
    table_prefix = f"{prefix}.item"
    columns: list[str] | None = None
    builder: Any = None
    building = ""
    depth = 0
    for path, event, value in ijson.parse(stream, multiple_values=True, use_float=True):
        if builder is not None:
            builder.event(event, value)
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
            if depth == 0:
                if building == "columns":
                    columns = [str(c.get("name") if isinstance(c, dict) else c) for c in builder.value]
                else:
                    row = builder.value
                    if columns is None:
                        raise ijson.JSONError("a table's rows come before its columns")
                    if isinstance(row, list) and len(row) == len(columns):
                        yield RawRecord("", dict(zip(columns, row, strict=True)), None)
                    elif isinstance(row, dict):
                        yield RawRecord("", row, None)
                    else:
                        yield RawRecord("", None, row, f"row does not match the table's {len(columns)} columns")
                builder = None
            continue
        if path == table_prefix and event == "start_map":
            columns = None
        elif path in (f"{table_prefix}.columns", f"{table_prefix}.rows.item") and event in ("start_array", "start_map"):
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            building = "columns" if path.endswith(".columns") else "row"
            depth = 1
