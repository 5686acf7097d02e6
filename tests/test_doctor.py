"""kitlib doctor: table presence, column types, data coverage; same diagnosis local and live."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from standin_kusto import StandinKusto, write_sample_workspace

from kitlib.backends.kusto import KustoBackend, LiveOptions
from kitlib.backends.local import LocalBackend
from kitlib.doctor import diagnose, doctor
from kitlib.query.catalog import Query, parse_query

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def catalog(tmp_path: Path) -> list[Query]:
    """Two queries: one needs AzureActivity and SigninLogs (reads DeviceDetail), one only uses
    the non-interactive table if it is there."""
    texts = {
        "writes_and_devices": "// tables: AzureActivity, SigninLogs\nSigninLogs | project DeviceDetail | take 1",
        "silent_signins": (
            "// tables: AzureActivity\n// optional_tables: AADNonInteractiveUserSignInLogs\n"
            "AADNonInteractiveUserSignInLogs | count"
        ),
    }
    queries = []
    for name, body in texts.items():
        path = tmp_path / f"{name}.kql"
        path.write_text(f"// name: {name}\n// description: doctor test\n{body}\n", encoding="utf-8")
        queries.append(parse_query(path))
    return queries


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_workspace(tmp_path_factory.mktemp("doctor-ws"), NOW, days=10)


@pytest.fixture
def local(workspace: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(workspace, now=NOW)
    yield backend
    backend.close()


@pytest.fixture
def standin(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinKusto]:
    with StandinKusto(workspace, now=NOW, max_lifetime=120) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


def live_backend(server: StandinKusto) -> KustoBackend:
    token = "doctor-token-0123456789"
    server.add_token(token)
    return KustoBackend(server.url, server.database, lambda: token, options=LiveOptions(backoff_base=0.01), now=NOW)


def test_counts_and_extent_match_the_data(local: LocalBackend, workspace: Path, tmp_path: Path) -> None:
    report = diagnose(local, now=NOW, lookback=dt.timedelta(days=7), queries=catalog(tmp_path))
    activity = pd.read_parquet(workspace / "AzureActivity.parquet")
    times = pd.to_datetime(activity["TimeGenerated"], utc=True)
    check = report.table("AzureActivity")
    assert check.present and check.required_by == ("silent_signins", "writes_and_devices")
    assert check.total_rows == len(activity)
    assert check.rows_in_window == int(((times >= NOW - dt.timedelta(days=7)) & (times < NOW)).sum())
    assert check.oldest == times.min().to_pydatetime() and check.newest == times.max().to_pydatetime()
    assert check.type_mismatches == () and check.missing_columns == ()


def test_missing_non_interactive_sign_ins_is_explained_with_the_diagnostic_setting(
    local: LocalBackend, tmp_path: Path
) -> None:
    report = diagnose(local, now=NOW, lookback=dt.timedelta(days=7), queries=catalog(tmp_path))
    assert report.missing_tables == [
        "AADNonInteractiveUserSignInLogs",
        "AADServicePrincipalSignInLogs",
        "AADManagedIdentitySignInLogs",
    ]
    (finding,) = report.table("AADNonInteractiveUserSignInLogs").findings
    assert finding.level == "warning"  # only an optional table for the queries given
    assert "Most Azure CLI and PowerShell token traffic for ARM lands here" in finding.message
    assert "marked 'unknown'" in finding.message
    assert "Diagnostic settings" in finding.message and "tick NonInteractiveUserSignInLogs" in finding.message
    assert "queries that run with it treated as empty: silent_signins" in finding.message
    assert [f.level for f in report.table("AADManagedIdentitySignInLogs").findings] == ["info"]
    assert report.ok
    assert "AADNonInteractiveUserSignInLogs: MISSING" in report.text


def test_missing_azure_activity_is_a_problem_that_says_how_to_export_the_activity_log(
    workspace: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "no-activity"
    folder.mkdir()
    shutil.copy(workspace / "SigninLogs.parquet", folder)
    backend = LocalBackend(folder, now=NOW)
    report = diagnose(backend, now=NOW, queries=catalog(tmp_path))
    (finding,) = report.table("AzureActivity").findings
    assert finding.level == "problem" and not report.ok
    assert "Export Activity Logs" in finding.message and "Administrative" in finding.message
    assert "every verdict would be 'unknown'" in finding.message
    assert "reports will be incomplete or fail" in report.text


def test_a_window_before_the_data_starts_and_stale_data_are_flagged(local: LocalBackend, tmp_path: Path) -> None:
    late = diagnose(local, now=NOW + dt.timedelta(days=3), lookback=dt.timedelta(days=30), queries=catalog(tmp_path))
    messages = [f.message for f in late.table("AzureActivity").findings]
    assert any(m.startswith("data starts 2026-11-17 00:07 UTC, 17.0 days after the window starts") for m in messages)
    assert any(m.startswith("newest row is 2026-11-26 22:") and "has the export stopped?" in m for m in messages)
    empty = diagnose(local, now=NOW - dt.timedelta(days=20), lookback=dt.timedelta(days=5), queries=catalog(tmp_path))
    no_rows = [f for f in empty.table("AzureActivity").findings if f.message.startswith("no rows in the window")]
    assert [f.level for f in no_rows] == ["problem"] and not empty.ok


def test_the_live_diagnosis_equals_the_local_one(standin: StandinKusto, local: LocalBackend, tmp_path: Path) -> None:
    queries = catalog(tmp_path)
    live = diagnose(live_backend(standin), now=NOW, lookback=dt.timedelta(days=7), queries=queries)
    here = diagnose(local, now=NOW, lookback=dt.timedelta(days=7), queries=queries)
    assert live.tables == here.tables
    assert live.findings == here.findings


def test_a_column_whose_type_differs_from_the_registry_is_reported(standin: StandinKusto, tmp_path: Path) -> None:
    standin.schema_overrides = {
        "SigninLogs": {"DeviceDetail": "string", "RiskDetail": "dynamic", "Level": "-"},
    }
    report = diagnose(live_backend(standin), now=NOW, lookback=dt.timedelta(days=7), queries=catalog(tmp_path))
    check = report.table("SigninLogs")
    assert check.type_mismatches == (("DeviceDetail", "dynamic", "string"), ("RiskDetail", "string", "dynamic"))
    assert check.missing_columns == ("Level",)
    levels = {f.message.split(" ")[1]: f.level for f in check.findings if f.message.startswith("column ")}
    assert levels == {"DeviceDetail": "problem", "RiskDetail": "warning"}  # only DeviceDetail is read by a query
    assert not report.ok


def test_doctor_opens_a_configured_live_workspace_by_name(
    standin: StandinKusto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", standin.msi_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", standin.identity_header)
    config = tmp_path / "kitlib.toml"
    config.write_text(f'[workspaces.prod]\nkind = "log_analytics"\nurl = "{standin.url}"\nauth = "managed_identity"\n')
    report = doctor("prod", now=NOW, lookback=dt.timedelta(days=7), config_path=config)
    assert report.where == "Log Analytics workspace ws-standin (workspace 'prod')"
    assert report.table("AzureActivity").rows_in_window == 7 * 12 * 4
    json.dumps(report.to_dict())  # the manifest can carry it


def test_doctor_on_a_folder_uses_the_local_engine(workspace: Path) -> None:
    report = doctor(str(workspace), now=NOW, lookback=dt.timedelta(days=2))
    assert report.where == f"local workspace {workspace}"
    assert report.table("SigninLogs").rows_in_window == 2 * 12
