"""Every shipped query translates on the local engine (duckdb-kql), not only on Log Analytics.

The kit's queries must live in the intersection of the two engines: the analyzer test proves a
query is valid for the service, this one that the embedded engine can run it. A construct the
local engine lacks fails here with the construct's name, before any data is involved.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import duckdb_kql
import pytest

from kitlib.domain.schema import TABLES
from kitlib.query.catalog import default_query_dir

QUERY_FILES = sorted(default_query_dir().glob("*.kql"))
SCHEMA = {name: schema.column_names for name, schema in TABLES.items()}
ENGINE = f"duckdb-kql {version('duckdb-kql')}"


def local_engine_problem(text: str) -> str | None:
    """Why the local engine cannot translate ``text``, or None when it can."""
    try:
        duckdb_kql.to_sql(text, schema=SCHEMA)
    except duckdb_kql.KqlUnsupportedError as exc:
        return f"uses {exc.construct!r}, which {ENGINE} does not support ({exc})"
    except duckdb_kql.KqlSyntaxError as exc:
        return f"does not parse on {ENGINE}: {exc}"
    except duckdb_kql.KqlError as exc:
        return f"is refused by {ENGINE}: {exc}"
    except AssertionError:
        # 1.1.2 asserts instead of raising on a few constructs (a let function with a tabular parameter).
        return f"crashes the {ENGINE} translator with an internal assertion (an untranslatable construct)"
    return None


@pytest.mark.parametrize("path", QUERY_FILES, ids=[p.name for p in QUERY_FILES])
def test_shipped_query_translates_on_the_local_engine(path: Path) -> None:
    problem = local_engine_problem(path.read_text(encoding="utf-8"))
    assert problem is None, (
        f"{path.name} {problem}. Kit queries must run unchanged on Log Analytics and on the local "
        f"engine: reshape the query (aggregate distinct values in KQL, decide in Python)."
    )


def test_a_supported_query_has_no_problem() -> None:
    text = (
        "declare query_parameters(start:datetime, end:datetime);\n"
        "SigninLogs | where TimeGenerated between (start .. end)\n"
        "| summarize Apps = make_set(AppDisplayName), Risky = countif(IsRisky) by UserPrincipalName"
    )
    assert local_engine_problem(text) is None


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("AzureActivity | extend v = parse_version('2.76.0')", "function:parse_version"),
        ("SigninLogs | summarize make_set_if(AppId, IsRisky) by UserPrincipalName", "aggregate:make_set_if"),
        ("SigninLogs | evaluate bag_unpack(DeviceDetail)", "EvaluateOperator"),
    ],
)
def test_a_construct_the_local_engine_lacks_is_named(text: str, construct: str) -> None:
    problem = local_engine_problem(text)
    assert problem is not None
    assert problem.startswith(f"uses {construct!r}, which {ENGINE} does not support")


def test_a_translator_crash_is_reported_not_raised() -> None:
    problem = local_engine_problem("let f = (t:(S:string)) { t | take 1 }; f(SigninLogs)")
    assert problem is not None
    assert "internal assertion" in problem
