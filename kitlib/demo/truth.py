"""The ground truth: what the analysis should conclude per user identity, from what each persona was made to do.

The planner decides, for every sign-in and operation, what the persona *did*: signed in with MFA
or not (:attr:`kitlib.demo.facts.Auth.intent_mfa`, the third field of
:data:`kitlib.demo.facts.CLAIMS`), wrote, deleted or only posted an action, was refused by RBAC
(:data:`kitlib.demo.facts.PAT_RBAC`), ran which tool releases and upgraded which. The truth reads
those intents, never the log text the materialiser derives from them and never the analysis code,
so a reader that misreads the logs (``ngcmfa`` taken for ``mfa``, a group's principalType taken for
the caller's type, a 2.75/2.76 pin taken for a version) scores lower.

The verdict follows Microsoft's rule applied to the intents: ``will_break`` when the persona made at
least one create/update or delete without MFA that RBAC let through; otherwise ``at_risk`` when it
took at least one successful ARM token without MFA, from any client; otherwise ``not_affected``.
POST actions without MFA do not count by themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from kitlib.demo.columns import Arr
from kitlib.demo.facts import (
    AUDIT_SUBS,
    AUTHS,
    CLAIM_MFA,
    KIND_ACTION,
    OP_KIND,
    PAT_RBAC,
    RES_ARM,
    UNREADABLE_RELEASES,
)
from kitlib.demo.planner import Tenant, User
from kitlib.domain.apps import AZURE_CLI, AZURE_POWERSHELL
from kitlib.domain.versions import CLAIMS_THRESHOLD, parse_version
from kitlib.version import __version__


def _combine(answers: list[str]) -> str:
    """Readiness over several releases or tools: any no is no, all yes is yes, else unknown."""
    if "no" in answers:
        return "no"
    if answers and all(a == "yes" for a in answers):
        return "yes"
    return "unknown"


def versions_at_end(u: User) -> dict[str, list[str]]:
    """Per tool, the releases the persona still ran when the window closed (an upgrade retires one)."""
    out: dict[str, list[str]] = {}
    for tool in (AZURE_CLI, AZURE_POWERSHELL):
        seen = list(u.versions_seen.get(tool, []))
        retired = u.upgraded_from.get(tool)
        if retired and len(seen) > 1:
            seen = [v for v in seen if v != retired]
        if seen:
            out[tool] = seen
    return out


def version_expectations(at_end: dict[str, list[str]]) -> tuple[str, bool | None]:
    """(what a correct reader of the logs says, whether every release in use really is ready).

    A release in :data:`kitlib.demo.facts.UNREADABLE_RELEASES` sends the same library string as a
    release across the threshold, so the right answer for it is ``unknown``.
    """
    if not at_end:
        return "", None
    per_tool = []
    ready = True
    for tool, releases in at_end.items():
        threshold = parse_version(CLAIMS_THRESHOLD[tool])
        answers = []
        for release in releases:
            is_ready = parse_version(release) >= threshold
            ready = ready and is_ready
            answers.append("unknown" if (tool, release) in UNREADABLE_RELEASES else "yes" if is_ready else "no")
        per_tool.append(_combine(answers))
    combined = "no" if "no" in per_tool else "unknown" if "unknown" in per_tool else "yes"
    return combined, ready


def ground_truth(t: Tenant, s: dict[str, Arr], o: dict[str, Arr], seed: int, now: dt.datetime) -> dict[str, Any]:
    """Per user identity: the expected verdict, counts, automation, direction and versions, from the intents."""
    n_users = t.n_users
    touched = np.zeros(n_users, dtype=bool)
    arm = s["res"] == RES_ARM
    touched[s["user"][arm]] = True
    succeeded = np.array([a.result == "0" for a in AUTHS])
    token_mfa = np.array([a.intent_mfa for a in AUTHS])
    single_factor = arm & succeeded[s["auth"]] & ~token_mfa[s["auth"]]
    single_factor_tokens = np.bincount(s["user"][single_factor], minlength=n_users)

    users_op = o["prin"] < n_users
    prin = o["prin"][users_op]
    touched[prin] = True
    kind = OP_KIND[o["op"][users_op]]
    with_mfa = CLAIM_MFA[o["amr"][users_op]]
    refused = o["pat"][users_op] == PAT_RBAC
    corr = np.where(o["corr"] >= 0, o["corr"], np.arange(len(o["ts"])))[users_op]
    evaluated = kind != KIND_ACTION

    def distinct(mask: Arr) -> Arr:
        keys = np.unique(prin[mask].astype(np.int64) * (len(o["ts"]) + 1) + corr[mask])
        return np.bincount((keys // (len(o["ts"]) + 1)).astype(np.int64), minlength=n_users)

    writes = distinct(evaluated & ~refused)
    writes_no_mfa = distinct(evaluated & ~refused & ~with_mfa)
    writes_refused = distinct(evaluated & refused)
    actions_no_mfa = distinct(~evaluated & ~refused & ~with_mfa)

    identities = []
    for u in t.users:
        if not touched[u.idx]:
            continue
        if writes_no_mfa[u.idx] > 0:
            verdict = "will_break"
        elif single_factor_tokens[u.idx] > 0:
            verdict = "at_risk"
        else:
            verdict = "not_affected"
        tools = sorted(u.tools)
        tool_versions = {}
        for tool in tools:
            if tool == "azure-cli" and u.cli_version:
                tool_versions[tool] = u.cli_version
            elif tool == "azure-powershell" and u.ps_version:
                tool_versions[tool] = u.ps_version
            elif tool in u.extra_tools:
                tool_versions[tool] = u.extra_tools[tool]
        at_end = versions_at_end(u)
        expected_version_ok, version_ready = version_expectations(at_end)
        direction = "inbound" if u.guest else "outbound" if u.persona == "outbound_member" else ""
        identities.append(
            {
                "identity": u.upn.lower(),
                "user_id": u.user_id,
                "persona": u.persona,
                "expected_verdict": verdict,
                "automation": u.automation,
                "ropc": u.ropc,
                "guest": u.guest,
                "guest_direction": direction,
                "breakglass": u.breakglass,
                "tools": tools,
                "tool_versions": tool_versions,
                "versions_seen": {tool: list(seen) for tool, seen in sorted(u.versions_seen.items())},
                "versions_at_end": at_end,
                "expected_version_ok": expected_version_ok,
                "version_ready": version_ready,
                "arm_writes": int(writes[u.idx]),
                "arm_writes_without_mfa": int(writes_no_mfa[u.idx]),
                "writes_refused_rbac": int(writes_refused[u.idx]),
                "actions_without_mfa": int(actions_no_mfa[u.idx]),
                "single_factor_tokens": int(single_factor_tokens[u.idx]),
            }
        )
    identities.sort(key=lambda x: str(x["identity"]))
    return {
        "generator": {
            "seed": seed,
            "users": n_users,
            "days": t.days,
            "now": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kit_version": __version__,
        },
        "identities": identities,
        "workload_identities": [
            {"id": wl.object_id, "app_id": wl.app_id, "kind": wl.kind, "name": wl.name} for wl in t.workloads
        ],
        "policy_audit_subscriptions": [t.subs[i][0] for i in AUDIT_SUBS],
    }
