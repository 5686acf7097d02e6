"""Turn exported cell values into the schema registry's types, or say exactly why not.

Exports spell the same value many ways: a datetime is ISO-8601 with ``Z`` or ``+00:00`` and up
to seven fractional digits (query API, diagnostic settings, Graph), or US-locale text such as
``4/28/2021, 2:08:45.221 PM`` (portal CSV); a bool is ``TRUE``, ``true`` or a JSON ``true``;
a number may arrive as text. Every converter returns the typed value or raises
:class:`ValueProblem` naming the column and the text, so the importer can reject that one row
and keep the rest. Nothing is coerced by guessing: an unparseable value is a reject, not a null.

Storage conventions (what the local backend reads back): datetimes are UTC, ``dynamic`` and
JSON-in-string columns hold JSON text, and string columns are never null (Kusto has no null
string; an absent value is ``""``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from kitlib.domain.schema import TableSchema

UTC = dt.UTC

#: Kusto type -> Arrow type of the Parquet column the importer writes.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "guid": pa.string(),
    "dynamic": pa.string(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "real": pa.float64(),
}

_US_DATETIME = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*([AaPp][Mm])\s*$"
)
_ISO_START = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
# Epoch numbers: milliseconds from 1973 on (pandas' to_json default), seconds before that value.
_EPOCH_MS_FROM = 100_000_000_000

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


#: Times a log can hold; outside them a value is a placeholder (Windows' 1601 null date) or garbage,
#: and pandas cannot even hold it (1677-2262).
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = dt.datetime(2200, 1, 1, tzinfo=UTC)


class ValueProblem(ValueError):
    """One value cannot be read as its column's type; the message is the reject reason."""


def to_datetime(value: Any, offset: dt.timedelta | None = None) -> dt.datetime | None:
    """A UTC datetime from ISO-8601, US-locale portal text, epoch numbers or a datetime.

    Values without a zone are UTC (every Log Analytics export is), unless the column header
    declared an ``offset`` (a portal export made with a non-UTC display zone).
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, bool):
        raise ValueProblem(f"{value!r} is not a datetime")
    elif isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_FROM else value
        try:
            return dt.datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueProblem(f"{value!r} is not a usable epoch time") from None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        parsed = _parse_datetime_text(text)
    else:
        raise ValueProblem(f"{type(value).__name__} value {_short(value)} is not a datetime")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC) - (offset or dt.timedelta(0))
    if not _EARLIEST <= parsed < _LATEST:
        raise ValueProblem(
            f"{_short(value)} is outside the years {_EARLIEST.year}-{_LATEST.year - 1}, so not a log time "
            "(1601-01-01 is Windows' 'no date')"
        )
    return parsed.astimezone(UTC)


def _parse_datetime_text(text: str) -> dt.datetime:
    if _ISO_START.match(text):
        try:
            return dt.datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            pass
    match = _US_DATETIME.match(text)
    if match:
        month, day, year, hour, minute = (int(match.group(i)) for i in (1, 2, 3, 4, 5))
        second = int(match.group(6) or 0)
        micro = int((match.group(7) or "0").ljust(6, "0")[:6])
        if not 1 <= hour <= 12:
            raise ValueProblem(f"{text!r} has hour {hour} on a 12-hour clock")
        hour = hour % 12 + (12 if match.group(8).upper() == "PM" else 0)
        try:
            return dt.datetime(year, month, day, hour, minute, second, micro)
        except ValueError as exc:
            raise ValueProblem(f"{text!r} is not a valid date ({exc})") from None
    raise ValueProblem(f"{_short(text)} is not a datetime (expected ISO-8601 or M/D/YYYY, h:mm:ss.fff AM/PM)")


def to_bool(value: Any) -> bool | None:
    """A bool from JSON booleans, ``TRUE``/``FALSE`` (portal CSV), ``true``/``false``, 1/0."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueProblem(f"{_short(value)} is not a bool (expected true/false)")


def to_long(value: Any) -> int | None:
    """A whole number from an int, an integral float or digits in text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueProblem(f"{value!r} is not a whole number")
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                raise ValueProblem(f"{_short(text)} is not a whole number") from None
            if not as_float.is_integer():
                raise ValueProblem(f"{_short(text)} is not a whole number") from None
            number = int(as_float)
    else:
        raise ValueProblem(f"{type(value).__name__} value {_short(value)} is not a whole number")
    if not -(2**63) <= number < 2**63:
        raise ValueProblem(f"{number} does not fit in a long")
    return number


def to_real(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueProblem(f"{_short(value)} is not a number") from None


def to_string(value: Any) -> str:
    """Text as Log Analytics holds it: objects and arrays as compact JSON, numbers as digits."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return json_text(value)
    if isinstance(value, dt.datetime):
        return to_datetime(value).isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]
    return str(value)


def to_dynamic(value: Any) -> str | None:
    """JSON text for a ``dynamic`` column; text that is not JSON becomes a JSON string, as in KQL."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[0] in "{[":
            return text
        if text in ("true", "false", "null") or _looks_numeric(text):
            return text
        return json.dumps(value, ensure_ascii=False)
    return json_text(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def json_text(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is (the exports are UTF-8)."""
    return _ENCODER.encode(value)


def parse_json_value(value: Any) -> Any:
    """The object behind a JSON-in-string value, or the value itself when it is not JSON text."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return value
    return value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


Converter = Callable[[Any], Any]


def converter(kql_type: str, offset: dt.timedelta | None = None) -> Converter:
    """The converter for a registry type (``offset``: a declared non-UTC zone for datetimes)."""
    if kql_type == "datetime":
        if offset:
            return lambda value: to_datetime(value, offset)
        return to_datetime
    return {
        "string": to_string,
        "guid": to_string,
        "dynamic": to_dynamic,
        "bool": to_bool,
        "int": to_long,
        "long": to_long,
        "real": to_real,
    }[kql_type]


def arrow_schema(schema: TableSchema) -> pa.Schema:
    """The Parquet schema of a table's part files: every registry column, in registry order."""
    return pa.schema([pa.field(name, ARROW_TYPES[kql_type]) for name, kql_type in schema.columns])


def empty_value(kql_type: str) -> Any:
    """What an absent value is stored as: ``""`` for strings (Kusto has no null string), else null."""
    return "" if kql_type in ("string", "guid") else None
