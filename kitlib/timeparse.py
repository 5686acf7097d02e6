"""The analysis window's two inputs, parsed and formatted in one place: ``now`` and ``lookback``.

The CLI, the notebooks and the batch runner all read them through here, so a value means the
same thing wherever it is given.
"""

from __future__ import annotations

import datetime as dt

from kitlib.errors import WindowError
from kitlib.query.binding import BindError, parse_datetime, parse_timespan

#: The instants an analysis window may end at: pandas holds 1677-2262, logs hold nothing older.
EARLIEST_NOW = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST_NOW = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
#: The longest window: far beyond any log retention (Log Analytics keeps at most 12 years).
LONGEST_LOOKBACK = dt.timedelta(days=36_500)


def parse_now(text: str | dt.datetime | None) -> dt.datetime:
    """The window's end in UTC: an ISO-8601 instant (UTC when it names no zone), or now when empty."""
    if isinstance(text, dt.datetime):
        when = text.replace(tzinfo=dt.UTC) if text.tzinfo is None else text.astimezone(dt.UTC)
    elif not text:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    else:
        try:
            when = parse_datetime(text)
        except (BindError, OverflowError) as exc:
            raise WindowError("now", str(exc)) from None
    if not EARLIEST_NOW <= when < LATEST_NOW:
        raise WindowError(
            "now", f"{when.date().isoformat()} is outside {EARLIEST_NOW:%Y}-{LATEST_NOW:%Y}; give the window's end"
        )
    return when


def parse_lookback(text: str | dt.timedelta) -> dt.timedelta:
    """The window's length: ``30d``, ``12h``, ``90m`` (or a timedelta); it must be positive."""
    if isinstance(text, dt.timedelta):
        span = text
    else:
        try:
            span = parse_timespan(text)
        except BindError as exc:
            raise WindowError("lookback", str(exc)) from None
    if span <= dt.timedelta(0):
        raise WindowError("lookback", "must be positive")
    if span > LONGEST_LOOKBACK:
        raise WindowError("lookback", f"must be at most {LONGEST_LOOKBACK.days}d")
    return span


def format_timespan(span: dt.timedelta) -> str:
    """``30d``/``12h``/``90m`` for display."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
