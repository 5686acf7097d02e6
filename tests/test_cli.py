"""The command line: documented exit codes and clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from kitlib.cli import main


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    claims = {
        "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd",
        "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    }
    rows = [
        {
            "TimeGenerated": pd.Timestamp("2026-11-20T10:00:00Z"),
            "Caller": caller,
            "CategoryValue": "Administrative",
            "OperationNameValue": "Microsoft.Compute/virtualMachines/write",
            "ActivityStatusValue": status,
            "CorrelationId": correlation,
            "Claims_d": json.dumps(claims),
            "Authorization_d": json.dumps({"evidence": {"principalType": "User"}}),
        }
        for caller, status, correlation in [
            ("Alice@Contoso.example", "Started", "c1"),
            ("alice@contoso.example", "Succeeded", "c1"),
            ("alice@contoso.example", "Succeeded", "c2"),
        ]
    ]
    pd.DataFrame(rows).to_parquet(ws / "AzureActivity.parquet")
    return ws


def test_query_prints_rows_and_folds_identity_case(workspace: Path) -> None:
    result = CliRunner().invoke(
        main, ["query", "arm_writes_mfa_daily", "--workspace", str(workspace), "--now", "2026-11-27T00:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    assert "alice@contoso.example" in result.output
    assert "Alice@" not in result.output


def test_query_writes_a_file(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "writes.csv"
    result = CliRunner().invoke(
        main,
        [
            "query",
            "arm_writes_mfa_daily",
            "--workspace",
            str(workspace),
            "--now",
            "2026-11-27T00:00:00Z",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame[["Caller", "TokenHasMfa", "Operations"]].values.tolist() == [["alice@contoso.example", False, 2]]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["query", "nope"], 2, "no query named 'nope'"),
        (["query", "arm_writes_mfa_daily", "-p", "start", "yesterday"], 2, "not an ISO-8601 datetime"),
        (["query", "arm_writes_mfa_daily", "-p", "typo", "1"], 2, "'typo': not declared"),
        (["query", "arm_writes_mfa_daily", "--lookback", "thirty"], 2, "--lookback"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(workspace: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(main, [*args, "--workspace", str(workspace)])
    assert result.exit_code == code
    assert message in result.output


def test_a_missing_table_is_a_work_failure(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["query", "arm_writes_mfa_daily", "--workspace", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "table AzureActivity is not in workspace" in result.output


def test_doctor_explains_a_missing_activity_log_and_fails(tmp_path: Path) -> None:
    ws = tmp_path / "signins-only"
    ws.mkdir()
    pd.DataFrame(
        {"TimeGenerated": [pd.Timestamp("2026-11-20T10:00:00Z")], "UserPrincipalName": ["a@contoso.example"]}
    ).to_parquet(ws / "SigninLogs.parquet")
    result = CliRunner().invoke(main, ["doctor", "--workspace", str(ws), "--now", "2026-11-27T00:00:00Z"])
    assert result.exit_code == 1
    assert "AzureActivity" in result.output
    assert "diagnostic setting" in result.output.lower() or "activity log" in result.output.lower()


def test_config_check_without_a_config_file_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITLIB_CONFIG", str(tmp_path / "missing.toml"))
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 2
    assert "missing.toml" in result.output


def test_queries_lists_the_catalog_and_binds_one_for_the_portal() -> None:
    listing = CliRunner().invoke(main, ["queries"])
    assert listing.exit_code == 0
    assert "arm_writes_mfa_daily" in listing.output and "arm_token_signins" in listing.output
    bound = CliRunner().invoke(
        main, ["queries", "arm_writes_mfa_daily", "-p", "start", "2026-11-01", "-p", "end", "2026-11-27"]
    )
    assert bound.exit_code == 0
    assert "let start = datetime(2026-11-01T00:00:00.000000Z);" in bound.output
    assert "declare query_parameters" not in bound.output


def test_a_name_that_is_neither_folder_nor_configured_workspace_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITLIB_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(main, ["doctor", "--workspace", "nosuch"])
    assert result.exit_code == 2
    assert "'nosuch' is neither a workspace folder nor a configured workspace" in result.output
