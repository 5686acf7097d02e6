"""The local backend: workspace folders in every file format, typed by the schema registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from kitlib.backends.local import LocalBackend
from kitlib.environment import ENGINE_MEMORY_ENV
from kitlib.errors import ConfigError, MissingTableError, QueryExecutionError, UnsupportedQueryError, WorkspaceError
from kitlib.query.catalog import Query, parse_query

WINDOW = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-27T00:00:00Z"}


def signin_rows() -> list[dict[str, object]]:
    return [
        {
            "TimeGenerated": "2026-11-20T10:00:00Z",
            "UserPrincipalName": "Alice@Contoso.example",
            "ResultType": "0",
            "IsInteractive": True,
            "DeviceDetail": json.dumps({"deviceId": "d-1", "operatingSystem": "Windows"}),
            "AuthenticationProcessingDetails": json.dumps(
                [
                    {
                        "key": "Azure AD App Authentication Library",
                        "value": "Family: MSAL Library: MSAL.Python 1.31.0 Platform: Python",
                    }
                ]
            ),
        },
        {
            "TimeGenerated": "2026-11-21T11:30:00Z",
            "UserPrincipalName": "bob@contoso.example",
            "ResultType": "50126",
            "IsInteractive": False,
            "DeviceDetail": json.dumps({"deviceId": "", "operatingSystem": "Linux"}),
            "AuthenticationProcessingDetails": "[]",
        },
    ]


def query(tmp_path: Path, body: str, tables: str = "SigninLogs", optional: str = "") -> Query:
    header = f"// name: q\n// description: test\n// tables: {tables}\n"
    if optional:
        header += f"// optional_tables: {optional}\n"
    path = tmp_path / "q.kql"
    path.write_text(header + "declare query_parameters(start:datetime, end:datetime);\n" + body, encoding="utf-8")
    return parse_query(path)


def write_table(ws: Path, fmt: str, rows: list[dict[str, object]], table: str = "SigninLogs") -> None:
    ws.mkdir(exist_ok=True)
    frame = pd.DataFrame(rows)
    if fmt == "parquet":
        frame["TimeGenerated"] = pd.to_datetime(frame["TimeGenerated"], utc=True)
        frame.to_parquet(ws / f"{table}.parquet")
    elif fmt == "csv":
        frame.to_csv(ws / f"{table}.csv", index=False)
    elif fmt == "jsonl":
        (ws / f"{table}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    elif fmt == "json":
        # Query API style: dynamic values as real objects, not JSON text.
        objects = [dict(r, DeviceDetail=json.loads(str(r["DeviceDetail"]))) for r in rows]
        (ws / f"{table}.json").write_text(json.dumps(objects), encoding="utf-8")
    elif fmt == "folder":
        (ws / table).mkdir()
        for i, row in enumerate(rows):
            part = pd.DataFrame([row])
            part["TimeGenerated"] = pd.to_datetime(part["TimeGenerated"], utc=True)
            part.to_parquet(ws / table / f"part-{i}.parquet")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "json", "folder"])
def test_every_format_gives_log_analytics_types(tmp_path: Path, fmt: str) -> None:
    ws = tmp_path / "ws"
    write_table(ws, fmt, signin_rows())
    q = query(
        tmp_path,
        "SigninLogs | where TimeGenerated between (start .. end)\n"
        "| extend Os = tostring(DeviceDetail.operatingSystem)\n"
        "| extend Lib = tostring(todynamic(AuthenticationProcessingDetails)[0].value)\n"
        '| project TimeGenerated, User = tolower(UserPrincipalName), ResultType, Ok = ResultType == "0",\n'
        "    IsInteractive, Os, Lib\n"
        "| order by TimeGenerated asc",
    )
    frame = LocalBackend(ws).run(q, WINDOW).frame
    assert frame["User"].tolist() == ["alice@contoso.example", "bob@contoso.example"]
    assert frame["ResultType"].tolist() == ["0", "50126"]  # a string, never sniffed into a number
    assert frame["Ok"].tolist() == [True, False]
    assert frame["IsInteractive"].tolist() == [True, False]
    assert frame["Os"].tolist() == ["Windows", "Linux"]
    assert frame["Lib"].tolist()[0].startswith("Family: MSAL")
    assert str(frame["TimeGenerated"].dtype) == "datetime64[ns, UTC]"
    assert frame["TimeGenerated"].iloc[0] == pd.Timestamp("2026-11-20T10:00:00Z")


def test_missing_registry_columns_exist_as_typed_nulls(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_table(ws, "parquet", signin_rows())
    q = query(tmp_path, "SigninLogs | summarize Risky = countif(IsRisky), Asn = dcount(AutonomousSystemNumber)")
    frame = LocalBackend(ws).run(q, WINDOW).frame
    assert frame.iloc[0].tolist() == [0, 0]


def test_dynamic_results_come_back_as_python_objects(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_table(ws, "parquet", signin_rows())
    q = query(tmp_path, "SigninLogs | summarize Users = make_set(tolower(UserPrincipalName))")
    users = LocalBackend(ws).run(q, WINDOW).frame.iloc[0, 0]
    assert sorted(users) == ["alice@contoso.example", "bob@contoso.example"]


def test_a_missing_required_table_is_a_clear_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    with pytest.raises(MissingTableError, match="table SigninLogs is not in workspace") as caught:
        LocalBackend(ws).run(query(tmp_path, "SigninLogs | count"), WINDOW)
    assert "SigninLogs.parquet" in caught.value.looked_for


def test_a_missing_optional_table_is_empty_and_typed_with_a_warning(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_table(ws, "parquet", signin_rows())
    q = query(
        tmp_path,
        "AADManagedIdentitySignInLogs | where TimeGenerated between (start .. end)\n"
        "| summarize n = count(), ids = dcount(AppId)",
        tables="SigninLogs",
        optional="AADManagedIdentitySignInLogs",
    )
    result = LocalBackend(ws).run(q, WINDOW)
    assert result.frame.iloc[0].tolist() == [0, 0]
    assert result.missing_tables == ["AADManagedIdentitySignInLogs"]
    assert "treated as empty" in result.warnings[0]


def test_unsupported_kql_names_the_construct(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_table(ws, "parquet", signin_rows())
    q = query(tmp_path, 'SigninLogs | extend v = parse_version("2.76.0") | take 1')
    with pytest.raises(UnsupportedQueryError, match="parse_version"):
        LocalBackend(ws).run(q, WINDOW)


def test_a_malformed_value_is_reported_with_the_query(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    rows = signin_rows()
    rows[1]["TimeGenerated"] = "not a time"
    write_table(ws, "csv", rows)
    with pytest.raises(QueryExecutionError, match=r"query 'q' failed.*not a time"):
        LocalBackend(ws).run(query(tmp_path, "SigninLogs | summarize max(TimeGenerated)"), WINDOW)


def test_a_missing_workspace_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        LocalBackend(tmp_path / "nope")


def test_fixed_now_makes_ago_reproducible(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_table(ws, "parquet", signin_rows())
    q = query(tmp_path, "SigninLogs | where TimeGenerated > ago(6d) | count")
    assert LocalBackend(ws, now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC)).run(q, WINDOW).frame.iloc[0, 0] == 1
    assert LocalBackend(ws, now=dt.datetime(2026, 11, 26, tzinfo=dt.UTC)).run(q, WINDOW).frame.iloc[0, 0] == 2


def test_the_engine_memory_is_capped_by_default_and_configurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def limit() -> str:
        backend = LocalBackend(tmp_path)
        try:
            return str(backend._con.execute("SELECT current_setting('memory_limit')").fetchone()[0])  # type: ignore[index]
        finally:
            backend.close()

    monkeypatch.delenv(ENGINE_MEMORY_ENV, raising=False)
    capped = limit()
    monkeypatch.setenv(ENGINE_MEMORY_ENV, "512MB")
    assert limit() != capped and "MiB" in limit()
    monkeypatch.setenv(ENGINE_MEMORY_ENV, "lots")
    with pytest.raises(ConfigError, match="KITLIB_ENGINE_MEMORY='lots'"):
        LocalBackend(tmp_path)


def test_spilled_data_goes_to_a_private_folder_removed_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    backend = LocalBackend(tmp_path)
    spill = Path(str(backend._con.execute("SELECT current_setting('temp_directory')").fetchone()[0]))  # type: ignore[index]
    assert spill.is_dir() and tmp_path not in spill.parents
    backend.close()
    assert not spill.exists() and not (tmp_path / ".tmp").exists()
