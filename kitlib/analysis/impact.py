"""The Phase 2 impact analysis: who breaks, who is automation, which tools and versions.

``analyze(backend, now=...)`` runs the catalog queries (aggregated server side, small results),
joins them per user identity in pandas, and returns an :class:`Analysis` with the two exports of
the design brief (``identities``, ``tools``), the raw query frames for notebooks, and every gap
in the evidence (missing tables, partial results) as warnings.

Counts: every query reads the half-open window ``[now - lookback, now)``. An operation is one
CorrelationId; ``arm_writes`` / ``arm_writes_without_mfa`` are exact distinct counts per identity
(query ``arm_write_totals``), and an operation is *without MFA* when any of its events' tokens
lacked ``mfa`` (it is the write ARM would refuse). :meth:`Analysis.summary` is the single source
of the headline totals. ``dcount`` is exact on the local engine but an HLL estimate on Log
Analytics (``count_distinct`` would be exact there; duckdb-kql 1.1.2 does not support it).

Verdicts (per user identity, window ``[now - lookback, now)``):

* ``will_break``: at least one ARM create/update (``/write``) or delete (``/delete``) operation
  whose token's amr claim lacks ``mfa``, or an Azure Policy MFA audit/deny event for the user.
* ``at_risk``: no such write, but successful single-factor ARM tokens from Azure CLI, Az
  PowerShell or an Azure SDK / Ansible client, or non-MFA ``/action`` operations only (ARM's
  Phase 2 scope names create/update/delete; actions are reported separately).
* ``not_affected``: everything else that touched ARM (MFA'd writes, portal, MFA'd reads).
* ``unknown``: the evidence the verdict depends on is missing (no AzureActivity: writes cannot
  be seen; no sign-in tables: single-factor tokens cannot be seen). The reason says which.

Break-glass accounts (``breakglass=``) keep their row and computed verdict, are marked
``breakglass=true``, and are left out of ``tools`` counts and of :func:`summary` counts: an
emergency account is a known, deliberate exception, but hiding it would lose evidence.

Service principals and managed identities never become rows: the queries keep user principals
only, and any identity equal to a workload identity's id, app id or name is dropped with a
warning as a second line of defence.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kitlib.backends.base import Backend, window
from kitlib.domain.automation import Features, score
from kitlib.domain.remediation import Situation, remediation
from kitlib.domain.versions import AZURE_CLI, AZURE_POWERSHELL, ToolBand, tool_band_for_library
from kitlib.errors import KitError, UsageError
from kitlib.query.catalog import get_query

log = logging.getLogger(__name__)

#: The identities.csv contract (design brief), in order; extra columns follow these.
IDENTITY_COLUMNS: tuple[str, ...] = (
    "identity",
    "user_id",
    "verdict",
    "arm_writes",
    "arm_writes_without_mfa",
    "automation_score",
    "automation_band",
    "tools",
    "tool_versions",
    "version_ok",
    "ropc",
    "guest",
    "reasons",
    "remediation",
)
EXTRA_COLUMNS: tuple[str, ...] = (
    "breakglass",
    "cross_tenant",
    "arm_actions",
    "arm_actions_without_mfa",
    "policy_mfa_events",
    "arm_signins",
    "arm_signins_single_factor",
    "arm_signins_mfa",
    "azure_cli_version_ok",
    "azure_powershell_version_ok",
    "automation_reasons",
    "display_name",
    "first_seen",
    "last_seen",
)
TOOL_COLUMNS: tuple[str, ...] = (
    "tool",
    "version_band",
    "version_ok",
    "confidence",
    "identities",
    "identities_will_break",
    "arm_writes",
    "arm_writes_without_mfa",
    "evidence",
)
#: Column dtypes of both exports: a frame keeps them even with no rows (an empty window), so a
#: page can filter on ``verdict`` or sum ``arm_writes`` without special cases. Others are str.
_INT_COLUMNS = frozenset(
    {
        "arm_writes",
        "arm_writes_without_mfa",
        "automation_score",
        "arm_actions",
        "arm_actions_without_mfa",
        "policy_mfa_events",
        "arm_signins",
        "arm_signins_single_factor",
        "arm_signins_mfa",
        "identities",
        "identities_will_break",
    }
)
_BOOL_COLUMNS = frozenset({"ropc", "guest", "breakglass", "cross_tenant"})
VERDICTS = ("will_break", "at_risk", "not_affected", "unknown")
TOOL_ORDER = ("azure-cli", "azure-powershell", "terraform", "bicep", "azure-sdk", "ansible", "portal", "other")
#: Families whose single-factor ARM tokens make an identity at_risk (interactive tooling and scripts).
TOKEN_RISK_FAMILIES = frozenset({"azure-cli", "azure-powershell", "azure-sdk", "ansible"})

APP_FAMILIES: dict[str, str] = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "azure-cli",
    "1950a258-227b-4e31-a9cf-717495945fc2": "azure-powershell",
    "c44b4083-3bb0-49c1-b47d-974e53cbdf3c": "portal",
    "0c1307d4-29d6-4389-a11c-5cbe7f65d7fa": "other",  # Azure mobile app
    "872cd9fa-d31f-45e0-9eab-6e460a02d1f1": "other",  # Visual Studio
    "aebc6443-996d-45c2-90f0-388ff96faa56": "other",  # VS Code
}
TOOL_NAMES: dict[str, str] = {
    "azure-cli": "Azure CLI",
    "azure-powershell": "Az PowerShell",
    "terraform": "Terraform",
    "bicep": "Bicep/ARM templates",
    "azure-sdk": "an Azure SDK",
    "ansible": "Ansible",
    "portal": "the Azure portal",
    "other": "another client",
}
CLI_CAVEAT = (
    "Terraform, azd and AzureCliCredential use the Azure CLI login and cannot be told apart from it in the logs"
)

QUERY_NAMES: tuple[str, ...] = (
    "arm_writes_by_identity",
    "arm_write_totals",
    "arm_policy_mfa_events",
    "arm_token_signins",
    "arm_write_minutes",
    "arm_activity_hours",
    "user_signin_context",
    "workload_signins",
    "workload_arm_writes",
)

Progress = Callable[[str, float], None]

#: Query columns filled by ``make_set``: the service returns their elements in no fixed order,
#: so they are sorted on arrival and every reason, CSV and page built from them is reproducible.
SET_COLUMNS = frozenset(
    {
        "AmrValues",
        "Apps",
        "Asns",
        "CallerIps",
        "CrossTenantTypes",
        "Effects",
        "HomeTenants",
        "Identities",
        "IdentityProviders",
        "Ips",
        "OperationNames",
        "PrincipalTypes",
        "Resources",
        "Subscriptions",
    }
)


@dataclass
class Analysis:
    """The result of :func:`analyze`: exports, evidence gaps and the raw query frames."""

    identities: pd.DataFrame
    tools: pd.DataFrame
    missing_tables: list[str]
    warnings: list[str]
    window: tuple[dt.datetime, dt.datetime]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    workload_identities: pd.DataFrame = field(default_factory=pd.DataFrame)
    breakglass: list[str] = field(default_factory=list)
    source: str = ""

    def summary(self) -> dict[str, Any]:
        """The headline numbers, the one source every page and the manifest should use.

        Break-glass rows are left out of every count except ``identities`` and ``breakglass``.
        ``arm_writes`` / ``arm_writes_without_mfa`` are sums of the per-identity exact distinct
        operation counts (an operation is "without MFA" when any of its events lacked MFA), so
        they equal the identities.csv columns summed over the counted rows, and the days of
        ``arm_writes_mfa_daily`` add up to them.
        """
        ids = self.identities
        counted = ids[~ids["breakglass"].astype(bool)]
        breaking = counted[counted["verdict"] == "will_break"]
        automation = counted["automation_band"] == "likely_automation"
        writes = int(counted["arm_writes"].sum())
        without = int(counted["arm_writes_without_mfa"].sum())
        return {
            "identities": len(ids),
            "breakglass": int(ids["breakglass"].astype(bool).sum()),
            "verdicts": {v: int((counted["verdict"] == v).sum()) for v in VERDICTS},
            "arm_writes": writes,
            "arm_writes_without_mfa": without,
            "arm_writes_with_mfa": writes - without,
            "share_with_mfa": round(100 * (writes - without) / writes, 1) if writes else None,
            "likely_automation": int(automation.sum()),
            "ropc": int(counted["ropc"].astype(bool).sum()),
            "guests": int(counted["guest"].astype(bool).sum()),
            "will_break_automation": int((breaking["automation_band"] == "likely_automation").sum()),
            "will_break_ropc": int(breaking["ropc"].astype(bool).sum()),
            "will_break_guests": int(breaking["guest"].astype(bool).sum()),
            "workload_identities": len(self.workload_identities),
            "missing_tables": list(self.missing_tables),
            "warnings": len(self.warnings),
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
        }


# --- running the queries ----------------------------------------------------------------------


def _run_all(
    backend: Backend, start: dt.datetime, end: dt.datetime, progress: Progress | None
) -> tuple[dict[str, pd.DataFrame], list[str], list[str], set[str]]:
    """Run every query it can; returns frames, missing tables, warnings and the queries that ran."""
    available = backend.available_tables()
    frames: dict[str, pd.DataFrame] = {}
    missing: list[str] = []
    warnings: list[str] = []
    ran: set[str] = set()
    for i, name in enumerate(QUERY_NAMES):
        if progress:
            progress(f"query {name}", i / len(QUERY_NAMES))
        query = get_query(name)
        absent = [t for t in query.tables if t not in available]
        if absent:
            for t in absent:
                if t not in missing:
                    missing.append(t)
            warnings.append(f"{name} not run: table(s) {', '.join(absent)} not in the workspace")
            frames[name] = pd.DataFrame()
            continue
        try:
            result = backend.run(query, {"start": start, "end": end})
        except UsageError:
            raise
        except KitError as exc:
            warnings.append(f"{name} failed: {exc}")
            frames[name] = pd.DataFrame()
            continue
        for t in result.missing_tables:
            if t not in missing:
                missing.append(t)
        warnings.extend(f"{name}: {w}" for w in result.warnings)
        if not result.complete:
            warnings.append(f"{name}: the service returned a partial result; counts are lower bounds")
        frames[name] = sorted_sets(result.frame)
        ran.add(name)
    if progress:
        progress("joining evidence", 1.0)
    return frames, missing, warnings, ran


# --- small helpers ----------------------------------------------------------------------------


def sorted_sets(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every ``make_set`` cell (:data:`SET_COLUMNS`) as a sorted list."""
    columns = [c for c in frame.columns if c in SET_COLUMNS]
    if not columns or not len(frame):
        return frame
    out = frame.copy()
    for column in columns:
        out[column] = [sorted(_list(v), key=lambda x: str(x).lower()) for v in out[column]]
    return out


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the export dtypes (int64, bool, object) whether or not it has rows."""
    types = {c: "int64" if c in _INT_COLUMNS else "bool" if c in _BOOL_COLUMNS else "object" for c in frame.columns}
    return frame.astype(types)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, float) and pd.isna(value):
        return []
    if isinstance(value, (list, tuple, set)):
        return [v for v in value if v is not None and v != ""]
    if hasattr(value, "tolist"):
        return [v for v in value.tolist() if v is not None and v != ""]
    return [value] if value != "" else []


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(0, index=frame.index, dtype="int64")
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")


def _day(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    return str(pd.Timestamp(value).strftime("%Y-%m-%d"))


def tool_family(app_id: str | None, user_agent: str | None = "", protocol: str | None = "") -> str:
    """Tool family of a token request or write from its client app id (and user agent).

    The Azure CLI app id is shared: an Azure SDK script (``azsdk-python-identity`` user agent)
    borrowing it is ``azure-sdk``, and with ROPC it is ``ansible`` (inferred: azure.azcollection's
    ad_user/password login does exactly this, and so could any Python script).
    """
    app = (app_id or "").lower()
    agent = (user_agent or "").lower()
    family = APP_FAMILIES.get(app)
    if family == "azure-cli":
        if agent.startswith("azsdk-python-identity"):
            return "ansible" if (protocol or "").lower() == "ropc" else "azure-sdk"
        return "azure-cli"
    if family:
        return family
    if "ansible" in agent:
        return "ansible"
    if agent.startswith("azsdk-"):
        return "azure-sdk"
    return "other"


def _ordered_tools(tools: Iterable[str]) -> list[str]:
    present = set(tools)
    return [t for t in TOOL_ORDER if t in present]


def _is_guest(identity: str, user_types: Iterable[str]) -> bool:
    return "#ext#" in identity.lower() or any(str(t).lower() == "guest" for t in user_types)


# --- the join ---------------------------------------------------------------------------------


@dataclass
class _Evidence:
    """Everything known about one identity, gathered from the frames."""

    identity: str
    user_id: str = ""
    display_name: str = ""
    writes: int = 0
    writes_no_mfa: int = 0
    writes_mfa: int = 0
    actions: int = 0
    actions_no_mfa: int = 0
    deployments: int = 0
    write_apps_no_mfa: dict[str, int] = field(default_factory=dict)
    write_apps: dict[str, int] = field(default_factory=dict)
    write_ops: list[str] = field(default_factory=list)
    action_ops: list[str] = field(default_factory=list)
    amr_no_mfa: list[str] = field(default_factory=list)
    no_mfa_first: Any = None
    no_mfa_last: Any = None
    write_ips: list[str] = field(default_factory=list)
    write_days: int = 0
    policy_events: int = 0
    policy_actions: list[str] = field(default_factory=list)
    policy_first: Any = None
    policy_last: Any = None
    token_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    context: dict[str, Any] = field(default_factory=dict)
    first_seen: Any = None
    last_seen: Any = None


def _gather(frames: dict[str, pd.DataFrame]) -> dict[str, _Evidence]:
    evidence: dict[str, _Evidence] = {}

    def get(identity: str) -> _Evidence:
        key = identity.lower()
        if key not in evidence:
            evidence[key] = _Evidence(key)
        return evidence[key]

    writes = frames.get("arm_writes_by_identity", pd.DataFrame())
    if len(writes):
        writes = writes.assign(Operations=_num(writes, "Operations"), Deployments=_num(writes, "Deployments"))
        for row in writes.itertuples(index=False):
            ev = get(str(row.Identity))
            mfa = bool(row.TokenHasMfa)
            ops = int(row.Operations)
            app = str(row.AppId or "")
            object_id = str(getattr(row, "ObjectId", "") or "")
            if not ev.user_id and object_id:
                ev.user_id = object_id
            if row.Kind in ("write", "delete"):
                ev.writes += ops
                ev.write_apps[app] = ev.write_apps.get(app, 0) + ops
                ev.deployments += int(row.Deployments)
                ev.write_ips.extend(str(i) for i in _list(row.CallerIps))
                ev.write_days = max(ev.write_days, int(getattr(row, "ActiveDays", 0) or 0))
                if mfa:
                    ev.writes_mfa += ops
                else:
                    ev.writes_no_mfa += ops
                    ev.write_apps_no_mfa[app] = ev.write_apps_no_mfa.get(app, 0) + ops
                    ev.write_ops.extend(str(o) for o in _list(row.OperationNames))
                    ev.amr_no_mfa.extend(str(a) for a in _list(row.AmrValues))
                    ev.no_mfa_first = row.FirstSeen if ev.no_mfa_first is None else min(ev.no_mfa_first, row.FirstSeen)
                    ev.no_mfa_last = row.LastSeen if ev.no_mfa_last is None else max(ev.no_mfa_last, row.LastSeen)
            else:
                ev.actions += ops
                if not mfa:
                    ev.actions_no_mfa += ops
                    ev.action_ops.extend(str(o) for o in _list(row.OperationNames))
            _seen(ev, row.FirstSeen, row.LastSeen)

    # Exact per-identity totals: the groups above split one operation over its client app and
    # MFA state (so their sums can count it twice); these count each operation once.
    totals = frames.get("arm_write_totals", pd.DataFrame())
    for row in totals.to_dict("records"):
        ev = get(str(row["Identity"]))
        ev.writes = int(row["Writes"])
        ev.writes_no_mfa = int(row["WritesWithoutMfa"])
        ev.writes_mfa = ev.writes - ev.writes_no_mfa
        ev.actions = int(row["Actions"])
        ev.actions_no_mfa = int(row["ActionsWithoutMfa"])

    policy = frames.get("arm_policy_mfa_events", pd.DataFrame())
    for row in policy.itertuples(index=False):
        ev = get(str(row.Identity))
        ev.policy_events += int(row.Events)
        for effect in _list(row.Effects) or [row.Action]:
            if str(effect) and str(effect).lower() not in {e.lower() for e in ev.policy_actions}:
                ev.policy_actions.append(str(effect))
        ev.policy_first = row.FirstSeen if ev.policy_first is None else min(ev.policy_first, row.FirstSeen)
        ev.policy_last = row.LastSeen if ev.policy_last is None else max(ev.policy_last, row.LastSeen)
        _seen(ev, row.FirstSeen, row.LastSeen)

    tokens = frames.get("arm_token_signins", pd.DataFrame())
    if len(tokens):
        tokens = tokens.copy()
        tokens["Family"] = [
            tool_family(a, u, p)
            for a, u, p in zip(tokens["AppId"], tokens["UserAgent"], tokens["Protocol"], strict=True)
        ]
        for identity, rows in tokens.groupby("Identity", sort=False):
            if _num(rows, "Succeeded").sum() == 0:
                continue  # only failed attempts: this identity never held an ARM token
            ev = get(str(identity))
            ev.token_rows = rows
            if not ev.user_id:
                ev.user_id = next((str(u) for u in rows["UserId"] if u), "")
            ev.display_name = next((str(u) for u in rows["DisplayName"] if u), ev.display_name)
            _seen(ev, rows["FirstSeen"].min(), rows["LastSeen"].max())

    context = frames.get("user_signin_context", pd.DataFrame())
    for row in context.to_dict("records"):
        key = str(row["Identity"]).lower()
        if key in evidence:
            evidence[key].context = row
            if not evidence[key].user_id:
                evidence[key].user_id = str(row.get("UserId") or "")
            if not evidence[key].display_name:
                evidence[key].display_name = str(row.get("DisplayName") or "")
    return evidence


def _seen(ev: _Evidence, first: Any, last: Any) -> None:
    if first is not None and not pd.isna(first):
        ev.first_seen = first if ev.first_seen is None else min(ev.first_seen, first)
    if last is not None and not pd.isna(last):
        ev.last_seen = last if ev.last_seen is None else max(ev.last_seen, last)


# --- tools and versions -----------------------------------------------------------------------


@dataclass
class _ToolUse:
    family: str
    band: ToolBand | None
    library: str
    note: str = ""


def _tool_uses(ev: _Evidence) -> list[_ToolUse]:
    """One entry per tool family the identity used, with the band of its latest library."""
    uses: dict[str, _ToolUse] = {}
    rows = ev.token_rows
    if len(rows):
        for family, group in rows.groupby("Family", sort=False):
            with_lib = group[group["Library"].astype(str).str.strip() != ""]
            if len(with_lib):
                latest = with_lib.sort_values(["LastSeen", "Library"], kind="stable").iloc[-1]
                library = str(latest["Library"])
                tool = (
                    AZURE_CLI if family == "azure-cli" else AZURE_POWERSHELL if family == "azure-powershell" else "none"
                )
                band = tool_band_for_library(library, "", tool=tool)
                earlier = sorted(set(with_lib["Library"].astype(str)) - {library})
                note = f"; earlier also {', '.join(_short_library(e) for e in earlier)}" if earlier else ""
                uses[str(family)] = _ToolUse(str(family), band, library, note)
            else:
                uses[str(family)] = _ToolUse(str(family), None, "")
    for app in ev.write_apps:
        family = tool_family(app)
        if family == "azure-cli" and any(f in uses for f in ("ansible", "azure-sdk")) and "azure-cli" not in uses:
            continue  # the CLI app id of an SDK/Ansible login, already listed
        uses.setdefault(family, _ToolUse(family, None, ""))
    return list(uses.values())


def _short_library(library: str) -> str:
    text = library.replace("Family: ", "").replace("Library: ", "")
    return (
        text.split(" Platform:")[0].replace("MSAL ", "", 1) if text.startswith("MSAL ") else text.split(" Platform:")[0]
    )


def _inferred_iac(ev: _Evidence, minutes: pd.Series | None) -> list[str]:
    """Bicep/ARM templates from deployments, Terraform from write bursts; both labelled inferred."""
    found: list[str] = []
    if ev.deployments > 0:
        found.append("bicep")
    if minutes is not None and ev.deployments == 0:
        per_minute = [int(n) for n in _list(minutes.get("OperationsPerMinute"))]
        if sum(1 for n in per_minute if n >= 5) >= 3:
            found.append("terraform")
    return found


def _version_ok(uses: list[_ToolUse], family: str) -> str:
    relevant = [u for u in uses if u.family == family]
    if not relevant:
        return ""
    band = relevant[0].band
    return band.version_ok if band else "unknown"


def _combined_version_ok(uses: list[_ToolUse]) -> str:
    values = [_version_ok(uses, f) for f in (AZURE_CLI, AZURE_POWERSHELL)]
    values = [v for v in values if v]
    if not values:
        return "unknown"
    if "no" in values:
        return "no"
    if "unknown" in values:
        return "unknown"
    return "yes"


def _tool_versions_text(uses: list[_ToolUse], iac: list[str]) -> str:
    parts: list[str] = []
    for use in sorted(uses, key=lambda u: TOOL_ORDER.index(u.family)):
        if use.band and use.band.tool:
            library = _short_library(use.library)
            text = f"{use.family} {use.band.label} ({library}, {use.band.confidence} confidence{use.note})"
        elif use.library:
            text = f"{use.family} version unknown ({_short_library(use.library)}{use.note})"
        elif use.family == "portal":
            text = "portal (browser; no client version)"
        else:
            text = f"{use.family} version unknown (no library string)"
        if use.family == "azure-cli":
            text += f"; {CLI_CAVEAT}"
        if use.family == "ansible":
            text += "; inferred from azure-identity ROPC with the Azure CLI app id"
        parts.append(text)
    for tool in iac:
        if tool == "bicep":
            parts.append("bicep inferred from Microsoft.Resources/deployments/write (any ARM template deployment)")
        else:
            parts.append("terraform inferred from bursts of many writes in one minute")
    return " | ".join(parts)


# --- automation features ----------------------------------------------------------------------


def _features(ev: _Evidence, minutes_row: pd.Series | None, hours: pd.DataFrame, guest: bool) -> Features:
    rows = ev.token_rows
    ctx = ev.context
    write_minutes: list[pd.Timestamp] = []
    per_minute: list[int] = []
    deployment_minutes = 0
    if minutes_row is not None:
        write_minutes = [
            pd.Timestamp(m, tz="UTC") if pd.Timestamp(m).tzinfo is None else pd.Timestamp(m)
            for m in _list(minutes_row.get("Minutes"))
        ]
        per_minute = [int(n) for n in _list(minutes_row.get("OperationsPerMinute"))]
        deployment_minutes = int(minutes_row.get("DeploymentMinutes") or 0)
    hour_counts: dict[int, int] = {}
    weekend = 0
    total = 0
    if len(hours):
        for row in hours.itertuples(index=False):
            hour_counts[int(row.Hour)] = hour_counts.get(int(row.Hour), 0) + int(row.Events)
            total += int(row.Events)
            weekend += int(row.Events) if bool(row.Weekend) else 0
    for m in write_minutes:
        hour_counts[m.hour] = hour_counts.get(m.hour, 0) + 1
        total += 1
        weekend += 1 if m.dayofweek >= 5 else 0
    ips = set(ev.write_ips)
    asns: list[str] = []
    agents: list[str] = []
    browserish = 0
    if len(rows):
        for value in rows["Ips"]:
            ips.update(str(i) for i in _list(value))
        for value in rows["Asns"]:
            asns.extend(str(a) for a in _list(value))
        # Az PowerShell's own requests carry azsdk-net-Identity: only other clients' agents count.
        scripts = rows[~rows["Family"].isin(("azure-cli", "azure-powershell", "portal"))]
        agents = sorted(str(a) for a in scripts["UserAgent"].unique() if a)
        browserish = int(_num(rows[rows["Family"] == "portal"], "SignIns").sum())
    return Features(
        identity=ev.identity,
        ropc_signins=int(_num(rows, "Ropc").sum()) if len(rows) else 0,
        arm_writes=ev.writes,
        arm_writes_with_mfa=ev.writes_mfa,
        mfa_signins=int(ctx.get("MfaSignIns") or 0),
        signins=int(ctx.get("SignIns") or 0),
        arm_signins=int(_num(rows, "SignIns").sum()) if len(rows) else 0,
        arm_signins_with_device=int(_num(rows, "WithDevice").sum()) if len(rows) else 0,
        browser_or_office_signins=int(ctx.get("BrowserSignIns") or 0) + int(ctx.get("OfficeSignIns") or 0) + browserish,
        interactive_mfa_signins=int(ctx.get("InteractiveMfaSignIns") or 0),
        through_gsa=int(ctx.get("ThroughGsa") or 0),
        distinct_ips=len(ips),
        active_days=max(int(ctx.get("ActiveDays") or 0), ev.write_days),
        asns=sorted(set(asns)),
        user_agents=agents,
        write_minutes=write_minutes,
        operations_per_minute=per_minute,
        deployment_minutes=deployment_minutes,
        hour_counts=hour_counts,
        weekend_events=weekend,
        total_events=total,
        guest=guest,
    )


# --- verdicts and reasons ---------------------------------------------------------------------


def _app_words(apps: dict[str, int]) -> str:
    names = []
    for app, _ in sorted(apps.items(), key=lambda kv: -kv[1]):
        family = tool_family(app)
        name = TOOL_NAMES[family] if family != "other" else f"app {app or 'unknown'}"
        if name not in names:
            names.append(name)
    return ", ".join(names) or "an unknown client"


def _examples(operations: list[str], n: int) -> list[str]:
    """A few distinct operation names, case-folded (some exports upper-case them)."""
    seen: dict[str, str] = {}
    for op in operations:
        key = op.lower()
        if key not in seen or seen[key].isupper():
            seen[key] = op
    return [seen[k] for k in sorted(seen)][:n]


def _reasons(
    ev: _Evidence, uses: list[_ToolUse], verdict: str, unknown_reason: str, guest: bool, cross: bool, breakglass: bool
) -> list[str]:
    out: list[str] = []
    if breakglass:
        out.append("break-glass account (from the exclusion list): kept for the record, left out of counts")
    if unknown_reason:
        out.append(unknown_reason)
    if ev.writes_no_mfa:
        amr = ",".join(sorted(set(ev.amr_no_mfa))) or "no amr"
        example = _examples(ev.write_ops, 2)
        out.append(
            f"{ev.writes_no_mfa} write(s) without MFA (amr={amr}) via {_app_words(ev.write_apps_no_mfa)} "
            f"between {_day(ev.no_mfa_first)} and {_day(ev.no_mfa_last)}"
            + (f"; e.g. {', '.join(example)}" if example else "")
        )
    if ev.writes_mfa:
        out.append(f"{ev.writes_mfa} write(s) with MFA")
    if ev.policy_events:
        out.append(
            f"{ev.policy_events} Azure Policy MFA event(s) ({', '.join(sorted(ev.policy_actions, key=str.lower))}) "
            f"between {_day(ev.policy_first)} and {_day(ev.policy_last)}"
        )
    if ev.actions_no_mfa:
        example = _examples(ev.action_ops, 1)
        out.append(
            f"{ev.actions_no_mfa} /action operation(s) without MFA" + (f" (e.g. {example[0]})" if example else "")
        )
    rows = ev.token_rows
    if len(rows):
        risky = rows[rows["Family"].isin(TOKEN_RISK_FAMILIES)]
        single = int(_num(risky, "SingleFactor").sum())
        if single:
            by_family = risky.groupby("Family")["SingleFactor"].sum()
            words = ", ".join(f"{int(n)} from {TOOL_NAMES[str(f)]}" for f, n in by_family.items() if n)
            out.append(f"{single} single-factor ARM token(s) without MFA ({words})")
        mfa = int(_num(rows, "MfaSatisfied").sum())
        if mfa:
            out.append(f"{mfa} ARM token(s) with MFA")
        ropc = int(_num(rows, "Ropc").sum())
        if ropc:
            out.append(
                f"signs in with a password from a script (ROPC, {ropc} sign-in(s) for ARM), which can never "
                "satisfy MFA: any write it makes will be refused"
            )
        device_code = int(_num(rows, "DeviceCode").sum())
        if device_code:
            out.append(f"device-code sign-in(s): {device_code}")
    for use in uses:
        if use.band and use.band.tool and use.band.evidence:
            out.append(use.band.evidence)
    if guest:
        out.append("guest (B2B) account")
    if cross:
        homes = ", ".join(sorted(str(h) for h in _list(ev.context.get("HomeTenants"))))
        out.append("signs in from another home tenant" + (f" ({homes})" if homes else ""))
    if verdict == "not_affected" and not out:
        out.append("touched ARM only with MFA or read-only tokens")
    return out


def _verdict(ev: _Evidence, activity_ok: bool, signins_ok: bool) -> tuple[str, str]:
    if ev.writes_no_mfa > 0 or ev.policy_events > 0:
        return "will_break", ""
    if not activity_ok:
        return "unknown", "AzureActivity is not in the workspace, so ARM writes and their MFA state cannot be seen"
    rows = ev.token_rows
    single = 0
    if len(rows):
        single = int(_num(rows[rows["Family"].isin(TOKEN_RISK_FAMILIES)], "SingleFactor").sum())
    if single > 0 or ev.actions_no_mfa > 0:
        return "at_risk", ""
    if not signins_ok:
        return "unknown", "the user sign-in tables are missing, so single-factor ARM tokens cannot be seen"
    return "not_affected", ""


# --- public API -------------------------------------------------------------------------------


def analyze(
    backend: Backend,
    *,
    now: dt.datetime,
    lookback: dt.timedelta = dt.timedelta(days=30),
    breakglass: Iterable[str] = (),
    progress: Progress | None = None,
) -> Analysis:
    """Run the Phase 2 impact analysis on ``backend`` for ``[now - lookback, now)``.

    ``breakglass`` lists emergency-access UPNs (any case). ``progress(message, fraction)`` is
    called before each query and once when joining.
    """
    if lookback <= dt.timedelta(0):
        raise UsageError(f"lookback must be positive, got {lookback}")
    start, end = window(now, lookback)
    frames, missing, warnings, ran = _run_all(backend, start, end, progress)
    activity_ok = "arm_writes_by_identity" in ran
    signins_ok = "arm_token_signins" in ran
    glass = sorted({b.strip().lower() for b in breakglass if b and b.strip()})

    workload = _workload_frame(frames)
    workload_keys = {str(v).lower() for col in ("id", "app_id", "name") for v in workload.get(col, []) if v}

    evidence = _gather(frames)
    for key in list(evidence):
        if key in workload_keys or "@" not in key:
            warnings.append(f"dropped {key!r}: it is a workload identity or not a user principal name")
            del evidence[key]
    unmatched = [b for b in glass if b not in evidence]
    if unmatched:
        warnings.append(f"break-glass account(s) not seen touching ARM in the window: {', '.join(unmatched)}")

    minutes = frames.get("arm_write_minutes", pd.DataFrame())
    minutes_by_id = {str(r["Identity"]).lower(): r for _, r in minutes.iterrows()} if len(minutes) else {}
    for key, r in minutes_by_id.items():
        listed = len(_list(r.get("Minutes")))
        if int(r.get("WriteMinutes") or 0) > listed:
            warnings.append(
                f"{key}: cadence measured on {listed} of {int(r['WriteMinutes'])} write minutes (list capped)"
            )
    hours = frames.get("arm_activity_hours", pd.DataFrame())
    hours_by_id = {str(k).lower(): g for k, g in hours.groupby("Identity")} if len(hours) else {}

    rows: list[dict[str, Any]] = []
    tool_facts: list[tuple[str, list[_ToolUse], dict[str, int], dict[str, int], bool]] = []
    for key in sorted(evidence):
        ev = evidence[key]
        is_glass = key in glass
        uses = _tool_uses(ev)
        minutes_row = minutes_by_id.get(key)
        iac = _inferred_iac(ev, minutes_row)
        families = _ordered_tools([u.family for u in uses] + iac)
        user_types = list(ev.token_rows["UserType"]) if len(ev.token_rows) else []
        user_types.append(str(ev.context.get("UserType") or ""))
        guest = _is_guest(key, user_types)
        cross = int(ev.context.get("CrossTenantSignIns") or 0) > 0 or (
            len(ev.token_rows) > 0 and int(_num(ev.token_rows, "CrossTenantSignIns").sum()) > 0
        )
        verdict, unknown_reason = _verdict(ev, activity_ok, signins_ok)
        if verdict == "unknown" and len(ev.token_rows):
            single = int(_num(ev.token_rows[ev.token_rows["Family"].isin(TOKEN_RISK_FAMILIES)], "SingleFactor").sum())
            if single:
                unknown_reason += f" (at least at_risk: {single} single-factor ARM tokens)"
        feats = _features(ev, minutes_row, hours_by_id.get(key, pd.DataFrame()), guest)
        auto = score(feats)
        ropc = feats.ropc_signins > 0
        reasons = _reasons(ev, uses, verdict, unknown_reason, guest, cross, is_glass)
        if auto.reasons:
            reasons.append(f"automation {auto.score}/100: " + "; ".join(auto.reasons))
        if "azure-cli" in families:
            reasons.append(f"caveat: {CLI_CAVEAT}")
        situation = Situation(
            verdict=verdict,
            automation_band=auto.band,
            tools=tuple(families),
            version_ok=_combined_version_ok(uses),
            ropc=ropc,
            guest=guest,
            cross_tenant=cross,
            breakglass=is_glass,
            unknown_reason=unknown_reason,
            deployments=ev.deployments > 0,
        )
        tok = ev.token_rows
        rows.append(
            {
                "identity": key,
                "user_id": ev.user_id,
                "verdict": verdict,
                "arm_writes": ev.writes,
                "arm_writes_without_mfa": ev.writes_no_mfa,
                "automation_score": auto.score,
                "automation_band": auto.band,
                "tools": ";".join(families),
                "tool_versions": _tool_versions_text(uses, iac),
                "version_ok": situation.version_ok,
                "ropc": ropc,
                "guest": guest,
                "reasons": " | ".join(reasons),
                "remediation": remediation(situation),
                "breakglass": is_glass,
                "cross_tenant": cross,
                "arm_actions": ev.actions,
                "arm_actions_without_mfa": ev.actions_no_mfa,
                "policy_mfa_events": ev.policy_events,
                "arm_signins": int(_num(tok, "SignIns").sum()) if len(tok) else 0,
                "arm_signins_single_factor": int(_num(tok, "SingleFactor").sum()) if len(tok) else 0,
                "arm_signins_mfa": int(_num(tok, "MfaSatisfied").sum()) if len(tok) else 0,
                "azure_cli_version_ok": _version_ok(uses, AZURE_CLI),
                "azure_powershell_version_ok": _version_ok(uses, AZURE_POWERSHELL),
                "automation_reasons": " | ".join(auto.reasons),
                "display_name": ev.display_name,
                "first_seen": _day(ev.first_seen),
                "last_seen": _day(ev.last_seen),
            }
        )
        tool_facts.append((verdict, uses, ev.write_apps, ev.write_apps_no_mfa, is_glass))
    identities = _typed(pd.DataFrame(rows, columns=list(IDENTITY_COLUMNS + EXTRA_COLUMNS)))
    tools = _typed(_tools_frame(tool_facts))
    if ran and all(len(frames[name]) == 0 for name in ran):
        warnings.append(
            f"no sign-in or activity rows in the window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC in any "
            "table: check --now and --lookback against the dates the data covers"
        )
    if not activity_ok:
        warnings.append("AzureActivity missing: every verdict that depends on ARM writes is 'unknown'")
    if "AADNonInteractiveUserSignInLogs" in missing:
        warnings.append("AADNonInteractiveUserSignInLogs missing: most CLI/PowerShell token refreshes are not seen")
    log.info("analysis: %d identities, %d warnings", len(identities), len(warnings))
    return Analysis(
        identities=identities,
        tools=tools,
        missing_tables=missing,
        warnings=warnings,
        window=(start, end),
        frames=frames,
        workload_identities=workload,
        breakglass=glass,
        source=getattr(backend, "description", ""),
    )


def _workload_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Service principals and managed identities seen signing in or writing (context only)."""
    signins = frames.get("workload_signins", pd.DataFrame())
    writes = frames.get("workload_arm_writes", pd.DataFrame())
    records: dict[str, dict[str, Any]] = {}
    for row in signins.to_dict("records"):
        key = str(row.get("ServicePrincipalId") or "").lower()
        records[key] = {
            "kind": row.get("Kind", ""),
            "id": key,
            "app_id": str(row.get("AppId") or "").lower(),
            "name": row.get("Name") or "",
            "signins": int(row.get("SignIns") or 0),
            "arm_signins": int(row.get("ArmSignIns") or 0),
            "federated_signins": int(row.get("Federated") or 0),
            "arm_writes": 0,
        }
    for row in writes.to_dict("records"):
        key = str(row.get("Caller") or "").lower()
        entry = records.setdefault(
            key,
            {
                "kind": "workload",
                "id": key,
                "app_id": str(row.get("AppId") or "").lower(),
                "name": "",
                "signins": 0,
                "arm_signins": 0,
                "federated_signins": 0,
                "arm_writes": 0,
            },
        )
        entry["arm_writes"] += int(row.get("Operations") or 0)
    columns = ["kind", "id", "app_id", "name", "signins", "arm_signins", "federated_signins", "arm_writes"]
    return pd.DataFrame(list(records.values()), columns=columns)


