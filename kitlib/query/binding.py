"""Typed query parameters: coerce caller values to a declared KQL type, and encode them as literals.

Values never reach a query by string formatting. A backend either hands the typed value to the
engine beside the query (DuckDB prepared statements locally, request parameters on ADX), or
replaces the ``declare query_parameters`` statement with ``let`` lines whose right-hand sides
come only from :func:`kql_literal`, which accepts nothing it cannot encode exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from typing import Any

from kitlib.errors import UsageError

KQL_TYPES = ("string", "datetime", "timespan", "long", "int", "real", "bool", "dynamic", "guid")

_TIMESPAN_UNITS = {
    "d": dt.timedelta(days=1),
    "h": dt.timedelta(hours=1),
    "m": dt.timedelta(minutes=1),
    "s": dt.timedelta(seconds=1),
    "ms": dt.timedelta(milliseconds=1),
}
_TIMESPAN_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s|ms)\s*$")
# Control characters other than tab, newline and carriage return have no KQL escape we trust.
_UNENCODABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BindError(UsageError):
    """A value cannot be represented as the declared KQL type."""


def parse_timespan(text: str) -> dt.timedelta:
    """Parse the kit's timespan spelling (``30d``, ``12h``, ``90m``, ``1.5h``)."""
    match = _TIMESPAN_RE.match(text)
    if not match:
        raise BindError(f"{text!r} is not a timespan; use a number and a unit, e.g. 30d, 12h, 90m")
    try:
        return float(match.group(1)) * _TIMESPAN_UNITS[match.group(2)]
    except OverflowError:
        raise BindError(f"{text!r} is too long a timespan") from None


def parse_datetime(text: str) -> dt.datetime:
    """Parse an ISO-8601 instant; a value without a zone is taken as UTC (Log Analytics' zone)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BindError(f"{text!r} is not an ISO-8601 datetime, e.g. 2026-11-27T00:00:00Z") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def coerce(kql_type: str, value: Any) -> Any:
    """Return ``value`` as the Python value of ``kql_type``; strings are parsed, others checked.

    CLI and papermill parameters arrive as text, library callers pass Python values; both end
    up here so the two paths accept exactly the same things.
    """
    if kql_type == "string":
        if not isinstance(value, str):
            raise BindError(f"expected a string, got {type(value).__name__}")
        return value
    if kql_type == "datetime":
        if isinstance(value, str):
            return parse_datetime(value)
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        raise BindError(f"expected a datetime, got {type(value).__name__}")
    if kql_type == "timespan":
        if isinstance(value, str):
            return parse_timespan(value)
        if isinstance(value, dt.timedelta):
            return value
        raise BindError(f"expected a timespan, got {type(value).__name__}")
    if kql_type in ("long", "int"):
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BindError(f"expected a whole number, got {value!r}")
        limit = 2**63 if kql_type == "long" else 2**31
        if not -limit <= value < limit:
            raise BindError(f"{value} does not fit in a KQL {kql_type}")
        return value
    if kql_type == "real":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise BindError(f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BindError(f"expected a finite number, got {value!r}")
        return float(value)
    if kql_type == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise BindError(f"expected true or false, got {value!r}")
        return value
    if kql_type == "dynamic":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise BindError(f"expected JSON for a dynamic value: {exc}") from None
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BindError(f"value cannot be held in a dynamic: {exc}") from None
        return value
    if kql_type == "guid":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise BindError(f"{value!r} is not a GUID") from None
    raise BindError(f"unsupported parameter type {kql_type!r}; supported: {', '.join(KQL_TYPES)}")


def kql_literal(kql_type: str, value: Any) -> str:
    """Encode an already coerced value as a KQL literal of ``kql_type`` that means exactly it."""
    value = coerce(kql_type, value)
    if kql_type == "string":
        return _string_literal(value)
    if kql_type == "datetime":
        return f"datetime({value.strftime('%Y-%m-%dT%H:%M:%S.%fZ')})"
    if kql_type == "timespan":
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return f"{micros}microseconds" if micros >= 0 else f"(0s - {-micros}microseconds)"
    if kql_type in ("long", "int"):
        return f"{kql_type}({value})"
    if kql_type == "real":
        return f"real({value!r})"
    if kql_type == "bool":
        return "true" if value else "false"
    if kql_type == "dynamic":
        return "dynamic(" + _dynamic_json(value) + ")"
    if kql_type == "guid":
        return f"guid({value})"
    raise BindError(f"unsupported parameter type {kql_type!r}")  # pragma: no cover - coerce raised


def _string_literal(value: str) -> str:
    if _UNENCODABLE.search(value):
        raise BindError("string contains a control character that has no KQL escape")
    if not any(ch in value for ch in "\n\r\t"):
        # Verbatim literal: backslash is ordinary, the only escape is a doubled quote.
        return '@"' + value.replace('"', '""') + '"'
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return '"' + escaped + '"'


def _dynamic_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if _UNENCODABLE.search(text):
        raise BindError("dynamic value contains a control character that has no KQL escape")
    return text
