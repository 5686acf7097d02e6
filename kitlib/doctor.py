"""``kitlib doctor``: can this workspace answer the kit's questions, and for which window?

For every table in the schema registry it checks, on any backend (local folder or live
service): whether the table exists, whether its column types are what the queries assume
(:mod:`kitlib.domain.schema`, read back with ``getschema``), how far back the data goes, and how many
rows fall in the analysis window. A missing table is explained in plain words: what the kit
cannot see without it, and which diagnostic setting sends it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kitlib.backends.base import Backend, window
from kitlib.backends.connect import connect
from kitlib.backends.coverage import Coverage, empty_window_warning, table_coverage, utility_query
from kitlib.domain.schema import TABLES
from kitlib.query.catalog import Query, load_catalog

LEVELS = ("ok", "info", "warning", "problem")

_ENTRA_SETTING = (
    "In the Microsoft Entra admin center, open Entra ID > Monitoring & health > Diagnostic settings "
    "(role: at least Security Administrator), add or edit a diagnostic setting, tick {category}, and "
    "choose 'Send to Log Analytics workspace' with this workspace. Sign-in log export needs a "
    "Microsoft Entra ID P1 or P2 licence. Only sign-ins after that moment arrive."
)

#: What each table gives the analysis, and how to switch it on, in plain words.
WHY: Mapping[str, tuple[str, str]] = {
    "AzureActivity": (
        "AzureActivity is the Azure Resource Manager activity log: every create, update and delete, who "
        "made it, and whether the token carried MFA. Without it the kit cannot see any ARM write, so it "
        "cannot say who will break: every verdict would be 'unknown'.",
        "In the Azure portal, open Monitor > Activity log > Export Activity Logs, and for each subscription "
        "add a diagnostic setting with the categories Administrative and Policy, destination 'Send to Log "
        "Analytics workspace' = this workspace (or assign the built-in Azure Policy that configures it for "
        "every subscription). Only events after that moment arrive.",
    ),
    "SigninLogs": (
        "SigninLogs holds interactive user sign-ins: which app (Azure CLI, PowerShell, portal), from where, "
        "and with which authentication methods. Without it the kit cannot tie ARM writes to tools and MFA "
        "prompts; tool and automation findings are marked 'unknown'.",
        _ENTRA_SETTING.format(category="SignInLogs"),
    ),
    "AADNonInteractiveUserSignInLogs": (
        "AADNonInteractiveUserSignInLogs holds the sign-ins a client makes on the user's behalf without a "
        "prompt (refresh-token redemptions). Most Azure CLI and PowerShell token traffic for ARM lands here, "
        "so without it the kit sees fewer tool versions and misses scripts that never sign in interactively: "
        "verdicts that rely on it are marked 'unknown' rather than guessed.",
        _ENTRA_SETTING.format(category="NonInteractiveUserSignInLogs"),
    ),
    "AADServicePrincipalSignInLogs": (
        "AADServicePrincipalSignInLogs shows automation that already signs in as a service principal. "
        "Phase 2 does not affect it; the kit uses it only as context for what has already moved.",
        _ENTRA_SETTING.format(category="ServicePrincipalSignInLogs"),
    ),
    "AADManagedIdentitySignInLogs": (
        "AADManagedIdentitySignInLogs shows managed identities signing in. Phase 2 does not affect them; "
        "the kit uses it only as context.",
        _ENTRA_SETTING.format(category="ManagedIdentitySignInLogs"),
    ),
}
#: Tables whose absence leaves the kit unable to answer its first question.
ESSENTIAL = frozenset({"AzureActivity"})
#: Tables that only add context: their absence is worth knowing, never worth failing.
CONTEXT_ONLY = frozenset({"AADServicePrincipalSignInLogs", "AADManagedIdentitySignInLogs"})
#: No new row for this long before the window's end suggests the export stopped.
STALE_AFTER = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Finding:
    """One line of the diagnosis."""

    level: str
    table: str
    message: str


@dataclass(frozen=True)
class TableCheck:
    """Everything the doctor learned about one table."""

    table: str
    present: bool
    required_by: tuple[str, ...] = ()
    optional_for: tuple[str, ...] = ()
    rows_in_window: int | None = None
    total_rows: int | None = None
    oldest: dt.datetime | None = None
    newest: dt.datetime | None = None
    type_mismatches: tuple[tuple[str, str, str], ...] = ()
    missing_columns: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class DoctorReport:
    """The diagnosis of one workspace for one window."""

    where: str
    start: dt.datetime
    end: dt.datetime
    tables: tuple[TableCheck, ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing stops the reports from running (warnings allowed)."""
        return not any(f.level == "problem" for f in self.findings)

    @property
    def missing_tables(self) -> list[str]:
        return [t.table for t in self.tables if not t.present]

    def table(self, name: str) -> TableCheck:
        return next(t for t in self.tables if t.table == name)

    @property
    def text(self) -> str:
        return render(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for the run manifest)."""
        return {
            "where": self.where,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "ok": self.ok,
            "missing_tables": self.missing_tables,
            "tables": [
                {
                    "table": t.table,
                    "present": t.present,
                    "required_by": list(t.required_by),
                    "optional_for": list(t.optional_for),
                    "rows_in_window": t.rows_in_window,
                    "total_rows": t.total_rows,
                    "oldest": t.oldest.isoformat() if t.oldest else None,
                    "newest": t.newest.isoformat() if t.newest else None,
                    "type_mismatches": [list(m) for m in t.type_mismatches],
                    "missing_columns": list(t.missing_columns),
                }
                for t in self.tables
            ],
            "findings": [{"level": f.level, "table": f.table, "message": f.message} for f in self.findings],
        }


def diagnose(
    backend: Backend,
    *,
    now: dt.datetime | None = None,
    lookback: dt.timedelta = dt.timedelta(days=30),
    queries: Iterable[Query] | None = None,
) -> DoctorReport:
    """Check every registry table on ``backend`` for the window ``[now - lookback, now)``."""
    moment = now or getattr(backend, "now", None) or dt.datetime.now(dt.UTC)
    start, end = window(moment, lookback)
    catalog = list(queries) if queries is not None else list(load_catalog().values())
    present = backend.available_tables()
    checks = []
    for table in TABLES:
        required = tuple(sorted(q.name for q in catalog if table in q.tables))
        optional = tuple(sorted(q.name for q in catalog if table in q.optional_tables))
        users = [q for q in catalog if table in q.all_tables]
        if table not in present:
            checks.append(
                TableCheck(table, False, required, optional, findings=tuple(_missing(table, required, optional)))
            )
            continue
        schema = _schema(backend, table)
        mismatches, absent = _compare(table, schema)
        coverage = table_coverage(backend, table, start, end)
        check = TableCheck(
            table,
            True,
            required,
            optional,
            coverage.rows_in_window,
            coverage.total_rows,
            coverage.oldest,
            coverage.newest,
            tuple(mismatches),
            tuple(absent),
        )
        findings = _present_findings(check, users, start, end)
        checks.append(replace(check, findings=tuple(findings)))
    all_findings = tuple(f for c in checks for f in c.findings) + tuple(_window_findings(checks, start, end, lookback))
    return DoctorReport(str(getattr(backend, "description", "workspace")), start, end, tuple(checks), all_findings)


def _window_findings(
    checks: list[TableCheck], start: dt.datetime, end: dt.datetime, lookback: dt.timedelta
) -> list[Finding]:
    """A window that misses all the data: name the data's range and the --now that would cover it."""
    coverages = [
        Coverage(c.table, c.total_rows or 0, c.rows_in_window or 0, c.oldest, c.newest) for c in checks if c.present
    ]
    message = empty_window_warning(coverages, start, end, lookback)
    return [Finding("problem", "window", message)] if message else []