def _tools_frame(facts: list[tuple[str, list[_ToolUse], dict[str, int], dict[str, int], bool]]) -> pd.DataFrame:
    """tools.csv: one row per tool family and version band (break-glass accounts left out)."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for verdict, uses, write_apps, write_apps_no_mfa, is_glass in facts:
        if is_glass:
            continue
        for use in uses:
            band = use.band.label if use.band and use.band.tool else "unknown"
            key = (use.family, band)
            entry = table.setdefault(
                key,
                {
                    "tool": use.family,
                    "version_band": band,
                    "version_ok": use.band.version_ok if use.band and use.band.tool else "unknown",
                    "confidence": use.band.confidence if use.band and use.band.tool else "none",
                    "identities": 0,
                    "identities_will_break": 0,
                    "arm_writes": 0,
                    "arm_writes_without_mfa": 0,
                    "evidence": (use.band.evidence if use.band and use.band.tool else _no_band_words(use)),
                },
            )
            entry["identities"] += 1
            entry["identities_will_break"] += int(verdict == "will_break")
            entry["arm_writes"] += sum(n for app, n in write_apps.items() if _app_matches(app, use.family, uses))
            entry["arm_writes_without_mfa"] += sum(
                n for app, n in write_apps_no_mfa.items() if _app_matches(app, use.family, uses)
            )
    frame = pd.DataFrame(list(table.values()), columns=list(TOOL_COLUMNS))
    if len(frame):
        frame["_order"] = frame["tool"].map(TOOL_ORDER.index)
        frame = frame.sort_values(["_order", "version_band"]).drop(columns="_order").reset_index(drop=True)
    return frame


def _no_band_words(use: _ToolUse) -> str:
    if use.family == "portal":
        return "browser sign-ins; the portal needs no client upgrade"
    if use.library:
        return f"{_short_library(use.library)} maps to no Azure CLI / Az PowerShell release"
    return "no library string in the sign-in logs"


def _app_matches(app: str, family: str, uses: list[_ToolUse]) -> bool:
    """Does a write made with client ``app`` belong to ``family`` for this identity?"""
    app_family = tool_family(app)
    if app_family == family:
        return True
    families = {u.family for u in uses}
    # An SDK/Ansible login borrows the Azure CLI app id; its writes belong to it when no CLI is seen.
    return app_family == "azure-cli" and family in ("ansible", "azure-sdk") and "azure-cli" not in families


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == bool:
            out[column] = out[column].map({True: "true", False: "false"})
    return out


def write_exports(analysis: Analysis, out_dir: Path) -> list[Path]:
    """Write identities.csv and tools.csv into ``out_dir`` (created if needed); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    identities = out_dir / "identities.csv"
    tools = out_dir / "tools.csv"
    _csv_ready(analysis.identities).to_csv(identities, index=False)
    _csv_ready(analysis.tools).to_csv(tools, index=False)
    return [identities, tools]


def run_analyze(
    workspace: Path,
    out: Path,
    now: dt.datetime,
    lookback: dt.timedelta = dt.timedelta(days=30),
    breakglass: list[str] | None = None,
) -> Analysis:
    """What ``kitlib analyze`` does: analyse a local workspace folder and write the two CSVs."""
    from kitlib.backends.local import LocalBackend

    backend = LocalBackend(Path(workspace), now=now)
    try:
        analysis = analyze(backend, now=now, lookback=lookback, breakglass=breakglass or ())
    finally:
        backend.close()
    write_exports(analysis, Path(out))
    for warning in analysis.warnings:
        log.warning("%s", warning)
    return analysis
