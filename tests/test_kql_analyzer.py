"""Every shipped query is valid KQL for Log Analytics, as judged by Microsoft's language service.

The service (``@kusto/language-service-next``, run by tools/kql-check/check.js) binds each query
against the schemas in kitlib.domain.schema.TABLES. Without Node or the npm install these tests skip and
say why; under CI (``CI=true``) that is a failure instead, because CI must run the check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from kitlib.domain.schema import TABLES
from kitlib.errors import AnalyzerUnavailableError, UsageError
from kitlib.query.catalog import default_query_dir
from kitlib.query.kqlcheck import (
    INSTALL_COMMAND,
    PACKAGE,
    AnalyzerReport,
    FileResult,
    check_files,
    ensure_available,
    main,
    pinned_version,
    running_under_ci,
    schema_document,
)
from kitlib.resources import kql_check_dir

REPO = Path(__file__).resolve().parent.parent
QUERY_DIR = default_query_dir()
TOOL_DIR = kql_check_dir()
QUERY_FILES = sorted(QUERY_DIR.glob("*.kql"))

HEADER = "// name: {name}\n// description: A query written by a test.\n// tables: {table}\n"


class KqlAnalyzerWarning(UserWarning):
    """A non-failing diagnostic (warning or suggestion) the language service reported for a shipped query."""


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, after checking the pinned npm install is in place."""
    try:
        return ensure_available()
    except AnalyzerUnavailableError as exc:
        if running_under_ci():
            pytest.fail(f"CI=true, so the KQL analyzer check must run, but: {exc.reason}", pytrace=False)
        pytest.skip(f"skipped the KQL analyzer check: {exc.reason}")


@pytest.fixture(scope="module")
def shipped_report(node: str) -> AnalyzerReport:
    """One language-service run over every query in the catalog (start-up is most of the cost)."""
    return check_files(QUERY_FILES, node=node)


def write_query(directory: Path, name: str, body: str, table: str = "AzureActivity") -> Path:
    path = directory / f"{name}.kql"
    path.write_text(HEADER.format(name=name, table=table) + body, encoding="utf-8")
    return path


def test_the_catalog_has_queries_to_check() -> None:
    assert QUERY_FILES, f"no .kql files in {QUERY_DIR}"


@pytest.mark.parametrize("path", QUERY_FILES, ids=[p.name for p in QUERY_FILES])
def test_shipped_query_passes_the_analyzer(path: Path, shipped_report: AnalyzerReport) -> None:
    result = shipped_report.for_path(path)
    for diagnostic in result.warnings:
        warnings.warn(KqlAnalyzerWarning(diagnostic.format()), stacklevel=1)
    if result.errors:
        details = "\n".join(d.format() for d in result.errors)
        pytest.fail(
            f"{path.name} is not valid KQL for Log Analytics according to {shipped_report.analyzer} "
            f"{shipped_report.version}:\n{details}",
            pytrace=False,
        )


DECLARED = (
    'declare query_parameters(start:datetime, end:datetime, who:string = "a@b.c", lookback:timespan = 7d,\n'
    "    minimum:long = 1, ratio:real = 0.5, strict:bool = false);\n"
    "AzureActivity\n"
    "| where TimeGenerated between (start .. end) and TimeGenerated > ago(lookback)\n"
    "| where Caller =~ who or not(strict)\n"
    "| summarize Writes = count() by Caller\n"
    "| where Writes >= minimum and todouble(Writes) > ratio\n"
)
DEVICE_OS = "{table}\n| extend Os = tostring(DeviceDetail.operatingSystem)\n| summarize count() by Os\n"
NONINTERACTIVE = "AADNonInteractiveUserSignInLogs"

#: Queries written for the tests below: name -> (table, body). All are checked in one run.
SYNTHETIC: dict[str, tuple[str, str]] = {
    "typo": (
        "AzureActivity",
        "declare query_parameters(start:datetime, end:datetime);\n"
        "AzureActivity\n"
        "| where TimeGenerated between (start .. end)\n"
        "| summarize Writes = count() by CallerIpAdress\n",
    ),
    "declared": ("AzureActivity", DECLARED),
    "undeclared": ("AzureActivity", DECLARED.replace("> ago(lookback)", "> ago(cutoff)")),
    "dynamic_column": ("SigninLogs", DEVICE_OS.format(table="SigninLogs")),
    "text_column": (NONINTERACTIVE, DEVICE_OS.format(table=NONINTERACTIVE)),
    "parsed_text_column": (
        NONINTERACTIVE,
        DEVICE_OS.format(table=NONINTERACTIVE).replace("DeviceDetail.", "todynamic(DeviceDetail)."),
    ),
    "by_dynamic": ("SigninLogs", "SigninLogs\n| summarize count() by DeviceDetail\n"),
    "unfinished": ("AzureActivity", "AzureActivity\n| where\n| take 1\n"),
    "join_without_kind": ("AzureActivity", "AzureActivity\n| join (AzureActivity | project Caller) on Caller\n"),
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory, node: str) -> dict[str, FileResult]:
    """The analyzer's verdict on each SYNTHETIC query, from a single language-service run."""
    directory = tmp_path_factory.mktemp("synthetic-queries")
    paths = {name: write_query(directory, name, body, table) for name, (table, body) in SYNTHETIC.items()}
    report = check_files(list(paths.values()), node=node)
    return {name: report.for_path(path) for name, path in paths.items()}


def test_wrong_column_name_is_an_error_naming_the_column(synthetic: dict[str, FileResult]) -> None:
    result = synthetic["typo"]
    assert not result.ok
    [error] = result.errors
    assert error.severity == "Error"
    assert error.code == "KS142"
    assert "'CallerIpAdress'" in error.message
    assert (error.line, error.column) == (7, 33)
    assert error.text == "| summarize Writes = count() by CallerIpAdress"
    assert error.message in error.format()