def doctor(
    workspace: str,
    *,
    now: dt.datetime | None = None,
    lookback: dt.timedelta = dt.timedelta(days=30),
    config_path: str | Path | None = None,
) -> DoctorReport:
    """``kitlib doctor --workspace DIR|NAME``: open the workspace and diagnose it."""
    with connect(workspace, now=now, config_path=config_path) as backend:
        return diagnose(backend, now=now, lookback=lookback)


# -- the checks ---------------------------------------------------------------------------------


def _schema(backend: Backend, table: str) -> dict[str, str]:
    reader = getattr(backend, "table_schema", None)
    if callable(reader):
        found = reader(table)
        if found is not None:
            return dict(found)
    query = utility_query("schema", table, f"{table} | getschema | project ColumnName, ColumnType", False)
    frame = backend.run(query, {}).frame
    return {str(name): str(kind) for name, kind in zip(frame["ColumnName"], frame["ColumnType"], strict=True)}


def _compare(table: str, actual: Mapping[str, str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    mismatches, absent = [], []
    for column, expected in TABLES[table].columns:
        found = actual.get(column)
        if found is None:
            absent.append(column)
        elif found.lower() != expected:
            mismatches.append((column, expected, found.lower()))
    return mismatches, absent


def _missing(table: str, required: tuple[str, ...], optional: tuple[str, ...]) -> list[Finding]:
    what, how = WHY[table]
    if table in ESSENTIAL or (required and table not in CONTEXT_ONLY):
        level = "problem"
    elif table in CONTEXT_ONLY:
        level = "info"
    else:
        level = "warning"
    uses = []
    if required:
        uses.append(f"queries that cannot run without it: {', '.join(required)}")
    if optional:
        uses.append(f"queries that run with it treated as empty: {', '.join(optional)}")
    suffix = (" " + "; ".join(uses) + ".") if uses else ""
    return [Finding(level, table, f"table {table} is not in this workspace. {what}{suffix} How to send it: {how}")]


def _present_findings(check: TableCheck, users: list[Query], start: dt.datetime, end: dt.datetime) -> list[Finding]:
    table = check.table
    findings: list[Finding] = []
    for column, expected, found in check.type_mismatches:
        read = [q.name for q in users if re.search(rf"\b{re.escape(column)}\b", q.text)]
        level = "problem" if read else "warning"
        note = f"; read by {', '.join(read)}" if read else ""
        findings.append(
            Finding(
                level,
                table,
                f"column {column} is {found} here but the queries assume {expected} (kitlib/schema.py){note}",
            )
        )
    if check.missing_columns:
        read = sorted({c for c in check.missing_columns for q in users if re.search(rf"\b{re.escape(c)}\b", q.text)})
        level = "problem" if read else "info"
        shown = ", ".join(read or check.missing_columns[:8]) + (
            "" if read or len(check.missing_columns) <= 8 else ", ..."
        )
        findings.append(
            Finding(level, table, f"{len(check.missing_columns)} registry column(s) are not in this table: {shown}")
        )
    if not check.type_mismatches and not check.missing_columns:
        findings.append(
            Finding("ok", table, f"all {len(TABLES[table].columns)} columns the kit knows have the expected types")
        )
    span = f"{_day(start)} .. {_day(end)}"
    if check.rows_in_window == 0:
        level = "problem" if table in ESSENTIAL else ("info" if table in CONTEXT_ONLY else "warning")
        what = WHY[table][0].split(". ")[0]
        findings.append(
            Finding(
                level,
                table,
                f"no rows in the window {span} ({check.total_rows or 0} in all). {what}; "
                f"check that its diagnostic setting still sends data.",
            )
        )
    else:
        findings.append(Finding("ok", table, f"{check.rows_in_window:,} rows in the window {span}"))
        # A gap under a day is just a quiet start of the window, not missing retention.
        if check.oldest is not None and check.oldest - start > dt.timedelta(days=1):
            missing_days = (check.oldest - start).total_seconds() / 86_400
            findings.append(
                Finding(
                    "warning",
                    table,
                    f"data starts {_day(check.oldest)}, {missing_days:.1f} days after the window starts: earlier "
                    f"activity is not visible (retention, or the diagnostic setting was switched on then)",
                )
            )
        if check.newest is not None and end - check.newest > STALE_AFTER:
            hours = (end - check.newest).total_seconds() / 3600
            findings.append(
                Finding(
                    "warning",
                    table,
                    f"newest row is {_day(check.newest)}, {hours:.0f} hours before the window ends: "
                    f"has the export stopped?",
                )
            )
    return findings


def _day(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(report: DoctorReport) -> str:
    """The report as plain text for the terminal."""
    lines = [f"kitlib doctor: {report.where}", f"window: {_day(report.start)} .. {_day(report.end)}", ""]
    for check in report.tables:
        if check.present:
            extent = f"{_day(check.oldest)} .. {_day(check.newest)}" if check.oldest and check.newest else "no data"
            lines.append(
                f"{check.table}: present, {check.rows_in_window:,} rows in the window, "
                f"{check.total_rows:,} in all ({extent})"
            )
        else:
            lines.append(f"{check.table}: MISSING")
        for finding in check.findings:
            lines.append(f"  {finding.level}: {finding.message}")
        lines.append("")
    for finding in report.findings:
        if finding.table == "window":
            lines.extend([f"window: {finding.level}: {finding.message}", ""])
    counts = {level: sum(1 for f in report.findings if f.level == level) for level in ("problem", "warning")}
    lines.append(
        f"summary: {counts['problem']} problem(s), {counts['warning']} warning(s)"
        + ("" if report.ok else " - reports will be incomplete or fail until the problems are fixed")
    )
    return "\n".join(lines)
