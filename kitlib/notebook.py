"""What a notebook needs after its parameters cell: one explicit context, safe displays, glue.

A kit notebook reads::

    ctx = kitlib.notebook.setup(workspace=workspace, now=now, lookback=lookback,
                                breakglass=breakglass, pseudonymize=pseudonymize)

and from then on calls ``ctx.query(...)``, ``ctx.analyze()``, ``ctx.table(...)`` and
``ctx.glue(...)``. Nothing is injected into the notebook's namespace. The context records
what was missing or partial, and glues that record (``kitlib.query.run``) so the HTML export can say
it in the report header. Every frame passes through the pseudonymiser (when asked for) before
it can be displayed, and every data-derived string is HTML-escaped before it is displayed.

``glue()`` writes scrapbook's wire format for JSON values (mimetype
``application/scrapbook.scrap.json+json``, payload ``{name, data, encoder, version}``) so
scrapbook can still read our notebooks, without depending on the unmaintained package.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from kitlib.backends.base import Backend, QueryResult
from kitlib.errors import UsageError
from kitlib.privacy.pseudonyms import Pseudonymizer, is_pseudonym
from kitlib.query.binding import BindError, parse_datetime, parse_timespan

if TYPE_CHECKING:  # nbformat pulls in jsonschema: only the exporter and runner need it
    import nbformat

# plotly imports nbformat on a kernel's first figure; nbformat imports jsonschema, whose optional
# IRI format checker (rfc3987_syntax) compiles an Earley grammar on import: ~4-5 s of CPU per
# kernel, for a check nothing in a kit notebook uses. Marking the optional module as absent
# makes jsonschema skip that checker (it handles the ImportError); nothing else changes.
if "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

GLUE_MIMETYPE = "application/scrapbook.scrap.json+json"
GLUE_PREFIX = "application/scrapbook.scrap."
#: Name of the glued record the exporter turns into the report header.
RUN_GLUE = "kitlib.query.run"
#: Output metadata key marking displays meant for the live notebook only (dropped from HTML).
LIVE_ONLY = "kitlib_live_only"

#: Personal-data columns of the analysis frames (identities.csv, tools.csv, evidence frames).
ANALYSIS_ROLES: Mapping[str, str] = {
    "identity": "user",
    "user_id": "id",
    "Caller": "user",
    "UserPrincipalName": "user",
    "UserId": "id",
    "UserDisplayName": "name",
    "IPAddress": "ip",
    "CallerIpAddress": "ip",
    "ips": "ip",
    "ip": "ip",
    "display_name": "name",
}
#: Free-text columns that may quote an identity: originals are replaced by their pseudonyms.
ANALYSIS_TEXT_COLUMNS = ("reasons", "remediation", "automation_reasons", "evidence", "note")
#: Set by the batch runner: a pickled Analysis it already computed for the same parameters.
ANALYSIS_CACHE_ENV = "KITLIB_ANALYSIS_CACHE"


# -- glue -----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars, timestamps and frames become their JSON equivalents."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _jsonable(item())
    raise UsageError(f"glue() takes JSON values (numbers, strings, lists, dicts), not {type(value).__name__}")


def glue_bundle(name: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (data, metadata) display bundle for one glued value, in scrapbook's shape."""
    payload = {"name": name, "data": _jsonable(value), "encoder": "json", "version": 1}
    json.dumps(payload)  # fail here, in the notebook, rather than at export
    return {GLUE_MIMETYPE: payload}, {"scrapbook": {"name": name, "data": True, "display": False}}


def glue(name: str, value: Any) -> None:
    """Record ``value`` under ``name`` in the notebook's outputs (read back with read_glued)."""
    from IPython.display import display

    data, metadata = glue_bundle(name, value)
    display(data, raw=True, metadata=metadata)


def read_glued(notebook: nbformat.NotebookNode | Path | str) -> dict[str, Any]:
    """Every glued value in an executed notebook by name; the last one wins on repeats."""
    import nbformat

    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(str(notebook), as_version=4)
    values: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for mimetype, payload in output.get("data", {}).items():
                if mimetype.startswith(GLUE_PREFIX) and isinstance(payload, Mapping) and "name" in payload:
                    values[str(payload["name"])] = payload.get("data")
    return values


# -- safe displays ------------------------------------------------------------------------


