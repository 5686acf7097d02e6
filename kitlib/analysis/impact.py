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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from kitlib.analysis.evidence import Progress, as_list, day_text, gather_evidence, numbers, run_queries
from kitlib.analysis.exports import write_exports
from kitlib.analysis.model import EXTRA_COLUMNS, IDENTITY_COLUMNS, Analysis, typed_frame
from kitlib.analysis.tools import (
    CLI_CAVEAT,
    TOKEN_RISK_FAMILIES,
    ToolUse,
    combined_version_ok,
    inferred_iac,
    ordered_tools,
    tool_uses,
    tool_versions_text,
    tools_frame,
    version_ok_for,
)
from kitlib.analysis.verdicts import automation_features, is_guest, reasons_for, verdict_for
from kitlib.backends.base import Backend, window
from kitlib.backends.local import LocalBackend
from kitlib.domain.apps import AZURE_CLI, AZURE_POWERSHELL
from kitlib.domain.automation import score
from kitlib.domain.remediation import Situation, remediation
from kitlib.errors import UsageError

log = logging.getLogger(__name__)


log = logging.getLogger(__name__)


# --- running the queries ----------------------------------------------------------------------


# --- small helpers ----------------------------------------------------------------------------


# --- the join ---------------------------------------------------------------------------------


# --- tools and versions -----------------------------------------------------------------------


# --- automation features ----------------------------------------------------------------------


# --- verdicts and reasons ---------------------------------------------------------------------


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
    queried = run_queries(backend, start, end, progress)
    frames, missing, warnings, ran = queried.frames, queried.missing_tables, queried.warnings, queried.ran
    activity_ok = "arm_writes_by_identity" in ran
    signins_ok = "arm_token_signins" in ran
    glass = sorted({b.strip().lower() for b in breakglass if b and b.strip()})

    workload = _workload_frame(frames)
    workload_keys = {str(v).lower() for col in ("id", "app_id", "name") for v in workload.get(col, []) if v}

    evidence = gather_evidence(frames)
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
        listed = len(as_list(r.get("Minutes")))
        if int(r.get("WriteMinutes") or 0) > listed:
            warnings.append(
                f"{key}: cadence measured on {listed} of {int(r['WriteMinutes'])} write minutes (list capped)"
            )
    hours = frames.get("arm_activity_hours", pd.DataFrame())
    hours_by_id = {str(k).lower(): g for k, g in hours.groupby("Identity")} if len(hours) else {}

    rows: list[dict[str, Any]] = []
    tool_facts: list[tuple[str, list[ToolUse], dict[str, int], dict[str, int], bool]] = []
    for key in sorted(evidence):
        ev = evidence[key]
        is_glass = key in glass
        uses = tool_uses(ev)
        minutes_row = minutes_by_id.get(key)
        iac = inferred_iac(ev, minutes_row)
        families = ordered_tools([u.family for u in uses] + iac)
        user_types = list(ev.token_rows["UserType"]) if len(ev.token_rows) else []
        user_types.append(str(ev.context.get("UserType") or ""))
        guest = is_guest(key, user_types)
        cross = int(ev.context.get("CrossTenantSignIns") or 0) > 0 or (
            len(ev.token_rows) > 0 and int(numbers(ev.token_rows, "CrossTenantSignIns").sum()) > 0
        )
        verdict, unknown_reason = verdict_for(ev, activity_ok, signins_ok)
        if verdict == "unknown" and len(ev.token_rows):
            single = int(
                numbers(ev.token_rows[ev.token_rows["Family"].isin(TOKEN_RISK_FAMILIES)], "SingleFactor").sum()
            )
            if single:
                unknown_reason += f" (at least at_risk: {single} single-factor ARM tokens)"
        feats = automation_features(ev, minutes_row, hours_by_id.get(key, pd.DataFrame()), guest)
        auto = score(feats)
        ropc = feats.ropc_signins > 0
        reasons = reasons_for(ev, uses, verdict, unknown_reason, guest, cross, is_glass)
        if auto.reasons:
            reasons.append(f"automation {auto.score}/100: " + "; ".join(auto.reasons))
        if "azure-cli" in families:
            reasons.append(f"caveat: {CLI_CAVEAT}")
        situation = Situation(
            verdict=verdict,
            automation_band=auto.band,
            tools=tuple(families),
            version_ok=combined_version_ok(uses),
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
                "tool_versions": tool_versions_text(uses, iac),
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
                "arm_signins": int(numbers(tok, "SignIns").sum()) if len(tok) else 0,
                "arm_signins_single_factor": int(numbers(tok, "SingleFactor").sum()) if len(tok) else 0,
                "arm_signins_mfa": int(numbers(tok, "MfaSatisfied").sum()) if len(tok) else 0,
                "azure_cli_version_ok": version_ok_for(uses, AZURE_CLI),
                "azure_powershell_version_ok": version_ok_for(uses, AZURE_POWERSHELL),
                "automation_reasons": " | ".join(auto.reasons),
                "display_name": ev.display_name,
                "first_seen": day_text(ev.first_seen),
                "last_seen": day_text(ev.last_seen),
            }
        )
        tool_facts.append((verdict, uses, ev.write_apps, ev.write_apps_no_mfa, is_glass))
    identities = typed_frame(pd.DataFrame(rows, columns=list(IDENTITY_COLUMNS + EXTRA_COLUMNS)))
    tools = typed_frame(tools_frame(tool_facts))
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
        source=backend.description,
        complete=queried.complete,
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


def run_analyze(
    workspace: Path,
    out: Path,
    now: dt.datetime,
    lookback: dt.timedelta = dt.timedelta(days=30),
    breakglass: list[str] | None = None,
) -> Analysis:
    """What ``kitlib analyze`` does: analyse a local workspace folder and write the two CSVs."""

    backend = LocalBackend(Path(workspace), now=now)
    try:
        analysis = analyze(backend, now=now, lookback=lookback, breakglass=breakglass or ())
    finally:
        backend.close()
    write_exports(analysis, Path(out))
    for warning in analysis.warnings:
        log.warning("%s", warning)
    return analysis
