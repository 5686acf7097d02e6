"""Findings worded from the analysis: what is most urgent, who is on a too-old client, what to do first.

Each function reads the identities.csv frame (break-glass rows left out of every count), so
every page that shows one of these numbers or sentences gets the same one.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from kitlib.analysis.model import split_items

#: Order of severity for lists of identities (most urgent first).
SEVERITY: Mapping[str, int] = {"will_break": 0, "at_risk": 1, "unknown": 2, "not_affected": 3}


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


def count_words(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


def top_names(frame: pd.DataFrame, by: str, n: int = 3) -> str:
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
        writes = count_words(int(denied["Operations"].sum()), "write", "writes")
        steps.append(
            f"Enforcement is already visible: {writes} denied for missing MFA on "
            f"{count_words(len(subs), 'subscription', 'subscriptions')}. Fix the identities below before it spreads."
        )
    breaking = ids[ids["verdict"] == "will_break"]
    automation = breaking[breaking["automation_band"] == "likely_automation"]
    if len(automation):
        ropc = automation[automation["ropc"].astype(bool)]
        ropc_words = f"; {len(ropc):,} sign in with a password (ROPC) and can never pass MFA" if len(ropc) else ""
        who = count_words(len(automation), "automation account", "automation accounts")
        steps.append(
            f"Move {who} that write without MFA to workload identities (managed identity, or a service "
            f"principal with a federated credential){ropc_words}: {top_names(automation, 'arm_writes_without_mfa')}."
        )
    people = breaking[breaking["automation_band"] != "likely_automation"]
    if len(people):
        who = count_words(len(people), "identity", "identities")
        steps.append(
            f"Require MFA for Azure management (a Conditional Access policy) for {who} that write without it, "
            f"starting with {top_names(people, 'arm_writes_without_mfa')}."
        )
    old = below_claims_versions(ids)
    if old["below_claims_versions_will_break_or_at_risk"]:
        upgrade = old["below_claims_versions_will_break_or_at_risk"]
        steps.append(
            f"Upgrade the clients of {count_words(upgrade, 'identity', 'identities')} that would break or are at risk "
            f"to Azure CLI 2.76+ / Az PowerShell 14.3+ (Az.Accounts 5.2+): older ones cannot turn ARM's claims "
            f"challenge into a re-login prompt ({count_words(old['below_claims_versions'], 'identity', 'identities')} "
            f"in all on a too-old client)."
        )
    guests = breaking[breaking["guest"].astype(bool)]
    if len(guests):
        steps.append(
            f"Agree MFA with the home tenants of {count_words(len(guests), 'guest account', 'guest accounts')}: "
            f"MFA must satisfy this tenant or be trusted through cross-tenant access settings."
        )
    at_risk = ids[ids["verdict"] == "at_risk"]
    if len(at_risk):
        steps.append(
            f"Watch {count_words(len(at_risk), 'at-risk identity', 'at-risk identities')}: they take single-factor "
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
