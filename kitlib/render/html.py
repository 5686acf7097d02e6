"""Safe displays: every data-derived string is HTML-escaped before it reaches a page.

The objects here render in JupyterLab (``_repr_html_``) and survive the offline HTML export
unchanged; none of them takes markup from the logs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kitlib.analysis.findings import by_severity
from kitlib.analysis.model import split_items
from kitlib.errors import UsageError
from kitlib.render.labels import cell_text, column_label, readable

#: Characters that reorder text when displayed (bidi overrides, embeddings, isolates, marks): a
#: log string carrying one can show ``exe.pdf`` for ``fdp.exe``. They are shown as ``[U+202E]``.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def visible_controls(text: str) -> str:
    """``text`` with every bidi control written as ``[U+XXXX]``, so it cannot reorder what is shown."""
    if not any(ch in BIDI_CONTROLS for ch in text):
        return text
    return "".join(f"[U+{ord(ch):04X}]" if ch in BIDI_CONTROLS else ch for ch in text)


def esc(value: Any) -> str:
    """HTML-escaped text of any value (quotes too): the only way data reaches report HTML."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(visible_controls(str(value)), quote=True)


@dataclass
class HTML:
    """Pre-escaped HTML built by this module; shows in Lab and survives the HTML export."""

    html: str
    text: str = ""

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text or "<HTML>"


#: Rows a searchable table shows at a time.
PAGE_SIZE = 25
#: How many identities an identities table carries (paged and searchable); the CSV has them all.
IDENTITY_TABLE_ROWS = 1000


