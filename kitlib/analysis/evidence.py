"""Gathering the evidence: run the catalog queries, then collect what each says about each identity.

The queries aggregate server side (one row per identity and facet); :func:`gather_evidence` folds
their rows into one :class:`Evidence` per identity (UPNs compared case-insensitively).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kitlib.backends.base import Backend
from kitlib.domain.apps import tool_family
from kitlib.errors import KitError, UsageError
from kitlib.query.catalog import get_query

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
class QueryRun:
    """What running the analysis' queries gave: frames, and every gap in them."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)
    #: False when any query came back partial (truncated, or a part of it failed).
    complete: bool = True


def run_queries(backend: Backend, start: dt.datetime, end: dt.datetime, progress: Progress | None) -> QueryRun:
    """Run every query it can; a query whose tables are absent or that fails is a warning, not an error."""
    available = backend.available_tables()
    run = QueryRun()
    frames, missing, warnings, ran = run.frames, run.missing_tables, run.warnings, run.ran
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
            run.complete = False
            warnings.append(f"{name}: the service returned a partial result; counts are lower bounds")
        frames[name] = sorted_sets(result.frame)
        ran.add(name)
    if progress:
        progress("joining evidence", 1.0)
    return run


def sorted_sets(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every ``make_set`` cell (:data:`SET_COLUMNS`) as a sorted list."""
    columns = [c for c in frame.columns if c in SET_COLUMNS]
    if not columns or not len(frame):
        return frame
    out = frame.copy()
    for column in columns:
        out[column] = [sorted(as_list(v), key=lambda x: str(x).lower()) for v in out[column]]
    return out


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, float) and pd.isna(value):
        return []
    if isinstance(value, (list, tuple, set)):
        return [v for v in value if v is not None and v != ""]
    if hasattr(value, "tolist"):
        return [v for v in value.tolist() if v is not None and v != ""]
    return [value] if value != "" else []


def numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(0, index=frame.index, dtype="int64")
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")


def day_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    return str(pd.Timestamp(value).strftime("%Y-%m-%d"))


@dataclass
class Evidence:
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


def gather_evidence(frames: dict[str, pd.DataFrame]) -> dict[str, Evidence]:
    evidence: dict[str, Evidence] = {}

    def get(identity: str) -> Evidence:
        key = identity.lower()
        if key not in evidence:
            evidence[key] = Evidence(key)
        return evidence[key]

    writes = frames.get("arm_writes_by_identity", pd.DataFrame())
    if len(writes):
        writes = writes.assign(Operations=numbers(writes, "Operations"), Deployments=numbers(writes, "Deployments"))
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
                ev.write_ips.extend(str(i) for i in as_list(row.CallerIps))
                ev.write_days = max(ev.write_days, int(getattr(row, "ActiveDays", 0) or 0))
                if mfa:
                    ev.writes_mfa += ops
                else:
                    ev.writes_no_mfa += ops
                    ev.write_apps_no_mfa[app] = ev.write_apps_no_mfa.get(app, 0) + ops
                    ev.write_ops.extend(str(o) for o in as_list(row.OperationNames))
                    ev.amr_no_mfa.extend(str(a) for a in as_list(row.AmrValues))
                    ev.no_mfa_first = row.FirstSeen if ev.no_mfa_first is None else min(ev.no_mfa_first, row.FirstSeen)
                    ev.no_mfa_last = row.LastSeen if ev.no_mfa_last is None else max(ev.no_mfa_last, row.LastSeen)
            else:
                ev.actions += ops
                if not mfa:
                    ev.actions_no_mfa += ops
                    ev.action_ops.extend(str(o) for o in as_list(row.OperationNames))
            note_seen(ev, row.FirstSeen, row.LastSeen)

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
        for effect in as_list(row.Effects) or [row.Action]:
            if str(effect) and str(effect).lower() not in {e.lower() for e in ev.policy_actions}:
                ev.policy_actions.append(str(effect))
        ev.policy_first = row.FirstSeen if ev.policy_first is None else min(ev.policy_first, row.FirstSeen)
        ev.policy_last = row.LastSeen if ev.policy_last is None else max(ev.policy_last, row.LastSeen)
        note_seen(ev, row.FirstSeen, row.LastSeen)

    tokens = frames.get("arm_token_signins", pd.DataFrame())
    if len(tokens):
        tokens = tokens.copy()
        tokens["Family"] = [
            tool_family(a, u, p)
            for a, u, p in zip(tokens["AppId"], tokens["UserAgent"], tokens["Protocol"], strict=True)
        ]
        for identity, rows in tokens.groupby("Identity", sort=False):
            if numbers(rows, "Succeeded").sum() == 0:
                continue  # only failed attempts: this identity never held an ARM token
            ev = get(str(identity))
            ev.token_rows = rows
            if not ev.user_id:
                ev.user_id = next((str(u) for u in rows["UserId"] if u), "")
            ev.display_name = next((str(u) for u in rows["DisplayName"] if u), ev.display_name)
            note_seen(ev, rows["FirstSeen"].min(), rows["LastSeen"].max())

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


def note_seen(ev: Evidence, first: Any, last: Any) -> None:
    if first is not None and not pd.isna(first):
        ev.first_seen = first if ev.first_seen is None else min(ev.first_seen, first)
    if last is not None and not pd.isna(last):
        ev.last_seen = last if ev.last_seen is None else max(ev.last_seen, last)
