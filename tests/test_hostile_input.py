"""Attacks a hostile tenant or a careless file can plant, each with the safe outcome it must meet.

Spreadsheet formulas and broken rows in every CSV the kit writes; out-of-range windows and
files that are not notebooks as usage errors (exit 2), not tracebacks; secrets never echoed by
``config check``; private files kept private; bidi controls that cannot reorder a page.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import NOW
from test_notebook_helpers import activity, write_activity

from kitlib.analysis.exports import write_exports
from kitlib.analysis.history import write_snapshot
from kitlib.analysis.impact import analyze
from kitlib.backends.local import LocalBackend
from kitlib.cli import main
from kitlib.errors import ConfigError
from kitlib.render.figures import safe_text
from kitlib.render.html import esc, table
from kitlib.safe_csv import FORMULA_PREFIX, read_csv, write_csv
from kitlib.settings.auth import open_token_cache
from kitlib.settings.check import check_config

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "  =1", "'=already"]


# -- 3. CSV files that cannot run as formulas or break rows ---------------------------------


def test_every_formula_start_is_neutralised_and_reads_back_unchanged(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "identity": [*FORMULAS, "one\rtwo", "tab\there", "vt\x0bff\x0c", "plain"],
            "writes": list(range(len(FORMULAS) + 4)),
        }
    )
    path = write_csv(frame, tmp_path / "x.csv")
    raw = pd.read_csv(path, keep_default_na=False)
    assert len(raw) == len(frame), "a control character split a row"
    for value in raw["identity"][: len(FORMULAS)]:
        assert value.startswith(FORMULA_PREFIX), value
    back = read_csv(path)
    assert back["identity"].tolist() == frame["identity"].tolist()
    assert back["writes"].tolist() == frame["writes"].tolist()
    assert b'"one\rtwo"' in path.read_bytes()


def test_identities_csv_of_a_hostile_tenant_is_safe_to_open(tmp_path: Path) -> None:
    upn = '=HYPERLINK("http://evil.example","x")@contoso.com'
    rows = [activity(upn, 2, mfa=False), activity("-calc@contoso.com", 3, mfa=False)]
    workspace = write_activity(tmp_path / "ws", rows)
    with LocalBackend(workspace, now=NOW) as backend:
        analysis = analyze(backend, now=NOW, lookback=dt.timedelta(days=7))
    identities, _ = write_exports(analysis, tmp_path / "out")
    raw = pd.read_csv(identities, keep_default_na=False)
    assert len(raw) == 2
    assert all(v.startswith(FORMULA_PREFIX) for v in raw["identity"])
    assert sorted(read_csv(identities)["identity"]) == sorted(["-calc@contoso.com", upn.lower()])


def test_query_out_csv_is_neutralised(tmp_path: Path) -> None:
    workspace = write_activity(tmp_path / "ws", [activity("=evil@contoso.com", 2, mfa=False)])
    out = tmp_path / "q.csv"
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
    assert pd.read_csv(out, keep_default_na=False)["Caller"].str.startswith(FORMULA_PREFIX).all()
    assert read_csv(out)["Caller"].tolist() == ["=evil@contoso.com"]


# -- 4. errors, not tracebacks ----------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["--now", "0001-01-01T00:00:00Z"],
        ["--now", "9999-12-31T00:00:00Z"],
        ["--lookback", "99999999d"],
        ["--lookback", "9" * 40 + "d"],
    ],
)
def test_out_of_range_windows_are_usage_errors(tmp_path: Path, arguments: list[str]) -> None:
    workspace = write_activity(tmp_path / "ws", [activity("a@contoso.com", 2, mfa=False)])
    result = CliRunner().invoke(
        main, ["analyze", "--workspace", str(workspace), "--out", str(tmp_path / "o"), *arguments]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Error: Invalid value" in result.output


@pytest.mark.parametrize("content", ['{"a": 1}', "not json at all", '{"cells": "x", "nbformat": 4}'])
def test_export_of_a_file_that_is_not_a_notebook_is_a_usage_error(tmp_path: Path, content: str) -> None:
    source = tmp_path / "x.ipynb"
    source.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["export", str(source), "--html", str(tmp_path / "x.html")])
    assert result.exit_code == 2, result.output
    assert "not" in result.output and "notebook" in result.output
    assert not (tmp_path / "x.html").exists()


def test_an_unknown_encoding_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("a\n1\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["import", str(source), "--workspace", str(tmp_path / "ws"), "--encoding", "nope"]
    )
    assert result.exit_code == 2, result.output
    assert "unknown encoding" in result.output


# -- 6. secrets and permissions ---------------------------------------------------------------


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "kitlib.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_credentials_in_a_url_are_refused_without_being_echoed(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        '[workspaces.a]\nkind = "adx"\ncluster = "https://admin:Hunter2Secret@mycluster.kusto.windows.net"\n'
        'database = "db"\n',
    )
    with pytest.raises(ConfigError) as caught:
        check_config(path, environ={})
    assert "Hunter2Secret" not in str(caught.value) and "admin" not in str(caught.value)
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2 and "Hunter2Secret" not in result.output


def test_a_secret_pasted_into_an_env_field_is_refused_without_being_echoed(tmp_path: Path) -> None:
    for secret in ("Xy8Q~k2.Lm9-nP4qR7sT1uV3wY5zA6bC", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9"):
        path = _config(
            tmp_path,
            '[workspaces.a]\nkind = "adx"\ncluster = "https://c.kusto.windows.net"\ndatabase = "db"\n'
            'auth = "client_secret"\nclient_id = "22222222-2222-2222-2222-222222222222"\n'
            f'client_secret_env = "{secret}"\n',
        )
        result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
        assert result.exit_code == 2, result.output
        assert secret not in result.output and "environment variable" in result.output


def test_a_token_cache_in_a_shared_folder_leaves_the_folder_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    cache = shared / "tokens.bin"
    open_token_cache(str(cache))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_history_snapshots_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    path = write_snapshot(folder, {"run_at": NOW.isoformat(), "identities": {"sven.martin@contoso.example": "x"}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_snapshot_is_private_whatever_the_umask(tmp_path: Path) -> None:
    code = (
        "import os, sys, datetime as dt; os.umask(0); from pathlib import Path;"
        "from kitlib.analysis.history import write_snapshot;"
        "p = write_snapshot(Path(sys.argv[1]), {'run_at': dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat()});"
        "print(oct(p.stat().st_mode & 0o777))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "h")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0o600"
    assert os.stat(tmp_path / "h").st_mode & 0o077 == 0


# -- 7. bidi controls cannot reorder what a page shows ---------------------------------------


def test_bidi_controls_are_shown_escaped_in_html_tables_and_figures() -> None:
    spoof = "invoice\u202egpj.exe"
    assert "\u202e" not in esc(spoof) and "[U+202E]" in esc(spoof)
    assert "\u202e" not in table(pd.DataFrame({"agent": [spoof]})).html
    assert "\u2066" not in safe_text("a\u2066b") and "[U+2066]" in safe_text("a\u2066b")
    assert json.dumps(esc("plain")) == '"plain"'
