"""Hand the work to the people who must act: one worklist per owner, one workbook, one summary.

A run folder gains::

    worklists/<owner>.csv   the identities an owner must act on (spreadsheet-safe CSV)
    worklists.xlsx          a summary sheet and one sheet per owner (every log value a string)
    summary.md              the headline, the owners with most to do, what to do first

Every value that came from the logs is text to a spreadsheet: CSVs go through
:mod:`kitlib.safe_csv`, workbook cells are written as explicit strings (never formulas, links or
numbers parsed from text), and bidi controls are shown as ``[U+202E]``. Owner names are cleaned
for file and sheet names (path characters, Excel's 31-character sheet names, duplicates).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from kitlib.analysis.routing import FINDINGS, UNASSIGNED, owner_counts
from kitlib.render.html import visible_controls
from kitlib.render.labels import label
from kitlib.safe_csv import write_csv

WORKLIST_FOLDER = "worklists"
WORKBOOK = "worklists.xlsx"
SUMMARY = "summary.md"
#: A worklist's columns: who and where first, then the evidence, then what to do.
WORKLIST_COLUMNS = (
    "owner",
    "contact",
    "identity",
    "display_name",
    "verdict",
    "arm_writes_without_mfa_here",
    "arm_writes_here",
    "resources_here",
    "arm_writes_without_mfa",
    "arm_writes",
    "automation_band",
    "ropc",
    "guest",
    "breakglass",
    "tools",
    "tool_versions",
    "version_ok",
    "reasons",
    "remediation",
)
#: What Excel refuses in a sheet name, and what it reserves.
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_RESERVED_SHEETS = frozenset({"history"})
_EXCEL_CELL_LIMIT = 32_767
_SEVERITY = {v: i for i, v in enumerate(FINDINGS)}


@dataclass
class Worklists:
    """What was written: file names relative to the run folder, and the routing in numbers."""

    files: list[str] = field(default_factory=list)
    owners: int = 0
    identities: int = 0
    unassigned: int = 0
    by_owner: pd.DataFrame = field(default_factory=pd.DataFrame)


def file_stem(owner: str, taken: set[str]) -> str:
    """A file name for ``owner``: letters, digits, ``.``, ``_`` and ``-`` only, unique in any case."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", owner).strip(".-_")[:80] or "owner"
    if stem.lower() in {"con", "prn", "aux", "nul"}:
        stem = f"{stem}-owner"
    return _unique(stem, taken, limit=80)


def sheet_name(owner: str, taken: set[str]) -> str:
    """An Excel sheet name for ``owner``: no ``[]:*?/\\``, no edge apostrophes, at most 31 characters, unique."""
    name = _SHEET_FORBIDDEN.sub("-", visible_controls(owner)).strip().strip("'").strip() or "owner"
    if name.lower() in _RESERVED_SHEETS:
        name = f"{name} (owner)"
    return _unique(name[:31], taken, limit=31)


