"""Typed binding: coercion rules, literal encoding, and property tests that no value changes a query."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb_kql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kitlib.query.binding import BindError, coerce, kql_literal, parse_timespan
from kitlib.query.catalog import parse_query

# Strings with the characters that break naive quoting, plus arbitrary unicode.
HOSTILE = st.one_of(
    st.lists(
        st.sampled_from([*"\"'\\|/;@`\n\r\t{}()[]$ ab", "//", '""', '@"', "\u00e9", "\u202e", "\U0001f600"]),
        max_size=20,
    ).map("".join),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
    st.sampled_from(
        [
            'alice@contoso.com" or 1==1 | union SecurityEvent //',
            '@" | take 1',
            "x\\",
            '"""',
            "';drop table x;--",
            'a" | project secret = "b',
            '\\"',
        ]
    ),
)
# Control characters other than tab/newline/CR have no KQL escape; the encoder refuses them.
ENCODABLE = HOSTILE.filter(lambda s: not any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in s))

_con = duckdb_kql.connect()
_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _query(tmp_name: str, decl: str, body: str) -> str:
    return f"// name: {tmp_name}\n// description: d\n// tables: SigninLogs\ndeclare query_parameters({decl});\n{body}\n"


def _print_value(literal: str) -> object:
    return duckdb_kql.df(_con, f"let v = {literal};\nprint v = v, n = 1").iloc[0].tolist()


@_PROPERTY
@given(ENCODABLE)
def test_string_literal_round_trips_exactly_and_adds_no_clause(value: str) -> None:
    # If a value could escape its literal, the printed row would differ or gain columns.
    assert _print_value(kql_literal("string", value)) == [value, 1]


@_PROPERTY
@given(ENCODABLE)
def test_let_bound_query_means_the_same_for_any_string(value: str) -> None:
    query = parse_query(Path("q.kql"), _query("q", "who:string", "print who = who, tail = 'end'"))
    bound = query.bind_as_lets({"who": value})
    frame = duckdb_kql.df(_con, bound)
    assert frame.columns.tolist() == ["who", "tail"]
    assert frame.iloc[0].tolist() == [value, "end"]


@_PROPERTY
@given(HOSTILE)
def test_engine_parameters_bind_any_string_as_a_value(value: str) -> None:
    # The local backend hands values to DuckDB beside the query, never inside it.
    frame = duckdb_kql.df(_con, "declare query_parameters(who:string);\nprint who = who", parameters={"who": value})
    assert frame.iloc[0, 0] == value


@_PROPERTY
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53), 2**53) | ENCODABLE,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(ENCODABLE, c, max_size=3),
        max_leaves=8,
    )
)
def test_dynamic_literal_round_trips(value: object) -> None:
    # Dynamic values arrive as JSON text (CLI, papermill); the engine returns dynamic as JSON text.
    frame = duckdb_kql.df(_con, f"let v = {kql_literal('dynamic', json.dumps(value))};\nprint v = v")
    printed = frame.iloc[0, 0]
    assert (None if printed is None else json.loads(printed)) == value


def test_control_characters_are_refused_not_mangled() -> None:
    with pytest.raises(BindError, match="control character"):
        kql_literal("string", "a\x00b")


def test_datetime_literal_is_utc_and_exact() -> None:
    local = dt.datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert kql_literal("datetime", local) == "datetime(2026-11-26T23:02:03.456789Z)"
    assert _print_value(kql_literal("datetime", local))[0] == dt.datetime(2026, 11, 26, 23, 2, 3, 456789)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", dt.timedelta(days=30)),
        ("12h", dt.timedelta(hours=12)),
        ("90m", dt.timedelta(minutes=90)),
        ("1.5h", dt.timedelta(minutes=90)),
    ],
)
def test_timespans_parse_and_encode_exactly(text: str, expected: dt.timedelta) -> None:
    assert parse_timespan(text) == expected
    assert _print_value(kql_literal("timespan", expected))[0] == expected


def test_negative_timespan_round_trips() -> None:
    assert _print_value(kql_literal("timespan", dt.timedelta(hours=-3)))[0] == dt.timedelta(hours=-3)


@pytest.mark.parametrize(
    ("kql_type", "value", "message"),
    [
        ("long", True, "whole number"),
        ("long", "12x", "whole number"),
        ("long", 2**63, "does not fit"),
        ("real", float("nan"), "finite"),
        ("bool", "yes", "true or false"),
        ("datetime", "yesterday", "ISO-8601"),
        ("timespan", "30 days", "timespan"),
        ("guid", "not-a-guid", "GUID"),
        ("dynamic", "{bad json", "JSON"),
        ("string", 5, "string"),
    ],
)
def test_wrong_values_get_a_clear_error(kql_type: str, value: object, message: str) -> None:
    with pytest.raises(BindError, match=message):
        coerce(kql_type, value)


def test_text_values_from_the_command_line_are_typed() -> None:
    assert coerce("long", "42") == 42
    assert coerce("bool", "TRUE") is True
    assert coerce("datetime", "2026-11-27T00:00:00") == dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    assert coerce("dynamic", '["a", 1]') == ["a", 1]
