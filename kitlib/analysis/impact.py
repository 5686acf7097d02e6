"""The Phase 2 impact analysis: who breaks, who is automation, which tools and versions.

``analyze(backend, now=...)`` runs the analysis' queries (aggregated in the engine: one row per
identity and facet), turns them into one facts frame with a row per user identity using
whole-column operations, applies the rules (:mod:`kitlib.analysis.verdicts`,
:mod:`kitlib.domain.automation`, :mod:`kitlib.analysis.tools`, :mod:`kitlib.domain.remediation`)
to all identities at once, and returns an :class:`Analysis` with the two exports of the design
brief (``identities``, ``tools``), the query frames for notebooks, and every gap in the evidence
(missing tables, partial results) as warnings.

Microsoft's rule (``phase2-domain.md`` section 0; :mod:`kitlib.domain.phase2`): a user token is
one whose ``idtyp`` claim is ``user`` (else a upn or scp claim, else a UPN-shaped Caller); it
lacks MFA when ``mfa`` is not an element of ``split(amr, ",")`` and ``p1`` not one of
``split(acrs, ",")``; create/update (``/write``) and delete (``/delete``) are evaluated, POST
``/action`` is reported apart; a write refused by RBAC (``AuthorizationFailed``) never reaches the
MFA check.

Counts: every query reads the half-open window ``[now - lookback, now)``. An operation is one
CorrelationId; ``arm_writes`` / ``arm_writes_without_mfa`` count the user's create/update/delete
operations that reached the MFA check (an operation is *without MFA* when any of its events'
tokens lacked it: it is the write ARM would refuse). :meth:`Analysis.summary` is the single source
of the headline totals.

Verdicts (per user identity, :data:`kitlib.analysis.verdicts.VERDICT_RULES`):

* ``will_break``: at least one write or delete without MFA that reached the MFA check, or an
  Azure Policy MFA audit/deny event for the user, or a write the MFA policies denied.
* ``at_risk``: no such write, but successful single-factor ARM tokens from any client, unless the
  activity log's claims for the same app show MFA. ``/action`` operations without MFA alone are
  not at risk (Phase 2 does not evaluate them); they are counted in ``actions_without_mfa``.
* ``not_affected``: everything else that touched ARM.
* ``unknown``: the evidence the verdict depends on is missing (no AzureActivity: writes cannot
  be seen; no sign-in tables: single-factor tokens cannot be seen). The reason says which.

Break-glass accounts (``breakglass=``) keep their row and computed verdict, are marked
``breakglass=true``, and are left out of ``tools`` counts and of :func:`summary` counts: an
emergency account is a known, deliberate exception, but hiding it would lose evidence.

Service principals and managed identities never become rows: the queries tell tokens apart by
their ``idtyp`` claim, and any identity equal to a workload identity's id, app id or name is
dropped with a warning as a second line of defence.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from kitlib.analysis.evidence import (
    Progress,
    activity_facets,
    context_facts,
    day_column,
    distinct_counts,
    exploded,
    mfa_apps,
    mfa_shown_by_claims,
    notebook_frames,
    numbers,
    operation_facts,
    policy_facts,
    run_queries,
    text,
    token_facts,
    token_rows,
    workload_writes,
    write_apps,
)
from kitlib.analysis.exports import write_exports
from kitlib.analysis.model import EXTRA_COLUMNS, IDENTITY_COLUMNS, Analysis, typed_frame
from kitlib.analysis.tools import (
    CLI_CAVEAT,
    VERSIONED_FAMILIES,
    family_versions,
    identity_tools,
    library_uses,
    tool_texts,
    tools_frame,
)
from kitlib.analysis.verdicts import Evidence, app_words, family_counts, reasons_column, verdicts
from kitlib.backends.base import Backend, window
from kitlib.backends.local import LocalBackend
from kitlib.domain.automation import CLOUD_ASNS, HOURS, SCRIPT_AGENT, cadence_frame, score_frame
from kitlib.domain.remediation import remediation_column
from kitlib.errors import UsageError

log = logging.getLogger(__name__)

#: Numeric facts an identity without that kind of evidence has as 0.
_COUNTS = (
    "writes", "writes_no_mfa", "writes_refused_rbac", "writes_denied_mfa", "actions", "actions_no_mfa",
    "actions_refused_rbac", "deployments", "write_days", "arm_signins", "single_factor", "single_factor_at_risk",
    "single_factor_shown_mfa", "token_mfa", "ropc", "device_code", "with_device", "token_gsa", "token_cross_tenant",
    "token_days", "portal_signins", "signins", "mfa_signins", "browser_signins", "office_signins",
    "interactive_mfa_signins", "through_gsa", "cross_tenant_signins", "same_tenant_signins", "policy_events",
    "policy_denied_operations",
)  # fmt: skip
_TEXTS = (
    "object_id", "amr_no_mfa", "ops_no_mfa", "action_ops_no_mfa", "token_user_id", "token_user_type",
    "token_display_name", "home_tenant", "other_tenant", "context_user_id", "context_user_type",
    "context_display_name", "policy_effects",
)  # fmt: skip
_TIMES = ("ops_first", "ops_last", "no_mfa_first", "no_mfa_last", "mfa_write_last", "token_first", "token_last",
          "policy_first", "policy_last")  # fmt: skip


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
    evidence = Evidence(activity="arm_operations" in ran, signins="arm_token_signins" in ran)
    glass = sorted({b.strip().lower() for b in breakglass if b and b.strip()})

    facets = activity_facets(frames.get("arm_operations", pd.DataFrame()))
    operations, minutes = facets["operations"], facets["minutes"]
    frames.update(notebook_frames(facets))
    workload = _workload_frame(frames.get("workload_signins", pd.DataFrame()), workload_writes(operations))
    tokens = token_rows(frames.get("arm_token_signins", pd.DataFrame()))
    shown = mfa_apps(operations)
    writes_by_app = write_apps(operations)
    parts = [
        operation_facts(operations),
        token_facts(tokens, shown),
        policy_facts(frames.get("arm_policy_mfa_events", pd.DataFrame())),
    ]
    seen = pd.Index(sorted(set().union(*(p.index for p in parts))), name="identity")
    workload_keys = {str(v).lower() for col in ("id", "app_id", "name") for v in workload.get(col, []) if v}
    dropped = seen[seen.isin(workload_keys) | ~seen.str.contains("@", regex=False)] if len(seen) else seen
    warnings.extend(f"dropped {key!r}: it is a workload identity or not a user principal name" for key in dropped)
    index = seen.difference(dropped)
    unmatched = [b for b in glass if b not in index]
    if unmatched:
        warnings.append(f"break-glass account(s) not seen touching ARM in the window: {', '.join(unmatched)}")

    facts = _facts(index, [*parts, context_facts(frames.get("user_signin_context", pd.DataFrame()))])
    facts["breakglass"] = facts.index.isin(glass)
    tokens = tokens[tokens["Identity"].isin(index)] if len(tokens) else tokens
    writes_by_app = writes_by_app[writes_by_app["identity"].isin(index)]
    _directions(facts)

    moments = _write_moments(minutes, index)
    burst_minutes = (
        (moments["per_minute"] >= 5).groupby(moments["identity"]).sum() if len(moments) else pd.Series(dtype="int64")
    )
    tools = identity_tools(tokens, writes_by_app, facts["deployments"], burst_minutes)
    uses = library_uses(tokens)
    versions = family_versions(uses, tools[~tools["inferred"].astype(bool)])
    texts = tool_texts(tools, versions).reindex(facts.index)
    for column in ("tools", "tool_versions", "azure_cli_version_ok", "azure_powershell_version_ok"):
        facts[column] = texts[column].fillna("")
    facts["version_ok"] = texts["version_ok"].fillna("unknown")
    versioned = versions[versions["Family"].isin(VERSIONED_FAMILIES) & (versions["evidence"] != "")]
    facts["version_evidence"] = (
        (versioned["evidence"] + " | ").groupby(versioned["identity"].values).sum().str.slice(stop=-3)
        .reindex(facts.index).fillna("")
    )  # fmt: skip

    judged = verdicts(facts, evidence)
    facts["verdict"], facts["unknown_reason"] = judged["verdict"], judged["unknown_reason"]
    shown_rows = mfa_shown_by_claims(tokens, shown)
    facts["single_factor_by_tool"] = family_counts(tokens, "SingleFactor", ~shown_rows).reindex(facts.index).fillna("")
    facts["apps_no_mfa"] = app_words(writes_by_app).reindex(facts.index).fillna("")

    automation = score_frame(_automation_features(facts, tokens, operations, moments, frames), _cadence(moments))
    reasons = reasons_column(facts)
    auto_words = "automation " + automation["score"].astype(str) + "/100: " + automation["reasons"]
    reasons = reasons.mask((automation["reasons"] != "") & (reasons != ""), reasons + " | " + auto_words)
    reasons = reasons.mask((automation["reasons"] != "") & (reasons == ""), auto_words)
    has_cli = (";" + facts["tools"] + ";").str.contains(";azure-cli;", regex=False)
    reasons = reasons.mask(has_cli, reasons + " | caveat: " + CLI_CAVEAT).str.removeprefix(" | ")

    situations = pd.DataFrame(
        {
            "verdict": facts["verdict"],
            "automation_band": automation["band"],
            "tools": facts["tools"],
            "version_ok": facts["version_ok"],
            "ropc": facts["ropc"] > 0,
            "guest": facts["guest"],
            "cross_tenant": facts["cross_tenant"],
            "breakglass": facts["breakglass"],
            "unknown_reason": facts["unknown_reason"],
            "deployments": facts["deployments"] > 0,
            "guest_direction": facts["guest_direction"],
            "actions_without_mfa": facts["actions_no_mfa"],
        }
    )
    identities = pd.DataFrame(
        {
            "identity": facts.index,
            "user_id": _first_nonempty(facts, "object_id", "token_user_id", "context_user_id"),
            "verdict": facts["verdict"],
            "arm_writes": facts["writes"],
            "arm_writes_without_mfa": facts["writes_no_mfa"],
            "automation_score": automation["score"],
            "automation_band": automation["band"],
            "tools": facts["tools"],
            "tool_versions": facts["tool_versions"],
            "version_ok": facts["version_ok"],
            "ropc": facts["ropc"] > 0,
            "guest": facts["guest"],
            "reasons": reasons,
            "remediation": remediation_column(situations),
            "breakglass": facts["breakglass"],
            "cross_tenant": facts["cross_tenant"],
            "arm_actions": facts["actions"],
            "policy_mfa_events": facts["policy_events"],
            "arm_signins": facts["arm_signins"],
            "arm_signins_single_factor": facts["single_factor"],
            "arm_signins_mfa": facts["token_mfa"],
            "azure_cli_version_ok": facts["azure_cli_version_ok"],
            "azure_powershell_version_ok": facts["azure_powershell_version_ok"],
            "automation_reasons": automation["reasons"].str.replace("; ", " | ", regex=False),
            "display_name": _first_nonempty(facts, "token_display_name", "context_display_name"),
            "first_seen": day_column(facts[["ops_first", "token_first", "policy_first"]].min(axis=1)),
            "last_seen": day_column(facts[["ops_last", "token_last", "policy_last"]].max(axis=1)),
            "actions_without_mfa": facts["actions_no_mfa"],
            "writes_refused_rbac": facts["writes_refused_rbac"],
            "enforcement_visible": facts["enforcement_visible"],
            "last_write_without_mfa": day_column(facts["no_mfa_last"]),
            "mfa_since_last_write_without_mfa": facts["mfa_since_last_write_without_mfa"],
            "guest_direction": facts["guest_direction"],
        },
        index=facts.index,
    )
    identities = typed_frame(identities.reset_index(drop=True)[list(IDENTITY_COLUMNS + EXTRA_COLUMNS)])
    counted = facts.index[~facts["breakglass"]]
    tool_rows = typed_frame(tools_frame(tools, versions, uses, writes_by_app, facts["verdict"], counted))
    if ran and all(len(frames[name]) == 0 for name in ran):
        warnings.append(
            f"no sign-in or activity rows in the window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC in any "
            "table: check --now and --lookback against the dates the data covers"
        )
    if not evidence.activity:
        warnings.append("AzureActivity missing: every verdict that depends on ARM writes is 'unknown'")
    if "AADNonInteractiveUserSignInLogs" in missing:
        warnings.append("AADNonInteractiveUserSignInLogs missing: most CLI/PowerShell token refreshes are not seen")
    log.info("analysis: %d identities, %d warnings", len(identities), len(warnings))
    return Analysis(
        identities=identities,
        tools=tool_rows,
        missing_tables=missing,
        warnings=warnings,
        window=(start, end),
        frames=frames,
        workload_identities=workload,
        breakglass=glass,
        source=backend.description,
        complete=queried.complete,
    )


def _facts(index: pd.Index, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-identity facts: every part joined on the identity, with the neutral value where absent."""
    facts = pd.concat([p.reindex(index) for p in parts], axis=1) if parts else pd.DataFrame(index=index)
    for column in _COUNTS:
        facts[column] = (
            pd.to_numeric(facts[column], errors="coerce").fillna(0).astype("int64") if column in facts else 0
        )
    for column in _TEXTS:
        facts[column] = facts[column].fillna("").astype(str) if column in facts else ""
    for column in _TIMES:
        facts[column] = (
            pd.to_datetime(facts[column], utc=True)
            if column in facts
            else pd.Series(pd.NaT, index=facts.index, dtype="datetime64[ns, UTC]")
        )
    facts["writes_mfa"] = facts["writes"] - facts["writes_no_mfa"]
    facts["enforcement_visible"] = np.maximum(facts["writes_denied_mfa"], facts["policy_denied_operations"])
    later = facts["mfa_write_last"] > facts["no_mfa_last"]
    facts["mfa_since_last_write_without_mfa"] = np.where(
        facts["no_mfa_last"].isna(), "", np.where(later.fillna(False), "yes", "no")
    )
    user_type = _first_nonempty(facts, "token_user_type", "context_user_type").str.lower()
    facts["guest"] = facts.index.str.contains("#ext#", case=False, regex=False) | (user_type == "guest")
    facts["cross_tenant"] = (facts["cross_tenant_signins"] > 0) | (facts["token_cross_tenant"] > 0)
    return facts


