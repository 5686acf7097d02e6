"""Verdicts, their reasons in plain words, and the automation features of one identity."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from kitlib.analysis.evidence import Evidence, as_list, day_text, numbers
from kitlib.analysis.tools import TOKEN_RISK_FAMILIES, ToolUse
from kitlib.domain.apps import OTHER, TOOL_PROSE, tool_family
from kitlib.domain.automation import Features


def is_guest(identity: str, user_types: Iterable[str]) -> bool:
    return "#ext#" in identity.lower() or any(str(t).lower() == "guest" for t in user_types)


def automation_features(ev: Evidence, minutes_row: pd.Series | None, hours: pd.DataFrame, guest: bool) -> Features:
    rows = ev.token_rows
    ctx = ev.context
    write_minutes: list[pd.Timestamp] = []
    per_minute: list[int] = []
    deployment_minutes = 0
    if minutes_row is not None:
        write_minutes = [
            pd.Timestamp(m, tz="UTC") if pd.Timestamp(m).tzinfo is None else pd.Timestamp(m)
            for m in as_list(minutes_row.get("Minutes"))
        ]
        per_minute = [int(n) for n in as_list(minutes_row.get("OperationsPerMinute"))]
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
            ips.update(str(i) for i in as_list(value))
        for value in rows["Asns"]:
            asns.extend(str(a) for a in as_list(value))
        # Az PowerShell's own requests carry azsdk-net-Identity: only other clients' agents count.
        scripts = rows[~rows["Family"].isin(("azure-cli", "azure-powershell", "portal"))]
        agents = sorted(str(a) for a in scripts["UserAgent"].unique() if a)
        browserish = int(numbers(rows[rows["Family"] == "portal"], "SignIns").sum())
    return Features(
        identity=ev.identity,
        ropc_signins=int(numbers(rows, "Ropc").sum()) if len(rows) else 0,
        arm_writes=ev.writes,
        arm_writes_with_mfa=ev.writes_mfa,
        mfa_signins=int(ctx.get("MfaSignIns") or 0),
        signins=int(ctx.get("SignIns") or 0),
        arm_signins=int(numbers(rows, "SignIns").sum()) if len(rows) else 0,
        arm_signins_with_device=int(numbers(rows, "WithDevice").sum()) if len(rows) else 0,
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


def app_words(apps: dict[str, int]) -> str:
    names = []
    for app, _ in sorted(apps.items(), key=lambda kv: -kv[1]):
        family = tool_family(app)
        name = TOOL_PROSE[family] if family != OTHER else f"app {app or 'unknown'}"
        if name not in names:
            names.append(name)
    return ", ".join(names) or "an unknown client"


def examples(operations: list[str], n: int) -> list[str]:
    """A few distinct operation names, case-folded (some exports upper-case them)."""
    seen: dict[str, str] = {}
    for op in operations:
        key = op.lower()
        if key not in seen or seen[key].isupper():
            seen[key] = op
    return [seen[k] for k in sorted(seen)][:n]


def reasons_for(
    ev: Evidence, uses: list[ToolUse], verdict: str, unknown_reason: str, guest: bool, cross: bool, breakglass: bool
) -> list[str]:
    out: list[str] = []
    if breakglass:
        out.append("break-glass account (from the exclusion list): kept for the record, left out of counts")
    if unknown_reason:
        out.append(unknown_reason)
    if ev.writes_no_mfa:
        amr = ",".join(sorted(set(ev.amr_no_mfa))) or "no amr"
        example = examples(ev.write_ops, 2)
        out.append(
            f"{ev.writes_no_mfa} write(s) without MFA (amr={amr}) via {app_words(ev.write_apps_no_mfa)} "
            f"between {day_text(ev.no_mfa_first)} and {day_text(ev.no_mfa_last)}"
            + (f"; e.g. {', '.join(example)}" if example else "")
        )
    if ev.writes_mfa:
        out.append(f"{ev.writes_mfa} write(s) with MFA")
    if ev.policy_events:
        out.append(
            f"{ev.policy_events} Azure Policy MFA event(s) ({', '.join(sorted(ev.policy_actions, key=str.lower))}) "
            f"between {day_text(ev.policy_first)} and {day_text(ev.policy_last)}"
        )
    if ev.actions_no_mfa:
        example = examples(ev.action_ops, 1)
        out.append(
            f"{ev.actions_no_mfa} /action operation(s) without MFA" + (f" (e.g. {example[0]})" if example else "")
        )
    rows = ev.token_rows
    if len(rows):
        risky = rows[rows["Family"].isin(TOKEN_RISK_FAMILIES)]
        single = int(numbers(risky, "SingleFactor").sum())
        if single:
            by_family = risky.groupby("Family")["SingleFactor"].sum()
            words = ", ".join(f"{int(n)} from {TOOL_PROSE[str(f)]}" for f, n in by_family.items() if n)
            out.append(f"{single} single-factor ARM token(s) without MFA ({words})")
        mfa = int(numbers(rows, "MfaSatisfied").sum())
        if mfa:
            out.append(f"{mfa} ARM token(s) with MFA")
        ropc = int(numbers(rows, "Ropc").sum())
        if ropc:
            out.append(
                f"signs in with a password from a script (ROPC, {ropc} sign-in(s) for ARM), which can never "
                "satisfy MFA: any write it makes will be refused"
            )
        device_code = int(numbers(rows, "DeviceCode").sum())
        if device_code:
            out.append(f"device-code sign-in(s): {device_code}")
    for use in uses:
        if use.band and use.band.tool and use.band.evidence:
            out.append(use.band.evidence)
    if guest:
        out.append("guest (B2B) account")
    if cross:
        homes = ", ".join(sorted(str(h) for h in as_list(ev.context.get("HomeTenants"))))
        out.append("signs in from another home tenant" + (f" ({homes})" if homes else ""))
    if verdict == "not_affected" and not out:
        out.append("touched ARM only with MFA or read-only tokens")
    return out


def verdict_for(ev: Evidence, activity_ok: bool, signins_ok: bool) -> tuple[str, str]:
    if ev.writes_no_mfa > 0 or ev.policy_events > 0:
        return "will_break", ""
    if not activity_ok:
        return "unknown", "AzureActivity is not in the workspace, so ARM writes and their MFA state cannot be seen"
    rows = ev.token_rows
    single = 0
    if len(rows):
        single = int(numbers(rows[rows["Family"].isin(TOKEN_RISK_FAMILIES)], "SingleFactor").sum())
    if single > 0 or ev.actions_no_mfa > 0:
        return "at_risk", ""
    if not signins_ok:
        return "unknown", "the user sign-in tables are missing, so single-factor ARM tokens cannot be seen"
    return "not_affected", ""
