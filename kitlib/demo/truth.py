"""The ground truth: what the analysis should conclude per user identity, counted from the rows emitted.

Never from the persona label: a persona only makes some rows likely, and the score is only fair
if the expected verdict agrees with what the logs actually show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from kitlib.demo.columns import Arr
from kitlib.demo.facts import AMR_HAS_MFA, AUDIT_SUBS, AUTHS, KIND_ACTION, OP_KIND, RES_ARM, TOOL_APPS
from kitlib.demo.planner import Tenant
from kitlib.version import __version__


def ground_truth(t: Tenant, s: dict[str, Arr], o: dict[str, Arr], seed: int, now: dt.datetime) -> dict[str, Any]:
    """Per user identity: verdict, counts and tools, computed from the emitted rows.

    ``will_break`` = at least one Administrative ``/write`` or ``/delete`` operation (any status) by
    the user whose token's amr lacks ``mfa``; ``at_risk`` = none, but a successful ARM token from the
    Azure CLI / Az PowerShell apps with ``singleFactorAuthentication`` and no MFA satisfied (neither
    "MFA requirement satisfied by claim in the token" nor "MFA successfully completed" in
    ``AuthenticationDetails``/``Status``), or a non-MFA ``/action`` operation; ``not_affected``
    otherwise. Operations are counted as distinct CorrelationIds. Failed sign-ins to ARM from users
    that would otherwise be ``not_affected`` always require MFA, so counting failed rows or not does
    not change a verdict.
    """

    n_users = t.n_users
    touched = np.zeros(n_users, dtype=bool)
    arm = s["res"] == RES_ARM
    touched[s["user"][arm]] = True
    results = np.array([a.result for a in AUTHS])
    requirement_sf = np.array([a.requirement == "singleFactorAuthentication" for a in AUTHS])
    satisfied = np.array([a.mfa_satisfied for a in AUTHS])
    sf_token = (
        arm
        & np.isin(s["app"], list(TOOL_APPS))
        & (results[s["auth"]] == "0")
        & requirement_sf[s["auth"]]
        & ~satisfied[s["auth"]]
    )
    sf_tokens = np.bincount(s["user"][sf_token], minlength=n_users)

    users_op = o["prin"] < n_users
    prin = o["prin"][users_op]
    touched[prin] = True
    kind = OP_KIND[o["op"][users_op]]
    mfa = AMR_HAS_MFA[o["amr"][users_op]]
    corr = np.where(o["corr"] >= 0, o["corr"], np.arange(len(o["ts"])))[users_op]
    writeish = kind != KIND_ACTION

    def distinct(mask: Arr) -> Arr:
        keys = np.unique(prin[mask].astype(np.int64) * (len(o["ts"]) + 1) + corr[mask])
        return np.bincount((keys // (len(o["ts"]) + 1)).astype(np.int64), minlength=n_users)

    writes = distinct(writeish)
    writes_no_mfa = distinct(writeish & ~mfa)
    actions_no_mfa = distinct(~writeish & ~mfa)

    identities = []
    for u in t.users:
        if not touched[u.idx]:
            continue
        if writes_no_mfa[u.idx] > 0:
            verdict = "will_break"
        elif sf_tokens[u.idx] > 0 or actions_no_mfa[u.idx] > 0:
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
        identities.append(
            {
                "identity": u.upn.lower(),
                "user_id": u.user_id,
                "persona": u.persona,
                "expected_verdict": verdict,
                "automation": u.automation,
                "ropc": u.ropc,
                "guest": u.guest,
                "breakglass": u.breakglass,
                "tools": tools,
                "tool_versions": tool_versions,
                "arm_writes": int(writes[u.idx]),
                "arm_writes_without_mfa": int(writes_no_mfa[u.idx]),
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