def _first_nonempty(facts: pd.DataFrame, *columns: str) -> pd.Series:
    out = pd.Series("", index=facts.index, dtype=object)
    for column in columns:
        out = out.where(out != "", facts[column].astype(str))
    return out


def local_tenant(facts: pd.DataFrame) -> str:
    """The tenant whose logs these are: the home tenant most identities sign in to at home."""
    at_home = facts.loc[(facts["same_tenant_signins"] > 0) & (facts["home_tenant"] != ""), "home_tenant"]
    counts = at_home.value_counts()
    return str(counts.sort_index().idxmax()) if len(counts) else ""


def _directions(facts: pd.DataFrame) -> None:
    """``guest_direction``: ``inbound`` (home tenant elsewhere), ``outbound`` (tokens from elsewhere), or ""."""
    tenant = local_tenant(facts)
    home, other = facts["home_tenant"], facts["other_tenant"]
    if tenant:
        inbound = (home != "") & (home != tenant)
        outbound = (home == tenant) & (other != "") & (other != tenant)
    else:  # no tenant ids to compare: a guest account is a guest here, by its UPN or user type
        inbound = facts["guest"]
        outbound = pd.Series(False, index=facts.index)
    facts["guest_direction"] = np.where(inbound, "inbound", np.where(outbound, "outbound", ""))


