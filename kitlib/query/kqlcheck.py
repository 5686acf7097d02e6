"""Check ``.kql`` files with Microsoft's own KQL language service against the schema registry.

The local engine (duckdb-kql) is both stricter and looser than Log Analytics: it accepts dot
access on a string column that the service rejects, and refuses constructs the service runs. So
passing local tests does not prove a query runs in a customer's workspace. This module asks
``@kusto/language-service-next`` (the JavaScript build of Kusto.Language, pinned in
``tools/kql-check/package-lock.json``) to parse and bind every query against the table schemas
generated from :data:`kitlib.domain.schema.TABLES`, so the registry stays the single source of truth.

Severity policy: a diagnostic with severity ``Error`` (syntax errors, unknown names, type
errors: the service would refuse the query) fails the check. ``Warning``, ``Suggestion`` and
``Information`` diagnostics come from the service's best-practice analyzers (e.g. KS508 "join
without kind", KS500 "prefer has over contains"); they are reported but do not fail.

Run ``python -m kitlib.query.kqlcheck [FILE.kql ...]`` (default: every query in the catalog folder);
exit status 0 clean, 1 an Error diagnostic, 2 bad input or the analyzer failed. Without Node or the
npm install it says so and exits 0 (skipped), except under CI (``CI=true``) where it exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kitlib.domain.schema import TABLES, TableSchema
from kitlib.errors import AnalyzerError, AnalyzerUnavailableError, UsageError
from kitlib.query.catalog import default_query_dir
from kitlib.resources import kql_check_dir

log = logging.getLogger(__name__)

PACKAGE = "@kusto/language-service-next"
#: Where package.json, package-lock.json, check.js and (after ``npm ci``) node_modules live.
INSTALL_COMMAND = "npm ci --no-audit --no-fund"
#: The database the queries run in. Log Analytics queries name tables unqualified, so any name works.
DATABASE = "LogAnalytics"
#: Diagnostic severities that fail the check (see the module docstring).
FAILING_SEVERITIES = frozenset({"Error"})
_EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Diagnostic:
    """One message from the language service, located in its file."""

    path: Path
    code: str
    severity: str
    category: str
    message: str
    source: str  # "compiler" (syntax/semantics) or "analyzer" (best-practice rules)
    start: int
    length: int
    line: int
    column: int
    text: str  # the source line the diagnostic points into

    @property
    def fails(self) -> bool:
        return self.severity in FAILING_SEVERITIES

    def format(self) -> str:
        """``file:line:col: Severity CODE: message`` with the offending line and a caret mark."""
        message = self.message.replace("\n", "\n    ")
        mark = " " * (self.column - 1) + "^" * max(1, min(self.length, len(self.text) - self.column + 1))
        where = f"{_display(self.path)}:{self.line}:{self.column}"
        return f"{where}: {self.severity} {self.code}: {message}\n    {self.text}\n    {mark}"


@dataclass(frozen=True)
class FileResult:
    """Every diagnostic the service reported for one file."""

    path: Path
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.fails]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Reported, non-failing diagnostics (warnings, suggestions, information)."""
        return [d for d in self.diagnostics if not d.fails]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class AnalyzerReport:
    """The result of one language-service run over a set of files."""

    analyzer: str
    version: str
    files: tuple[FileResult, ...]
    elapsed: float

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.errors]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.warnings]

    def for_path(self, path: Path) -> FileResult:
        wanted = path.resolve()
        for result in self.files:
            if result.path.resolve() == wanted:
                return result
        raise KeyError(str(path))

    def summary(self) -> str:
        return (
            f"{self.analyzer} {self.version}: {len(self.files)} file(s), {len(self.errors)} error(s), "
            f"{len(self.warnings)} warning(s)/suggestion(s) in {self.elapsed:.1f}s"
        )


def schema_document(tables: Mapping[str, TableSchema] = TABLES, database: str = DATABASE) -> dict[str, Any]:
    """The database schema check.js declares to the service: every table, column and Kusto type."""
    return {
        "database": database,
        "tables": [
            {
                "name": schema.name,
                "description": schema.description,
                "columns": [{"name": column, "type": kql_type} for column, kql_type in schema.columns],
            }
            for schema in tables.values()
        ],
    }


def write_schema(path: Path, tables: Mapping[str, TableSchema] = TABLES, database: str = DATABASE) -> Path:
    path.write_text(json.dumps(schema_document(tables, database), indent=1), encoding="utf-8")
    return path


def pinned_version(tool_dir: Path | None = None) -> str:
    """The exact language-service version ``tools/kql-check/package.json`` pins."""
    tool_dir = tool_dir or kql_check_dir()
    manifest = tool_dir / "package.json"
    try:
        spec = json.loads(manifest.read_text(encoding="utf-8"))["dependencies"][PACKAGE]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnalyzerError(f"{manifest} does not declare {PACKAGE}: {exc}") from None
    if not isinstance(spec, str) or not _EXACT_VERSION.match(spec):
        raise AnalyzerError(f"{manifest} must pin {PACKAGE} to an exact version, not {spec!r}")
    return spec