def _unique(name: str, taken: set[str], *, limit: int) -> str:
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        suffix = f"-{number}"
        candidate = name[: limit - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


def worklist_frame(routed: pd.DataFrame, identities: pd.DataFrame) -> pd.DataFrame:
    """The routed findings with each identity's evidence, tools and advice, most urgent first per owner."""
    facts = identities.drop_duplicates("identity")
    frame = routed.merge(facts, on="identity", how="left", validate="many_to_one")
    present = [c for c in WORKLIST_COLUMNS if c in frame.columns]
    frame = frame[present]
    order = frame["verdict"].map(lambda v: _SEVERITY.get(str(v), len(_SEVERITY)))
    frame = frame.assign(_order=order, _unassigned=frame["owner"].eq(UNASSIGNED))
    frame = frame.sort_values(
        ["_unassigned", "owner", "_order", "arm_writes_without_mfa_here", "identity"],
        ascending=[True, True, True, False, True],
        kind="stable",
    )
    return frame.drop(columns=["_order", "_unassigned"]).reset_index(drop=True)


def _text(value: Any) -> Any:
    return visible_controls(value) if isinstance(value, str) else value


def write_worklists(
    folder: Path,
    routed: pd.DataFrame,
    identities: pd.DataFrame,
    *,
    generated_at: dt.datetime,
    window: tuple[dt.datetime, dt.datetime],
    headline: dict[str, Any],
    first_steps: Sequence[str],
    per_subscription: bool,
) -> Worklists:
    """Write the worklists, the workbook and the summary into ``folder``; what was written."""
    frame = worklist_frame(routed, identities)
    frame = frame.apply(lambda column: column.map(_text) if column.dtype == object else column)
    counts = owner_counts(routed, identities)
    result = Worklists(
        owners=int((counts["owner"] != UNASSIGNED).sum()),
        identities=int(routed["identity"].nunique()),
        unassigned=int(routed.loc[routed["owner"] == UNASSIGNED, "identity"].nunique()),
        by_owner=counts,
    )
    stems: set[str] = set()
    sheets: set[str] = {"summary"}
    names: dict[str, tuple[str, str]] = {}
    for owner in counts["owner"]:
        names[owner] = (file_stem(owner, stems), sheet_name(owner, sheets))
    (folder / WORKLIST_FOLDER).mkdir(parents=True, exist_ok=True)
    for owner, (stem, _) in names.items():
        path = write_csv(frame[frame["owner"] == owner], folder / WORKLIST_FOLDER / f"{stem}.csv")
        result.files.append(path.relative_to(folder).as_posix())
    _write_workbook(folder / WORKBOOK, frame, counts, names, generated_at)
    result.files.append(WORKBOOK)
    (folder / SUMMARY).write_text(
        summary_markdown(
            counts, result, window=window, headline=headline, first_steps=first_steps, per_subscription=per_subscription
        ),
        encoding="utf-8",
    )
    result.files.append(SUMMARY)
    return result


def _write_workbook(
    path: Path, frame: pd.DataFrame, counts: pd.DataFrame, names: dict[str, tuple[str, str]], generated_at: dt.datetime
) -> None:
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(str(path), options)
    # A fixed creation time makes the same run give the same bytes.
    book.set_properties({"title": "MFA readiness worklists", "created": generated_at.replace(tzinfo=None)})
    bold = book.add_format({"bold": True, "bg_color": "#F6F8FA", "bottom": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    top = book.add_format({"valign": "top"})
    summary = counts.assign(sheet=counts["owner"].map(lambda o: names[o][1]))
    _write_sheet(book, "summary", summary, bold, wrap, top)
    for owner, (_, sheet) in names.items():
        _write_sheet(book, sheet, frame[frame["owner"] == owner], bold, wrap, top)
    book.close()


def _write_sheet(book: xlsxwriter.Workbook, name: str, frame: pd.DataFrame, bold: Any, wrap: Any, top: Any) -> None:
    sheet = book.add_worksheet(name)
    columns = list(frame.columns)
    for col, title in enumerate(columns):
        sheet.write_string(0, col, str(title), bold)
    wordy = {"reasons", "remediation", "tool_versions"}
    for row, record in enumerate(frame.itertuples(index=False, name=None), start=1):
        for col, value in enumerate(record):
            cell_format = wrap if columns[col] in wordy else top
            if isinstance(value, bool):
                sheet.write_string(row, col, "true" if value else "false", cell_format)
            elif isinstance(value, (int, float)) and not pd.isna(value):
                sheet.write_number(row, col, value, cell_format)
            elif value is None or (isinstance(value, float) and pd.isna(value)):
                sheet.write_blank(row, col, None, cell_format)
            else:
                text = str(value)
                if len(text) > _EXCEL_CELL_LIMIT:
                    text = text[: _EXCEL_CELL_LIMIT - 40] + " [cut: the CSV has the whole value]"
                sheet.write_string(row, col, text, cell_format)
    for col, title in enumerate(columns):
        longest = max([len(str(title)), *(len(str(v)) for v in frame[title].head(200))], default=10)
        sheet.set_column(col, col, 60 if title in wordy else min(max(longest + 2, 10), 48))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(frame), 1), max(len(columns) - 1, 0))


# Inside a list item or table cell only these start Markdown constructs (or HTML, or an entity).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~&])")


def markdown_text(value: Any) -> str:
    """Text from the logs made literal in Markdown (no emphasis, link, heading or HTML from it)."""
    text = visible_controls(str(value)).replace("\r", " ").replace("\n", " ")
    escaped: str = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return escaped


def summary_markdown(
    counts: pd.DataFrame,
    worklists: Worklists,
    *,
    window: tuple[dt.datetime, dt.datetime],
    headline: dict[str, Any],
    first_steps: Iterable[str],
    per_subscription: bool,
    top: int = 10,
) -> str:
    """A short text a person can paste into a ticket or an e-mail."""
    start, end = (w.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") for w in window)
    verdicts = headline.get("verdicts", {})
    lines = [
        "# MFA readiness: who must act",
        "",
        f"Window: {start} to {end}.",
        "",
        f"- {verdicts.get('will_break', 0):,} user identities would break (a write or delete without MFA); "
        f"{headline.get('will_break_automation', 0):,} of them look like automation.",
        f"- {verdicts.get('at_risk', 0):,} are at risk and {verdicts.get('unknown', 0):,} cannot be judged "
        "from these logs.",
        f"- {worklists.identities:,} identities with a finding are routed to {worklists.owners:,} "
        + ("subscriptions" if per_subscription else "owners")
        + f"; {worklists.unassigned:,} are unassigned (no owner's scope covers what they wrote, "
        "or they wrote nothing).",
        "",
        "## Owners with the most to do",
        "",
        "| owner | would break | at risk | cannot tell |",
        "|---|---:|---:|---:|",
    ]
    for row in counts.head(top).itertuples(index=False):
        lines.append(f"| {markdown_text(row.owner)} | {row.will_break:,} | {row.at_risk:,} | {row.unknown:,} |")
    if len(counts) > top:
        lines.append(f"| and {len(counts) - top:,} more | | | |")
    lines += ["", "## What to do first", ""]
    lines += [f"{n}. {markdown_text(step)}" for n, step in enumerate(first_steps, start=1)] or ["Nothing to fix."]
    lines += [
        "",
        "## Where the details are",
        "",
        f"The full report is `index.html` in the same folder; each owner's list is `{WORKLIST_FOLDER}/<owner>.csv` "
        f"and a sheet of `{WORKBOOK}`; `identities.csv` has every identity. Verdicts: "
        + ", ".join(f"{label(v)} (`{v}`)" for v in FINDINGS)
        + ".",
        "",
    ]
    return "\n".join(lines)
