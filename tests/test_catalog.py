"""The query catalog: header validation, declared parameters, and let-binding."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kitlib.errors import ParameterError, QueryDefinitionError, UnknownQueryError
from kitlib.query.catalog import Query, get_query, load_catalog, parse_query

#: The one line of GOOD the parser rejects: tests drop it, or swap it for the header line they test.
FREE_COMMENT = "// a free comment that is not a header key would be rejected, so none here"
GOOD = f"""// name: sample
// description: A sample query.
// tables: SigninLogs
// optional_tables: AADManagedIdentitySignInLogs
// pii: UserPrincipalName=user, IPAddress=ip
{FREE_COMMENT}
declare query_parameters(
    start: datetime,
    end: datetime,
    who: string = "a, b // not a comment",
    n: long = 10
);
SigninLogs
| where TimeGenerated between (start .. end)
| take n
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.kql"
    path.write_text(text, encoding="utf-8")
    return path


def parse_sample(tmp_path: Path) -> Query:
    """GOOD without the line the parser rejects, parsed from ``sample.kql``."""
    return parse_query(write(tmp_path, "sample", GOOD.replace(FREE_COMMENT + "\n", "")))


def test_header_and_parameters_are_parsed(tmp_path: Path) -> None:
    q = parse_sample(tmp_path)
    assert q.name == "sample"
    assert q.tables == ("SigninLogs",)
    assert q.optional_tables == ("AADManagedIdentitySignInLogs",)
    assert q.pii == {"UserPrincipalName": "user", "IPAddress": "ip"}
    assert [(p.name, p.kql_type, p.default) for p in q.parameters] == [
        ("start", "datetime", None),
        ("end", "datetime", None),
        ("who", "string", '"a, b // not a comment"'),
        ("n", "long", "10"),
    ]


def test_let_binding_replaces_only_the_declaration(tmp_path: Path) -> None:
    q = parse_sample(tmp_path)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    bound = q.bind_as_lets({"start": start, "end": "2026-11-27T00:00:00Z"})
    assert "declare" not in bound
    assert "let start = datetime(2026-11-01T00:00:00.000000Z);" in bound
    assert "let end = datetime(2026-11-27T00:00:00.000000Z);" in bound
    assert 'let who = "a, b // not a comment";' in bound
    assert "let n = 10;" in bound
    assert bound.rstrip().endswith("| take n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("// name: sample\n", ""), "missing '// name"),
        (lambda t: t.replace("// tables: SigninLogs", "// tables: NoSuchTable"), "not in the schema registry"),
        (lambda t: t.replace("// pii: UserPrincipalName=user", "// pii: UserPrincipalName=secret"), "pii entry"),
        (lambda t: t.replace("n: long = 10", "n: decimal = 10"), "unsupported type"),
        (lambda t: t.replace("n: long = 10", "who: long"), "declared twice"),
        (lambda t: t.replace(");\nSigninLogs", ")\nSigninLogs"), "must end with ';'"),
        (lambda t: t, "unknown header key"),
    ],
)
def test_malformed_query_files_are_rejected_with_the_reason(tmp_path: Path, change, message: str) -> None:
    text = change(GOOD)
    if message != "unknown header key":
        text = text.replace(FREE_COMMENT + "\n", "")
    else:
        text = text.replace(FREE_COMMENT, "// owner: me")
    with pytest.raises(QueryDefinitionError, match=message):
        parse_query(write(tmp_path, "sample", text))


def test_file_name_must_match_header_name(tmp_path: Path) -> None:
    with pytest.raises(QueryDefinitionError, match="does not match the file name"):
        parse_query(write(tmp_path, "other", GOOD))


def test_parameters_are_checked_before_running(tmp_path: Path) -> None:
    q = parse_sample(tmp_path)
    with pytest.raises(ParameterError, match="'typo': not declared"):
        q.coerce_values({"start": "2026-11-01", "end": "2026-11-02", "typo": "x"})
    with pytest.raises(ParameterError, match="'end': required"):
        q.coerce_values({"start": "2026-11-01"})
    with pytest.raises(ParameterError, match=r"'n'.*whole number"):
        q.coerce_values({"start": "2026-11-01", "end": "2026-11-02", "n": "ten"})


def test_shipped_catalog_loads_and_every_query_declares_its_window() -> None:
    catalog = load_catalog()
    assert "arm_writes_mfa_daily" in catalog
    for query in catalog.values():
        names = {p.name: p.kql_type for p in query.parameters}
        assert names.get("start") == "datetime" and names.get("end") == "datetime", query.name
        assert "TimeGenerated" in query.text, query.name


def test_unknown_query_names_the_known_ones() -> None:
    with pytest.raises(UnknownQueryError, match="arm_writes_mfa_daily"):
        get_query("no_such_query")


def test_split_header_declares_a_window_splittable_query(tmp_path: Path) -> None:
    text = GOOD.replace(FREE_COMMENT, "// split: by_window")
    assert parse_query(write(tmp_path, "sample", text)).split == "by_window"
    with pytest.raises(QueryDefinitionError, match="split 'sometimes'"):
        parse_query(write(tmp_path, "sample", text.replace("by_window", "sometimes")))