def ensure_available(tool_dir: Path | None = None, node: str | None = None) -> str:
    """The node executable to use, or AnalyzerUnavailableError saying what is missing and the fix."""
    tool_dir = tool_dir or kql_check_dir()
    executable = node or shutil.which("node")
    if not executable or not Path(executable).is_file():
        wanted = f"node executable {node!r} does not exist" if node else "node is not on PATH"
        raise AnalyzerUnavailableError(
            f"KQL analyzer unavailable: {wanted}. Install Node.js 20 (with npm), then run "
            f"`{INSTALL_COMMAND}` in {tool_dir}."
        )
    pinned = pinned_version(tool_dir)
    installed_manifest = tool_dir / "node_modules" / PACKAGE / "package.json"
    try:
        installed = json.loads(installed_manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        raise AnalyzerUnavailableError(
            f"KQL analyzer unavailable: {PACKAGE} is not installed in {tool_dir}/node_modules. "
            f"Run `{INSTALL_COMMAND}` in {tool_dir} (or `make kql-check-deps`)."
        ) from None
    if installed != pinned:
        raise AnalyzerUnavailableError(
            f"KQL analyzer unavailable: {tool_dir}/node_modules holds {PACKAGE} {installed}, but "
            f"package.json pins {pinned}. Run `{INSTALL_COMMAND}` in {tool_dir}."
        )
    return executable


def check_files(
    paths: Sequence[Path],
    *,
    tables: Mapping[str, TableSchema] = TABLES,
    tool_dir: Path | None = None,
    node: str | None = None,
    timeout: float = 300.0,
) -> AnalyzerReport:
    """Parse and analyze ``paths`` in one language-service process (start-up dominates the cost)."""
    tool_dir = tool_dir or kql_check_dir()
    executable = ensure_available(tool_dir, node)
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such .kql file: {', '.join(missing)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kql-check-") as tmp:
        schema_file = write_schema(Path(tmp) / "schema.json", tables)
        command = [executable, str(tool_dir / "check.js"), str(schema_file), *(str(p) for p in paths)]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise AnalyzerError(f"the KQL language service did not finish within {timeout:.0f}s") from None
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise AnalyzerError(f"the KQL language service failed (exit {proc.returncode}): {detail}")
    report = _parse_output(proc.stdout, paths, elapsed)
    log.info("%s", report.summary())
    return report


def check_queries(directory: Path | None = None, **options: Any) -> AnalyzerReport:
    """Check every ``*.kql`` in the catalog folder (``queries/`` unless overridden)."""
    directory = directory or default_query_dir()
    files = sorted(directory.glob("*.kql"))
    if not files:
        raise UsageError(f"no .kql files in {directory}")
    return check_files(files, **options)


def running_under_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``CI`` says so: there a missing analyzer is a failure, not a skip."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in {"true", "1", "yes"}


def _parse_output(stdout: str, paths: Sequence[Path], elapsed: float) -> AnalyzerReport:
    try:
        doc = json.loads(stdout)
        files = doc["files"]
        if len(files) != len(paths):
            raise ValueError(f"{len(files)} results for {len(paths)} files")
        results = tuple(
            FileResult(path, tuple(_diagnostic(path, d) for d in entry["diagnostics"]))
            for path, entry in zip(paths, files, strict=True)
        )
        return AnalyzerReport(str(doc["analyzer"]), str(doc["version"]), results, elapsed)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnalyzerError(f"unexpected output from the KQL language service ({exc}): {stdout[:300]!r}") from None


def _diagnostic(path: Path, d: Mapping[str, Any]) -> Diagnostic:
    return Diagnostic(
        path=path,
        code=str(d["code"]),
        severity=str(d["severity"]),
        category=str(d["category"]),
        message=str(d["message"]),
        source=str(d["source"]),
        start=int(d["start"]),
        length=int(d["length"]),
        line=int(d["line"]),
        column=int(d["column"]),
        text=str(d["text"]),
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kitlib.query.kqlcheck``: print diagnostics; exit 0 clean (or skipped off CI), 1 errors, 2 failure."""
    parser = argparse.ArgumentParser(prog="python -m kitlib.query.kqlcheck", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="KQL files (default: every query in the catalog)")
    args = parser.parse_args(argv)
    try:
        report = check_files(args.files) if args.files else check_queries()
    except AnalyzerUnavailableError as exc:
        if running_under_ci():
            print(f"kql-check: CI=true, so the check must run, but: {exc.reason}", file=sys.stderr)
            return 2
        print(f"kql-check: SKIPPED, {exc.reason}", file=sys.stderr)
        return 0
    except (AnalyzerError, UsageError) as exc:
        print(f"kql-check: {exc}", file=sys.stderr)
        return 2
    for diagnostic in report.errors + report.warnings:
        print(diagnostic.format())
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