def test_wrong_column_in_a_catalog_query_fails_the_suite_with_the_message(tmp_path: Path, node: str) -> None:
    """The real check, run as pytest would run it, fails on a bad catalog query and prints why."""
    catalog = tmp_path / "queries"
    catalog.mkdir()
    write_query(catalog, "fine", "AzureActivity\n| summarize count() by Caller\n")
    write_query(catalog, "broken", 'AzureActivity\n| where OperationNameValu endswith "/write"\n')
    env = {**os.environ, "KITLIB_QUERIES": str(catalog)}
    command = [sys.executable, "-m", "pytest", str(Path(__file__)), "-k", "test_shipped_query_passes_the_analyzer"]
    proc = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-p", "no:xdist", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "1 failed, 1 passed" in output
    assert "broken.kql" in output
    assert "The name 'OperationNameValu' does not refer to any known column" in output


def test_declared_query_parameters_are_known_to_the_analyzer(synthetic: dict[str, FileResult]) -> None:
    assert synthetic["declared"].diagnostics == ()
    messages = [e.message for e in synthetic["undeclared"].errors]
    assert any("'cutoff' does not refer to any known" in m for m in messages), messages


def test_registry_types_reach_the_analyzer(synthetic: dict[str, FileResult]) -> None:
    """DeviceDetail is dynamic in SigninLogs but JSON text in the non-interactive table."""
    assert synthetic["dynamic_column"].ok
    assert synthetic["parsed_text_column"].ok
    [error] = synthetic["text_column"].errors
    assert "'operatingSystem'" in error.message


def test_grouping_by_a_dynamic_column_is_an_error(synthetic: dict[str, FileResult]) -> None:
    [error] = synthetic["by_dynamic"].errors
    assert error.code == "KS116"
    assert "dynamic" in error.message


def test_syntax_error_is_reported_with_its_line(synthetic: dict[str, FileResult]) -> None:
    result = synthetic["unfinished"]
    assert not result.ok
    assert result.errors[0].line == 5


def test_warnings_are_reported_but_do_not_fail(synthetic: dict[str, FileResult]) -> None:
    result = synthetic["join_without_kind"]
    assert result.ok
    assert [(w.code, w.severity) for w in result.warnings] == [("KS508", "Warning")]


def test_command_line_prints_the_message_and_exits_1(
    tmp_path: Path, node: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_query(tmp_path, "bad", "AzureActivity\n| project Calller\n")
    assert main([str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.kql:5:11: Error KS142: The name 'Calller'" in out
    assert "1 error(s)" in out


@pytest.mark.parametrize(("ci", "status", "said"), [("false", 0, "SKIPPED"), ("true", 2, "CI=true")])
def test_command_line_without_node_skips_except_under_ci(
    ci: str, status: int, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    assert main([]) == status
    err = capsys.readouterr().err
    assert said in err
    assert "node is not on PATH" in err


def test_a_missing_file_is_a_usage_error(tmp_path: Path, node: str) -> None:
    with pytest.raises(UsageError, match=r"no such \.kql file"):
        check_files([tmp_path / "absent.kql"], node=node)


def test_schema_document_mirrors_the_registry() -> None:
    doc = schema_document()
    tables = {t["name"]: t for t in doc["tables"]}
    assert set(tables) == set(TABLES)
    for name, schema in TABLES.items():
        assert [(c["name"], c["type"]) for c in tables[name]["columns"]] == list(schema.columns)
    interactive = {c["name"]: c["type"] for c in tables["SigninLogs"]["columns"]}
    noninteractive = {c["name"]: c["type"] for c in tables["AADNonInteractiveUserSignInLogs"]["columns"]}
    assert (interactive["DeviceDetail"], noninteractive["DeviceDetail"]) == ("dynamic", "string")


def test_package_json_pins_an_exact_version_held_by_the_lock_file() -> None:
    pin = pinned_version()
    lock = json.loads((TOOL_DIR / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"][""]["dependencies"][PACKAGE] == pin
    locked = lock["packages"][f"node_modules/{PACKAGE}"]
    assert locked["version"] == pin
    assert locked["integrity"].startswith("sha512-")


def test_missing_npm_install_names_the_fix(tmp_path: Path) -> None:
    shutil.copy(TOOL_DIR / "package.json", tmp_path / "package.json")
    with pytest.raises(AnalyzerUnavailableError) as caught:
        ensure_available(tmp_path, node=sys.executable)
    assert "is not installed" in caught.value.reason
    assert INSTALL_COMMAND in caught.value.reason


def test_stale_npm_install_names_both_versions(tmp_path: Path) -> None:
    shutil.copy(TOOL_DIR / "package.json", tmp_path / "package.json")
    installed = tmp_path / "node_modules" / PACKAGE
    installed.mkdir(parents=True)
    (installed / "package.json").write_text(json.dumps({"name": PACKAGE, "version": "11.5.3"}), encoding="utf-8")
    with pytest.raises(AnalyzerUnavailableError) as caught:
        ensure_available(tmp_path, node=sys.executable)
    assert "11.5.3" in caught.value.reason
    assert pinned_version() in caught.value.reason


def test_missing_node_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AnalyzerUnavailableError, match="node is not on PATH"):
        ensure_available()
    with pytest.raises(AnalyzerUnavailableError, match="does not exist"):
        ensure_available(node=str(tmp_path / "node"))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"CI": "true"}, True), ({"CI": "TRUE"}, True), ({"CI": "1"}, True), ({"CI": "false"}, False), ({}, False)],
)
def test_ci_is_recognised_from_the_environment(environ: dict[str, str], expected: bool) -> None:
    assert running_under_ci(environ) is expected