def table(
    frame: pd.DataFrame,
    *,
    caption: str = "",
    max_rows: int = 50,
    sortable: bool = False,
    numeric_sort: Iterable[str] = (),
    raw_html: Mapping[str, Sequence[str]] | None = None,
    more: str = "",
    total: int | None = None,
    searchable: bool | None = None,
    page_size: int = PAGE_SIZE,
) -> HTML:
    """An escaped HTML table of ``frame`` (first ``max_rows`` rows, with a note on what was cut).

    ``raw_html`` gives, per column, markup this module already built and escaped (one string per
    shown row); ``more`` replaces the default note on cut rows. A ``searchable`` table (by
    default one longer than a page) gets a search box, a column filter and pages of
    ``page_size`` rows in the offline report (``kit.js``); without scripts it shows every row.
    """
    shown = frame.head(max_rows)
    raw = {k: list(v) for k, v in (raw_html or {}).items()}
    classes = "kit-table kit-sortable" if sortable else "kit-table"
    if searchable if searchable is not None else len(shown) > page_size:
        classes += " kit-searchable"
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    numeric = {c for c in shown.columns if pd.api.types.is_numeric_dtype(shown[c])} | set(numeric_sort)
    # Long free text (reasons, remediation) gets a readable minimum width instead of a sliver.
    wordy = {
        c
        for c in shown.columns
        if c not in numeric and len(shown) and (c in raw or shown[c].map(lambda v: len(cell_text(v))).mean() > 40)
    }
    rows = []
    for position, record in enumerate(shown.itertuples(index=False, name=None)):
        cells = []
        for column, value in zip(shown.columns, record, strict=True):
            attr = ' class="num"' if column in numeric else ' class="text"' if column in wordy else ""
            content = raw[column][position] if column in raw else esc(cell_text(value))
            cells.append(f"<td{attr}>{content}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    count = len(frame) if total is None else total
    if not more and count > max_rows:
        more = f"Showing {max_rows:,} of {count:,} rows; the full list is in the data files."
    more_html = f'<p class="kit-more">{esc(more)}</p>' if more else ""
    if frame.empty:
        body = f'<tr><td colspan="{max(len(shown.columns), 1)}">(none)</td></tr>'
    else:
        body = "".join(rows)
    markup = (
        f'<div class="kit-table-wrap"><table class="{classes}" data-page-size="{int(page_size)}">{cap}'
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>{more_html}"
    )
    return HTML(markup, frame.head(max_rows).to_string(index=False) if len(frame.columns) else "(empty)")


#: What a tile shows for a number that was not measured (None: a table it is counted from is absent).
NOT_MEASURED = "could not look"


def headline(numbers: Mapping[str, Any], *, notes: Mapping[str, str] | None = None) -> HTML:
    """Big numbers in a row of tiles: label -> value (escaped), with an optional note per tile.

    A value of None was not measured (see ``NotebookContext.measured``): its tile says
    "could not look" instead of showing a zero that would read as a finding.
    """
    notes = notes or {}
    tiles = []
    for label, value in numbers.items():
        note = notes.get(label, "")
        note_html = f'<div class="kit-tile-note">{esc(note)}</div>' if note else ""
        shown = NOT_MEASURED if value is None else cell_text(value)
        kind = "kit-tile kit-tile-unmeasured" if value is None else "kit-tile"
        tiles.append(
            f'<div class="{kind}"><div class="kit-tile-value">{esc(shown)}</div>'
            f'<div class="kit-tile-label">{esc(label)}</div>{note_html}</div>'
        )
    text = "\n".join(f"{k}: {NOT_MEASURED if v is None else cell_text(v)}" for k, v in numbers.items())
    return HTML(f'<div class="kit-tiles">{"".join(tiles)}</div>', text)


def note(text: str, *, kind: str = "info") -> HTML:
    """A paragraph of escaped text (kind: info, warning, ok) for findings worded from data."""
    if kind not in ("info", "warning", "ok"):
        raise UsageError(f"note kind must be info, warning or ok, not {kind!r}")
    return HTML(f'<p class="kit-note kit-note-{kind}">{esc(text)}</p>', text)


def bullets(items: Iterable[str], *, title: str = "") -> HTML:
    """An escaped bullet list (e.g. what to do first)."""
    lines = list(items)
    head = f"<p><strong>{esc(title)}</strong></p>" if title else ""
    body = "".join(f"<li>{esc(i)}</li>" for i in lines) or "<li>(nothing)</li>"
    return HTML(f'{head}<ul class="kit-list">{body}</ul>', "\n".join(f"- {i}" for i in lines))


def _details(text: Any) -> str:
    """Joined text as a short summary that opens into one line per item."""
    items = split_items(text)
    if not items:
        return ""
    if len(items) == 1 and len(items[0]) <= 90:
        return esc(items[0])
    summary = items[0] if len(items[0]) <= 90 else items[0][:87].rstrip() + "\u2026"
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    body = "".join(f"<li>{esc(i)}</li>" for i in items)
    return f"<details><summary>{esc(summary)}{esc(more)}</summary><ul>{body}</ul></details>"


IDENTITY_TABLE_COLUMNS = (
    "identity",
    "verdict",
    "arm_writes_without_mfa",
    "automation_band",
    "tools",
    "reasons",
    "remediation",
)


def identity_table(
    identities: pd.DataFrame,
    *,
    caption: str,
    columns: Sequence[str] = IDENTITY_TABLE_COLUMNS,
    max_rows: int = IDENTITY_TABLE_ROWS,
    full_list: str = "identities.csv",
    expandable: Sequence[str] = ("reasons", "remediation", "automation_reasons", "tool_versions"),
    rank: bool = True,
) -> HTML:
    """The most urgent ``max_rows`` identities (or the first, ``rank=False``), long text folded into <details>."""
    ranked = by_severity(identities) if rank else identities
    shown = ranked.head(max_rows)
    present = [c for c in columns if c in shown.columns]
    folded = [c for c in present if c in expandable]
    plain = readable(shown[[c for c in present if c not in folded]])
    markup: dict[str, list[str]] = {column_label(c): [_details(v) for v in shown[c]] for c in folded}
    more = ""
    if len(ranked) > max_rows:
        more = f"Showing the {max_rows:,} most urgent of {len(ranked):,} identities; the full list is in {full_list}."
    return table(
        plain.assign(**{k: [""] * len(plain) for k in markup}),
        caption=caption,
        max_rows=max_rows,
        sortable=True,
        raw_html=markup,
        more=more,
        total=len(ranked),
    )


def no_activity(what: str = "ARM activity by user identities") -> HTML:
    """The empty state of a page: nothing was seen in the window, said plainly."""
    return note(f"No {what} in this window: there is nothing to show here.", kind="info")


def warnings_note(warnings: Iterable[str]) -> HTML:
    """The analysis' warnings, shown where they change what a page can say."""
    items = list(dict.fromkeys(str(w) for w in warnings))
    if not items:
        return HTML("", "")
    body = "".join(f"<li>{esc(w)}</li>" for w in items)
    return HTML(
        f'<div class="kit-note kit-note-warning"><strong>The analysis warned:</strong><ul>{body}</ul></div>',
        "\n".join(items),
    )