def _write_moments(minutes: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """(identity, minute, per_minute) for every minute in which a user identity started writes."""
    part = minutes[minutes["Identity"].isin(index)] if len(minutes) else minutes
    if part.empty:
        return pd.DataFrame(
            {"identity": pd.Series(dtype=object), "minute": pd.Series(dtype="datetime64[ns, UTC]"),
             "per_minute": pd.Series(dtype="int64")}
        )  # fmt: skip
    with warnings.catch_warnings():
        # Engines hand the minutes back as UTC timestamps, some tz-aware: numpy keeps the instant
        # and warns that it drops the zone, which is UTC here by construction.
        warnings.filterwarnings("ignore", "no explicit representation of timezones", UserWarning)
        stamps = [np.asarray(v, dtype="datetime64[ns]") for v in part["Minutes"].to_numpy()]
    counts = [np.asarray(v, dtype=np.int64) for v in part["OperationsPerMinute"].to_numpy()]
    lengths = np.array([len(v) for v in stamps], dtype=np.int64)
    return pd.DataFrame(
        {
            "identity": np.repeat(part["Identity"].to_numpy(), lengths),
            "minute": pd.to_datetime(np.concatenate(stamps), utc=True),
            "per_minute": np.concatenate(counts),
        }
    )


def _cadence(moments: pd.DataFrame) -> pd.DataFrame:
    return cadence_frame(
        moments[["identity", "minute"]] if len(moments) else pd.DataFrame(columns=["identity", "minute"])
    )


def _automation_features(
    facts: pd.DataFrame,
    tokens: pd.DataFrame,
    operations: pd.DataFrame,
    moments: pd.DataFrame,
    frames: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """One row per identity with the columns :func:`kitlib.domain.automation.score_frame` reads."""
    index = facts.index
    f = pd.DataFrame(index=index)
    f["ropc_signins"] = facts["ropc"]
    f["arm_writes"] = facts["writes"]
    f["arm_writes_with_mfa"] = facts["writes_mfa"]
    f["mfa_signins"] = facts["mfa_signins"]
    f["signins"] = facts["signins"]
    f["arm_signins"] = facts["arm_signins"]
    f["arm_signins_with_device"] = facts["with_device"]
    f["browser_or_office_signins"] = facts["browser_signins"] + facts["office_signins"] + facts["portal_signins"]
    f["interactive_mfa_signins"] = facts["interactive_mfa_signins"]
    f["through_gsa"] = facts["through_gsa"]
    f["guest"] = facts["guest"]
    users = (
        operations[(text(operations, "Principal") == "user") & text(operations, "Kind").isin(["write", "delete"])]
        if len(operations)
        else operations
    )
    write_ips = (
        exploded(users, "Identity", "CallerIps") if len(users) else pd.DataFrame(columns=["Identity", "CallerIps"])
    )
    token_ips = exploded(tokens, "Identity", "Ips") if len(tokens) else pd.DataFrame(columns=["Identity", "Ips"])
    f["distinct_ips"] = distinct_counts(write_ips, token_ips).reindex(index).fillna(0).astype("int64")
    f["active_days"] = np.maximum(facts["token_days"], facts["write_days"])
    asns = exploded(tokens, "Identity", "Asns") if len(tokens) else pd.DataFrame(columns=["Identity", "Asns"])
    f["asn_count"] = asns.groupby("Identity").size().reindex(index).fillna(0).astype("int64")
    cloud = asns[asns["Asns"].isin(CLOUD_ASNS)]
    f["cloud_asn_count"] = cloud.groupby("Identity").size().reindex(index).fillna(0).astype("int64")
    f["cloud_asns"] = (
        (cloud["Asns"] + ", ").groupby(cloud["Identity"].values).sum().str.slice(stop=-2).reindex(index).fillna("")
    )
    # Az PowerShell's own requests carry azsdk-net-Identity: only other clients' agents count.
    others = (
        tokens[~tokens["Family"].isin(["azure-cli", "azure-powershell", "portal"]) & (text(tokens, "UserAgent") != "")]
        if len(tokens)
        else tokens
    )
    f["other_agents"] = index.isin(others["Identity"]) if len(others) else False
    scripted = others[text(others, "UserAgent").str.contains(SCRIPT_AGENT)] if len(others) else others
    f["script_agent"] = (
        scripted.sort_values(["Identity", "UserAgent"])
        .groupby("Identity")["UserAgent"]
        .first()
        .reindex(index)
        .fillna("")
        if len(scripted)
        else ""
    )
    minutes = frames.get("arm_write_minutes", pd.DataFrame())
    per_identity = minutes.set_index("Identity") if len(minutes) else pd.DataFrame()
    f["deployment_minutes"] = (
        numbers(per_identity, "DeploymentMinutes").reindex(index).fillna(0) if len(per_identity) else 0
    )
    f["burst_minutes"] = (
        (moments["per_minute"] >= 5).groupby(moments["identity"]).sum().reindex(index).fillna(0) if len(moments) else 0
    )
    f["write_moments"] = moments.groupby("identity").size().reindex(index).fillna(0) if len(moments) else 0
    _hours(f, frames.get("arm_activity_hours", pd.DataFrame()), moments)
    return f


def _hours(f: pd.DataFrame, hours: pd.DataFrame, moments: pd.DataFrame) -> None:
    """Hour-of-day counts (``h00``..``h23``), weekend and total events: ARM token requests plus write minutes."""
    rows = [pd.DataFrame(columns=["identity", "hour", "weekend", "events"])]
    if len(hours):
        rows.append(
            pd.DataFrame(
                {
                    "identity": hours["Identity"].astype(str).values,
                    "hour": numbers(hours, "Hour").values,
                    "weekend": hours["Weekend"].fillna(False).astype(bool).values,
                    "events": numbers(hours, "Events").values,
                }
            )
        )
    if len(moments):
        rows.append(
            pd.DataFrame(
                {
                    "identity": moments["identity"].values,
                    "hour": moments["minute"].dt.hour.values,
                    "weekend": (moments["minute"].dt.dayofweek >= 5).values,
                    "events": 1,
                }
            )
        )
    both = pd.concat(rows, ignore_index=True).astype({"hour": "int64", "events": "int64", "weekend": bool})
    both = both[both["identity"].isin(f.index)]
    grid = both.pivot_table(index="identity", columns="hour", values="events", aggfunc="sum", fill_value=0)
    grid = grid.reindex(index=f.index, columns=range(24), fill_value=0)
    for hour, name in enumerate(HOURS):
        f[name] = grid[hour].astype("int64").values
    f["total_events"] = both.groupby("identity")["events"].sum().reindex(f.index).fillna(0).astype("int64")
    weekend = both[both["weekend"].astype(bool)]
    f["weekend_events"] = weekend.groupby("identity")["events"].sum().reindex(f.index).fillna(0).astype("int64")


def _workload_frame(signins: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """Service principals and managed identities seen signing in or writing (context only)."""
    columns = ["kind", "id", "app_id", "name", "signins", "arm_signins", "federated_signins", "arm_writes"]
    seen = pd.DataFrame(
        {
            "kind": text(signins, "Kind"),
            "id": text(signins, "ServicePrincipalId").str.lower(),
            "app_id": text(signins, "AppId").str.lower(),
            "name": text(signins, "Name"),
            "signins": numbers(signins, "SignIns"),
            "arm_signins": numbers(signins, "ArmSignIns"),
            "federated_signins": numbers(signins, "Federated"),
        }
    ).drop_duplicates("id")
    written = writes.groupby("Caller", as_index=False).agg(app_id=("AppId", "max"), arm_writes=("Operations", "sum"))
    written = written.rename(columns={"Caller": "id"})
    merged = seen.merge(written, on="id", how="outer", suffixes=("", "_write"))
    merged["kind"] = merged["kind"].fillna("workload")
    merged["app_id"] = merged["app_id"].fillna(merged.get("app_id_write", pd.Series(dtype=object))).fillna("")
    merged["name"] = merged["name"].fillna("")
    for column in ("signins", "arm_signins", "federated_signins", "arm_writes"):
        merged[column] = pd.to_numeric(merged[column], errors="coerce").fillna(0).astype("int64")
    return merged[columns].reset_index(drop=True)


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