def esc(value: Any) -> str:
    """HTML-escaped text of any value (quotes too): the only way data reaches report HTML."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.1f}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    if value is None or value is pd.NaT:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


@dataclass
class HTML:
    """Pre-escaped HTML built by this module; shows in Lab and survives the HTML export."""

    html: str
    text: str = ""

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text or "<HTML>"


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
) -> HTML:
    """An escaped HTML table of ``frame`` (first ``max_rows`` rows, with a note on what was cut).

    ``raw_html`` gives, per column, markup this module already built and escaped (one string per
    shown row); ``more`` replaces the default note on cut rows.
    """
    shown = frame.head(max_rows)
    raw = {k: list(v) for k, v in (raw_html or {}).items()}
    classes = "kit-table kit-sortable" if sortable else "kit-table"
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    numeric = {c for c in shown.columns if pd.api.types.is_numeric_dtype(shown[c])} | set(numeric_sort)
    # Long free text (reasons, remediation) gets a readable minimum width instead of a sliver.
    wordy = {
        c
        for c in shown.columns
        if c not in numeric and len(shown) and (c in raw or shown[c].map(lambda v: len(_cell(v))).mean() > 40)
    }
    rows = []
    for position, record in enumerate(shown.itertuples(index=False, name=None)):
        cells = []
        for column, value in zip(shown.columns, record, strict=True):
            attr = ' class="num"' if column in numeric else ' class="text"' if column in wordy else ""
            content = raw[column][position] if column in raw else esc(_cell(value))
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
        f'<div class="kit-table-wrap"><table class="{classes}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{more_html}"
    )
    return HTML(markup, frame.head(max_rows).to_string(index=False) if len(frame.columns) else "(empty)")


def headline(numbers: Mapping[str, Any], *, notes: Mapping[str, str] | None = None) -> HTML:
    """Big numbers in a row of tiles: label -> value (escaped), with an optional note per tile."""
    notes = notes or {}
    tiles = []
    for label, value in numbers.items():
        note = notes.get(label, "")
        note_html = f'<div class="kit-tile-note">{esc(note)}</div>' if note else ""
        tiles.append(
            f'<div class="kit-tile"><div class="kit-tile-value">{esc(_cell(value))}</div>'
            f'<div class="kit-tile-label">{esc(label)}</div>{note_html}</div>'
        )
    text = "\n".join(f"{k}: {_cell(v)}" for k, v in numbers.items())
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


def empty_frame(*columns: str) -> pd.DataFrame:
    """A frame with these columns and no rows: what a notebook shows when a source is absent."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def empty_timeline() -> pd.DataFrame:
    """An empty ``identity_timeline`` result with its column types (no identity to examine)."""
    frame = empty_frame("Kind", "Source", "App", "Resource", "Ip", "Detail", "UserAgent")
    frame["Hour"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["First"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["Last"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["Mfa"] = pd.Series(dtype=bool)
    frame["Events"] = pd.Series(dtype="int64")
    frame["Operations"] = pd.Series(dtype="int64")
    return frame


# -- readable names: one vocabulary for every page ----------------------------------------------

#: What a person reads instead of the analysis' internal values (verdicts, bands, flags).
VALUE_LABELS: Mapping[str, str] = {
    "will_break": "would break",
    "at_risk": "at risk",
    "not_affected": "not affected",
    "unknown": "cannot tell",
    "likely_automation": "likely automation",
    "review": "to review",
    "human": "human",
}
#: ``version_ok`` in words; the portal needs no client upgrade, so its versions do not apply.
VERSION_OK_LABELS: Mapping[str, str] = {
    "yes": "handles the claims challenge",
    "no": "too old",
    "unknown": "cannot tell",
    "n/a": "not applicable",
}
NOT_APPLICABLE_TOOLS = frozenset({"portal"})
#: Column headers in words (a column not listed keeps its name with spaces for underscores).
COLUMN_LABELS: Mapping[str, str] = {
    "identity": "identity",
    "verdict": "verdict",
    "arm_writes": "writes",
    "arm_writes_without_mfa": "writes without MFA",
    "arm_actions": "actions",
    "arm_actions_without_mfa": "actions without MFA",
    "automation_score": "automation score",
    "automation_band": "automation band",
    "automation_reasons": "why it looks automated",
    "tools": "tools",
    "tool_versions": "tool versions",
    "version_ok": "client version",
    "azure_cli_version_ok": "Azure CLI version",
    "azure_powershell_version_ok": "Az PowerShell version",
    "ropc": "password sign-in (ROPC)",
    "guest": "guest",
    "breakglass": "break-glass",
    "policy_mfa_events": "MFA policy events",
    "reasons": "why",
    "remediation": "what to do",
    "tool": "tool",
    "version_band": "version band",
    "confidence": "confidence",
    "identities": "identities",
    "identities_will_break": "identities that would break",
    "evidence": "evidence",
    "before": "before",
    "now": "now",
    "change": "change",
}
#: First-party client app IDs seen in sign-in and activity logs, by name.
APP_NAMES: Mapping[str, str] = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Azure CLI",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Azure PowerShell",
    "c44b4083-3bb0-49c1-b47d-974e53cbdf3c": "Azure Portal",
    "872cd9fa-d31f-45e0-9eab-6e460a02d1f1": "Visual Studio",
    "aebc6443-996d-45c2-90f0-388ff96faa56": "Visual Studio Code",
    "0c1307d4-29d6-4389-a11c-5cbe7f65d7fa": "Azure mobile app",
}
TOOL_NAMES: Mapping[str, str] = {
    "azure-cli": "Azure CLI",
    "azure-powershell": "Az PowerShell",
    "portal": "Azure Portal",
}
#: Columns holding verdicts/bands, version flags, identities, app IDs and subscriptions.
_VALUE_COLUMNS = frozenset({"verdict", "automation_band", "before", "now"})
_VERSION_COLUMNS = frozenset({"version_ok", "azure_cli_version_ok", "azure_powershell_version_ok"})
_IDENTITY_COLUMNS = frozenset({"identity", "Caller", "Identity", "UserPrincipalName"})
_APP_COLUMNS = frozenset({"App", "AppId", "app"})
_SUBSCRIPTION_COLUMNS = frozenset({"SubscriptionId", "subscription"})
#: Order of severity for lists of identities (most urgent first).
SEVERITY: Mapping[str, int] = {"will_break": 0, "at_risk": 1, "unknown": 2, "not_affected": 3}


def label(value: Any) -> str:
    """An internal value (``will_break``, ``likely_automation``...) in words; others unchanged."""
    text = _cell(value)
    return VALUE_LABELS.get(text, text)


def column_label(name: str) -> str:
    """A column header in words."""
    return COLUMN_LABELS.get(name, name.replace("_", " "))


def version_label(ok: Any, tool: Any = "") -> str:
    """``version_ok`` in the kit's one vocabulary; the portal's is 'not applicable'."""
    if str(tool) in NOT_APPLICABLE_TOOLS:
        return VERSION_OK_LABELS["n/a"]
    text = _cell(ok)
    return VERSION_OK_LABELS.get(text, text)


def tool_label(tool: Any) -> str:
    """A tool family by its product name (``azure-cli`` -> Azure CLI); unknown ones unchanged."""
    return TOOL_NAMES.get(str(tool), _cell(tool))


def app_label(app: Any) -> str:
    """A well-known first-party app ID by name; an unknown ID (or a name) is shown as it is."""
    text = _cell(app)
    return APP_NAMES.get(text.strip().lower(), text)


def identity_label(upn: Any) -> str:
    """A guest's ``x_vendor.example#EXT#@tenant`` form as ``x@vendor.example (guest)``; others unchanged.

    Display only: pseudonyms never contain ``#EXT#``, so a pseudonymised run shows only pseudonyms.
    """
    text = _cell(upn)
    marker = text.lower().find("#ext#")
    if marker <= 0:
        return text
    local = text[:marker]
    at = local.rfind("_")
    if at <= 0:
        return text
    return f"{local[:at]}@{local[at + 1 :]} (guest)"


def subscription_label(subscription: Any, names: Mapping[str, str] | None = None) -> str:
    """A subscription by its name when known, else its first 8 characters and an ellipsis."""
    text = _cell(subscription)
    if names and text in names:
        return names[text]
    return text[:8] + "\u2026" if len(text) > 9 else text


def readable(frame: pd.DataFrame, *, subscriptions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` for display: values and column headers in words, apps and guests by name."""
    out = frame.copy()
    tool = out["tool"] if "tool" in out.columns else None
    for column in out.columns:
        if column in _VALUE_COLUMNS:
            out[column] = out[column].map(label)
        elif column in _VERSION_COLUMNS:
            tools = tool if tool is not None and column == "version_ok" else pd.Series("", index=out.index)
            out[column] = [version_label(ok, t) for ok, t in zip(out[column], tools, strict=True)]
        elif column in _IDENTITY_COLUMNS:
            out[column] = out[column].map(identity_label)
        elif column in _APP_COLUMNS:
            out[column] = out[column].map(app_label)
        elif column in _SUBSCRIPTION_COLUMNS:
            out[column] = out[column].map(lambda s: subscription_label(s, subscriptions))
        elif column in ("tools",):
            out[column] = out[column].map(lambda v: ", ".join(tool_label(t) for t in _cell(v).split(";") if t))
        elif column == "tool":
            out[column] = out[column].map(tool_label)
    return out.rename(columns={c: column_label(str(c)) for c in out.columns})


def split_items(text: Any, sep: str = " | ") -> list[str]:
    """The separate items of a joined text column (reasons, remediation)."""
    return [part.strip() for part in _cell(text).split(sep) if part.strip()]


def action_counts(frame: pd.DataFrame, column: str = "remediation", *, by: str = "identity") -> pd.DataFrame:
    """How many identities each separate action applies to (a joined text counts once per action)."""
    rows = [(action, who) for who, text in zip(frame[by], frame[column], strict=True) for action in split_items(text)]
    pairs = pd.DataFrame(rows, columns=["action", by]).drop_duplicates()
    counts = pairs.groupby("action", as_index=False).agg(identities=(by, "count"))
    return counts.sort_values(["identities", "action"], ascending=[False, True], kind="stable").reset_index(drop=True)


def by_severity(identities: pd.DataFrame) -> pd.DataFrame:
    """Identities most urgent first: verdict severity, then writes without MFA, then name."""
    if identities.empty:
        return identities
    order = identities["verdict"].map(lambda v: SEVERITY.get(str(v), len(SEVERITY)))
    keyed = identities.assign(_order=order)
    keyed = keyed.sort_values(
        ["_order", "arm_writes_without_mfa", "identity"], ascending=[True, False, True], kind="stable"
    )
    return keyed.drop(columns="_order")


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
    max_rows: int = 50,
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


def identities_of(analysis: Any) -> pd.DataFrame:
    """The analysis' identities with every identities.csv column, even when no identity was seen."""
    from kitlib.analysis.impact import EXTRA_COLUMNS, IDENTITY_COLUMNS

    frame: pd.DataFrame = analysis.identities
    missing = [c for c in IDENTITY_COLUMNS + EXTRA_COLUMNS if c not in frame.columns]
    if missing:
        frame = pd.concat([frame, empty_frame(*missing)], axis=1)
    if frame.empty:
        frame = frame.astype({c: "int64" for c in ("arm_writes", "arm_writes_without_mfa") if c in frame})
    frame["breakglass"] = frame["breakglass"].fillna(False).astype(bool)
    for flag in ("ropc", "guest"):
        frame[flag] = frame[flag].fillna(False).astype(bool)
    return frame


def tools_of(analysis: Any) -> pd.DataFrame:
    """The analysis' tool bands with every tools.csv column, even when no tool was seen."""
    from kitlib.analysis.impact import TOOL_COLUMNS

    frame: pd.DataFrame = analysis.tools
    missing = [c for c in TOOL_COLUMNS if c not in frame.columns]
    return pd.concat([frame, empty_frame(*missing)], axis=1) if missing else frame


#: Card labels of :func:`below_claims_versions`, by glue name: every page that shows one of these
#: numbers uses this label, so the same idea reads the same (with its scope) everywhere.
BELOW_CLAIMS_LABELS: Mapping[str, str] = {
    "below_claims_versions": "on a client too old for the claims challenge (all user identities touching ARM)",
    "below_claims_versions_will_break": "too old and would break",
    "below_claims_versions_at_risk": "too old and at risk",
    "below_claims_versions_will_break_or_at_risk": "too old and would break or at risk (the overview's upgrade step)",
}


def too_old_clients(identities: pd.DataFrame) -> pd.DataFrame:
    """Identities (break-glass left out) whose Azure CLI / Az PowerShell cannot handle the claims challenge.

    The one definition behind every "too old" count: ``version_ok == "no"`` in identities.csv.
    """
    counted = identities[~identities["breakglass"].fillna(False).astype(bool)] if len(identities) else identities
    return counted[counted["version_ok"] == "no"] if "version_ok" in counted else counted.head(0)


def below_claims_versions(identities: pd.DataFrame) -> dict[str, int]:
    """How many identities are on a too-old client, in all and by verdict (Analysis.summary() lacks it).

    Keys are the glue names of :data:`BELOW_CLAIMS_LABELS`; the overview's upgrade step and the
    tools page both read them from here, so they cannot disagree.
    """
    old = too_old_clients(identities)
    verdict = old["verdict"] if "verdict" in old else pd.Series(dtype=object)
    will_break = int((verdict == "will_break").sum())
    at_risk = int((verdict == "at_risk").sum())
    return {
        "below_claims_versions": len(old),
        "below_claims_versions_will_break": will_break,
        "below_claims_versions_at_risk": at_risk,
        "below_claims_versions_will_break_or_at_risk": will_break + at_risk,
    }


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


# -- findings worded from data ------------------------------------------------------------


def _n(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


def _names(frame: pd.DataFrame, by: str, n: int = 3) -> str:
    top = frame.sort_values(by, ascending=False, kind="stable")["identity"].head(n).tolist()
    more = len(frame) - len(top)
    return ", ".join(top) + (f" and {more} more" if more > 0 else "")


def next_steps(identities: pd.DataFrame, policy: pd.DataFrame | None = None) -> list[str]:
    """What to do first, most urgent first, worded from the analysis (break-glass rows left out).

    ``identities`` has the identities.csv columns; ``policy`` is the ``arm_policy_mfa_events``
    frame (``Action`` audit/deny/denyaction, ``Operations``, ``Subscriptions``).
    """
    ids = identities[~identities["breakglass"].astype(bool)] if "breakglass" in identities else identities
    policy = policy if policy is not None else pd.DataFrame(columns=["Action", "Operations", "Subscriptions"])
    actions = policy["Action"].astype(str).str.lower()
    steps: list[str] = []
    denied = policy[actions.str.startswith("deny")]
    if len(denied):
        subs = {s for v in denied["Subscriptions"] for s in (v if isinstance(v, (list, tuple)) else [v])}
        writes = _n(int(denied["Operations"].sum()), "write", "writes")
        steps.append(
            f"Enforcement is already visible: {writes} denied for missing MFA on "
            f"{_n(len(subs), 'subscription', 'subscriptions')}. Fix the identities below before it spreads."
        )
    breaking = ids[ids["verdict"] == "will_break"]
    automation = breaking[breaking["automation_band"] == "likely_automation"]
    if len(automation):
        ropc = automation[automation["ropc"].astype(bool)]
        ropc_words = f"; {len(ropc):,} sign in with a password (ROPC) and can never pass MFA" if len(ropc) else ""
        who = _n(len(automation), "automation account", "automation accounts")
        steps.append(
            f"Move {who} that write without MFA to workload identities (managed identity, or a service "
            f"principal with a federated credential){ropc_words}: {_names(automation, 'arm_writes_without_mfa')}."
        )
    people = breaking[breaking["automation_band"] != "likely_automation"]
    if len(people):
        who = _n(len(people), "identity", "identities")
        steps.append(
            f"Require MFA for Azure management (a Conditional Access policy) for {who} that write without it, "
            f"starting with {_names(people, 'arm_writes_without_mfa')}."
        )
    old = below_claims_versions(ids)
    if old["below_claims_versions_will_break_or_at_risk"]:
        upgrade = old["below_claims_versions_will_break_or_at_risk"]
        steps.append(
            f"Upgrade the clients of {_n(upgrade, 'identity', 'identities')} that would break or are at risk "
            f"to Azure CLI 2.76+ / Az PowerShell 14.3+ (Az.Accounts 5.2+): older ones cannot turn ARM's claims "
            f"challenge into a re-login prompt ({_n(old['below_claims_versions'], 'identity', 'identities')} "
            f"in all on a too-old client)."
        )
    guests = breaking[breaking["guest"].astype(bool)]
    if len(guests):
        steps.append(
            f"Agree MFA with the home tenants of {_n(len(guests), 'guest account', 'guest accounts')}: MFA must "
            f"satisfy this tenant or be trusted through cross-tenant access settings."
        )
    at_risk = ids[ids["verdict"] == "at_risk"]
    if len(at_risk):
        steps.append(
            f"Watch {_n(len(at_risk), 'at-risk identity', 'at-risk identities')}: they take single-factor "
            f"tokens for ARM but made no failing write in this window."
        )
    if not actions.str.startswith("audit").any():
        steps.append(
            "Assign the built-in audit policies 'Users must authenticate with multi-factor authentication to "
            "create or update resources' (4e6c27d5-...) and '... to delete resources' (db4a9d17-...): the "
            "activity log then records Microsoft's own verdict for every write without MFA."
        )
    if not steps:
        steps.append("Nothing to fix in this window: every user write to Azure Resource Manager carried MFA.")
    return steps


# -- the context ----------------------------------------------------------------------------


def parse_now(text: str | dt.datetime | None) -> dt.datetime:
    if isinstance(text, dt.datetime):
        return text.replace(tzinfo=dt.UTC) if text.tzinfo is None else text.astimezone(dt.UTC)
    if not text:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        return parse_datetime(text)
    except BindError as exc:
        raise UsageError(f"parameter now: {exc}") from None


def parse_lookback(text: str | dt.timedelta) -> dt.timedelta:
    if isinstance(text, dt.timedelta):
        span = text
    else:
        try:
            span = parse_timespan(text)
        except BindError as exc:
            raise UsageError(f"parameter lookback: {exc}") from None
    if span <= dt.timedelta(0):
        raise UsageError("parameter lookback must be positive")
    return span


def format_timespan(span: dt.timedelta) -> str:
    """``30d``/``12h``/``90m`` for display."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def workspace_label(spec: str) -> str:
    """What the header calls the workspace: a folder's name (not its full path) or the config name."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return f"{path.resolve().name} (local folder)"
    return spec


@dataclass(frozen=True)
class Identity:
    """A drill-down subject: ``original`` stays in the kernel, ``shown`` is what reports display."""

    original: str = field(repr=False)
    shown: str

    def __repr__(self) -> str:
        return f"Identity({self.shown!r})"


def analysis_key(workspace: str, now: dt.datetime, lookback: dt.timedelta, breakglass: Iterable[str]) -> dict[str, Any]:
    """The parameters an analysis depends on, in a form that compares exactly across processes."""
    return {
        "workspace": str(workspace),
        "now": now.astimezone(dt.UTC).isoformat(),
        "lookback_seconds": lookback.total_seconds(),
        "breakglass": sorted(b.strip().lower() for b in breakglass),
    }


def _cached_analysis(key: Mapping[str, Any]) -> Any:
    """The runner's pickled Analysis when its key matches ``key`` exactly, else None."""
    import os
    import pickle

    path = os.environ.get(ANALYSIS_CACHE_ENV, "")
    if not path or not Path(path).is_file():
        return None
    try:
        with open(path, "rb") as handle:
            stored_key, analysis = pickle.load(handle)
    except Exception as exc:  # a stale or foreign cache is ignored, never trusted
        log.info("analysis cache %s not used: %s", path, exc)
        return None
    return analysis if stored_key == dict(key) else None


@dataclass
class NotebookContext:
    """The analysis window, the backend, the pseudonymiser, and the record of what was missing."""

    workspace: str
    backend: Backend
    now: dt.datetime
    lookback: dt.timedelta
    breakglass: tuple[str, ...] = ()
    pseudonymizer: Pseudonymizer | None = None
    missing_tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    live_glue: bool = True
    _analysis: Any = field(default=None, repr=False)
    # The analysis' query frames before pseudonymisation: kernel-only, never displayed.
    _raw_frames: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def start(self) -> dt.datetime:
        return self.now - self.lookback

    @property
    def end(self) -> dt.datetime:
        return self.now

    @property
    def pseudonymize(self) -> bool:
        return self.pseudonymizer is not None

    # -- record of the run ------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """What the report header says: what was analysed, and what was missing."""
        from kitlib import __version__

        key_note = None
        if self.pseudonymizer is not None:
            key_note = (
                "one-off key for this run: pseudonyms cannot be linked to other reports"
                if self.pseudonymizer.ephemeral
                else "key from KITLIB_PSEUDONYM_KEY: pseudonyms are stable across reports made with it"
            )
        return {
            "workspace": workspace_label(self.workspace),
            "backend": type(self.backend).__name__,
            "now": self.now.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "lookback": format_timespan(self.lookback),
            "breakglass_excluded": len(self.breakglass),
            "kit_version": __version__,
            "pseudonymized": self.pseudonymize,
            "pseudonym_key": key_note,
            "missing_tables": sorted(set(self.missing_tables)),
            "warnings": list(dict.fromkeys(self.warnings)),
            "complete": self.complete,
            "python": sys.executable,
        }

    def _publish_meta(self) -> None:
        if self.live_glue:
            try:
                glue(RUN_GLUE, self.meta())
            except ImportError:  # pragma: no cover - IPython always exists in a kernel
                pass

    def record(
        self, *, missing_tables: Iterable[str] = (), warnings: Iterable[str] = (), complete: bool = True
    ) -> None:
        """Add what a query or the analysis reported; re-glue the record when it changed."""
        before = (len(self.missing_tables), len(self.warnings), self.complete)
        for table_name in missing_tables:
            if table_name not in self.missing_tables:
                self.missing_tables.append(table_name)
        for warning in (self.scrub(w) for w in warnings):
            if warning not in self.warnings:
                self.warnings.append(warning)
        self.complete = self.complete and complete
        if (len(self.missing_tables), len(self.warnings), self.complete) != before:
            for warning in self.warnings[before[1] :]:
                log.warning("%s", warning)
            self._publish_meta()

    # -- data --------------------------------------------------------------------------------

    def query(self, name: str, **parameters: Any) -> pd.DataFrame:
        """Run catalog query ``name`` over the window; personal-data columns are pseudonymised."""
        from kitlib.query.catalog import get_query
        from kitlib.query.run import run_query

        result: QueryResult = run_query(self.backend, name, now=self.now, lookback=self.lookback, **parameters)
        self.record(missing_tables=result.missing_tables, warnings=result.warnings, complete=result.complete)
        roles = dict(get_query(name).pii)
        return self.protect(result.frame, roles)

    def analysis_key(self) -> dict[str, Any]:
        """What an analysis result depends on; a cached result is used only when this matches."""
        return analysis_key(self.workspace, self.now, self.lookback, self.breakglass)

    def analyze(self) -> Any:
        """The kit's analysis over the window (computed once per notebook), pseudonymised when asked.

        The batch runner computes the analysis once per run and hands it to every kernel
        (``$KITLIB_ANALYSIS_CACHE``); it is used only for the exact same parameters.
        """
        if self._analysis is None:
            analysis = _cached_analysis(self.analysis_key())
            if analysis is None:
                from kitlib.analysis.impact import analyze

                glass = self._breakglass_originals()
                analysis = analyze(self.backend, now=self.now, lookback=self.lookback, breakglass=glass)
            self._raw_frames = getattr(analysis, "frames", None) or {}
            protected = self.protect_analysis(analysis)
            self.record(
                missing_tables=getattr(analysis, "missing_tables", ()),
                warnings=[self.scrub(w) for w in getattr(analysis, "warnings", ())],
                complete=bool(getattr(analysis, "complete", True)),
            )
            self._analysis = protected
        return self._analysis

    def _breakglass_originals(self) -> list[str]:
        """Break-glass UPNs as given, with pseudonyms (a pseudonymised batch passes those) mapped back.

        A pseudonym is resolved against the identities that wrote to ARM in the window; one
        that matches none is dropped with a warning rather than guessed.
        """
        given = [b for b in self.breakglass if not is_pseudonym(b)]
        hidden = [b for b in self.breakglass if is_pseudonym(b)]
        if hidden:
            from kitlib.query.run import run_query

            frame = run_query(self.backend, "arm_writes_by_identity", now=self.now, lookback=self.lookback).frame
            pool = [str(c) for c in frame.get("Identity", pd.Series(dtype=object)).dropna().unique()]
            for pseudonym in hidden:
                original = self.resolve_identity(pseudonym, pool)
                if original is None:
                    self.record(warnings=[f"break-glass pseudonym {pseudonym} matches no identity in the window"])
                else:
                    given.append(original)
        return given

    def protect_analysis(self, analysis: Any) -> Any:
        """A copy of an Analysis with every frame pseudonymised (query frames by their pii header)."""
        if self.pseudonymizer is None:
            return analysis
        import copy

        from kitlib.query.catalog import load_catalog

        catalog = load_catalog()
        out = copy.copy(analysis)
        for upn in list(getattr(analysis, "breakglass", []) or []) + list(self.breakglass):
            self.pseudonymizer.pseudonym(upn, "user")
        frames = getattr(analysis, "frames", None)
        if isinstance(frames, Mapping):
            protected: dict[str, Any] = {}
            for name, frame in frames.items():
                if isinstance(frame, pd.DataFrame):
                    roles = dict(catalog[name].pii) if name in catalog else {}
                    protected[name] = self.protect(frame, roles)
                else:
                    protected[name] = frame
            out.frames = protected
        for attr in ("identities", "tools"):
            frame = getattr(out, attr, None)
            if isinstance(frame, pd.DataFrame):
                setattr(out, attr, self.protect(frame))
        if hasattr(out, "breakglass"):
            out.breakglass = [self.pseudonymizer.pseudonym(b, "user") for b in getattr(analysis, "breakglass", [])]
        if hasattr(out, "source"):
            out.source = workspace_label(self.workspace)
        if hasattr(out, "warnings"):
            out.warnings = [self.scrub(w) for w in analysis.warnings]
        return out

    def scrub(self, text: str) -> str:
        """``text`` with identities seen so far replaced by pseudonyms (unchanged when off)."""
        return self.pseudonymizer.scrub_text(text) if self.pseudonymizer is not None else text

    def protect(
        self,
        frame: pd.DataFrame,
        roles: Mapping[str, str] | None = None,
        text_columns: Iterable[str] = ANALYSIS_TEXT_COLUMNS,
    ) -> pd.DataFrame:
        """``frame`` with identities pseudonymised (unchanged when pseudonymisation is off)."""
        if self.pseudonymizer is None:
            return frame
        roles = ANALYSIS_ROLES if roles is None else {**ANALYSIS_ROLES, **roles}
        return self.pseudonymizer.frame(frame, roles, text_columns)

    def who(self, value: str, kind: str = "user") -> str:
        """One identity as the report may show it."""
        if self.pseudonymizer is None or not isinstance(value, str):
            return value
        return self.pseudonymizer.pseudonym(value, kind)

    def resolve_identity(self, identity: str, candidates: Iterable[str]) -> str | None:
        """The candidate ``identity`` names: the identity itself, or the one behind a pseudonym.

        Lets a pseudonymised run pass the pseudonym as the drill-down parameter, so the original
        never appears in the executed notebook.
        """
        pool = [c for c in candidates if isinstance(c, str)]
        if not is_pseudonym(identity):
            lowered = identity.strip().lower()
            return next((c for c in pool if c.lower() == lowered), None)
        if self.pseudonymizer is None:
            return None
        return self.pseudonymizer.resolve(identity, pool)

    def exclude_breakglass(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        """Rows of ``frame`` whose ``column`` is not a break-glass account."""
        if not self.breakglass or column not in frame.columns:
            return frame
        excluded = {b.strip().lower() for b in self.breakglass}
        if self.pseudonymizer is not None:
            excluded |= {self.pseudonymizer.pseudonym(b, "user") for b in self.breakglass}
        return frame[~frame[column].astype(str).str.lower().isin(excluded)]

    def history(self, folder: str | Path | None) -> list[dict[str, Any]]:
        """Snapshots earlier scheduled runs kept for this workspace, oldest first (before ``now``)."""
        if not folder:
            return []
        from kitlib.reporting.batch import load_history

        return load_history(Path(folder), workspace=self.workspace, before=self.now)

    def find_identity(self, identity: str = "") -> Identity | None:
        """The identity a drill-down is about: given (UPN or pseudonym), else the top writer without MFA.

        Reads the per-identity write summary unpseudonymised *inside the kernel* (to map a
        pseudonym back); only ``Identity.shown`` is ever displayed.
        """
        # The analysis already ran this query (once per batch); reuse its frame instead of the
        # heaviest query again. Without an analysis frame (e.g. AzureActivity missing), ask.
        self.analyze()
        writes = self._raw_frames.get("arm_writes_by_identity")
        if not isinstance(writes, pd.DataFrame) or "Identity" not in writes.columns:
            from kitlib.query.run import run_query

            result = run_query(self.backend, "arm_writes_by_identity", now=self.now, lookback=self.lookback)
            self.record(missing_tables=result.missing_tables, warnings=result.warnings, complete=result.complete)
            writes = result.frame
        candidates = [str(c) for c in writes.get("Identity", pd.Series(dtype=object)).dropna().unique()]
        excluded = {b.strip().lower() for b in self.breakglass}
        if identity.strip():
            original = self.resolve_identity(identity.strip(), candidates)
            if original is None and not is_pseudonym(identity):
                original = identity.strip().lower()  # no writes; sign-ins may still show it
        else:
            no_mfa = writes[~writes["TokenHasMfa"].astype(bool) & writes["Kind"].isin(["write", "delete"])]
            no_mfa = no_mfa[~no_mfa["Identity"].str.lower().isin(excluded)]
            if no_mfa.empty:
                return None
            totals = no_mfa.groupby("Identity")["Operations"].sum().sort_values(ascending=False, kind="stable")
            original = str(totals.index[0])
        if original is None:
            return None
        return Identity(original=original, shown=self.who(original))

    # -- display --------------------------------------------------------------------------

    def glue(self, name: str, value: Any) -> None:
        """Record a summary value for tests, the manifest and schedulers."""
        if self.live_glue:
            glue(name, value)


def setup(
    workspace: str = "",
    now: str | dt.datetime = "",
    lookback: str | dt.timedelta = "30d",
    breakglass: Sequence[str] = (),
    pseudonymize: bool = False,
    *,
    log_level: str | None = None,
    live_glue: bool = True,
) -> NotebookContext:
    """Parse the notebook's parameters, open the workspace, and return the context.

    ``workspace`` empty means ``$KITLIB_WORKSPACE``; ``now`` empty means the current time.
    With ``pseudonymize``, the key comes from ``$KITLIB_PSEUDONYM_KEY`` (a fresh one-off key
    when unset, and the report says so).
    """
    from kitlib.backends.connect import connect, resolve_workspace

    if log_level:
        logging.getLogger("kitlib").setLevel(log_level.upper())
    if isinstance(breakglass, str) or not all(isinstance(b, str) for b in breakglass):
        raise UsageError("parameter breakglass must be a list of user principal names")
    when = parse_now(now)
    span = parse_lookback(lookback)
    spec = resolve_workspace(workspace or None)
    backend = connect(spec, now=when)
    ctx = NotebookContext(
        workspace=spec,
        backend=backend,
        now=when,
        lookback=span,
        breakglass=tuple(breakglass),
        pseudonymizer=Pseudonymizer.from_env() if pseudonymize else None,
        live_glue=live_glue,
    )
    ctx._publish_meta()
    return ctx
