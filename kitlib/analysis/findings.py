"""Findings worded from the analysis: what is most urgent, who is on a too-old client, what to do first.

Each function reads the identities.csv frame (break-glass rows left out of every count), so
every page that shows one of these numbers or sentences gets the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from kitlib.analysis.model import split_items

#: What the kit cannot see without each table, in the words a page uses when it could not look.
UNSEEN: Mapping[str, str] = {
    "AzureActivity": (
        "Azure Resource Manager create, update and delete operations: who would break, the writes made "
        "without MFA and where they land, MFA policy events, and when accounts write"
    ),
    "SigninLogs": (
        "interactive sign-ins: which tools and versions take ARM tokens, whether those tokens carried MFA, "
        "password sign-ins from scripts (ROPC), devices and addresses"
    ),
    "AADNonInteractiveUserSignInLogs": (
        "non-interactive token refreshes, where most Azure CLI and PowerShell traffic for ARM lands "
        "(the kit reads the two user sign-in tables together)"
    ),
    "AADServicePrincipalSignInLogs": (
        "service principal sign-ins: workload identities can no longer be told apart from users by their "
        "sign-ins, and what already moved to a workload identity cannot be shown"
    ),
    "AADManagedIdentitySignInLogs": (
        "managed identity sign-ins: managed identities can no longer be told apart from users by their sign-ins"
    ),
}

#: Where the identities of a page come from: ARM writes, and ARM token sign-ins.
IDENTITY_SOURCES: tuple[str, ...] = ("AzureActivity", "SigninLogs", "AADNonInteractiveUserSignInLogs")


def gap_lines(missing_tables: Iterable[str]) -> list[str]:
    """One plain sentence per absent table: what the report could not judge without it, and why."""
    lines = []
    for table in dict.fromkeys(missing_tables):
        unseen = UNSEEN.get(table, "what it holds")
        lines.append(f"could not look at {unseen}: table {table} is not in the workspace")
    return lines


#: The short name of what each table shows, for a sentence in place ("... so no ARM writes here").
SHOWS: Mapping[str, str] = {
    "AzureActivity": "ARM writes",
    "SigninLogs": "interactive sign-ins",
    "AADNonInteractiveUserSignInLogs": "non-interactive token refreshes",
    "AADServicePrincipalSignInLogs": "service principal sign-ins",
    "AADManagedIdentitySignInLogs": "managed identity sign-ins",
}


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def could_not_look(missing: Sequence[str], unread: Sequence[str] = ()) -> str:
    """The in-place sentence for a section whose ``missing`` tables are absent (empty when none is).

    ``unread`` are present tables the section's query reads together with an absent one, so
    they were not read either (the two user sign-in tables, say): the sentence says so.
    """
    if not missing:
        return ""
    verb = "is" if len(missing) == 1 else "are"
    text = (
        f"Could not look: {_listed(list(missing))} {verb} not in this workspace, so this section shows no "
        f"{_listed([SHOWS.get(t, t) for t in missing])}"
    )
    if unread:
        pronoun = "it" if len(missing) == 1 else "them"
        verb = "was" if len(unread) == 1 else "were"
        text += f"; {_listed(list(unread))}, read together with {pronoun}, {verb} not read either"
    return text + "."


def no_activity_text(unread: Sequence[str], absent: Sequence[str]) -> str:
    """The empty state of a page, said only as far as the logs that show ARM activity were read.

    ``unread`` are the tables of :data:`IDENTITY_SOURCES` the analysis could not read, ``absent``
    those of them not in the workspace. "No user identity touched ARM" is a finding only when
    every source was read; otherwise the page could not look, or looked in part of the logs.
    """
    if not unread:
        return "No ARM activity by user identities in this window: there is nothing to show here."
    read = [t for t in IDENTITY_SOURCES if t not in set(unread)]
    why = f"{_listed(list(absent))} {'is' if len(absent) == 1 else 'are'} not in this workspace" if absent else ""
    if len(absent) < len(unread):
        why += (
            ("; " if why else "")
            + f"{_listed([t for t in unread if t not in set(absent)])} could not be read without "
            + ("it" if len(absent) == 1 else "them")
        )
    if not read:
        return (
            f"Could not look for ARM activity by user identities: {why}. An empty page here is not a finding: "
            f"nobody can be said to be safe."
        )
    return (
        f"No ARM activity by user identities seen in {_listed(read)}, but could not look in {_listed(list(unread))} "
        f"({why}): identities that only show there are not on this page."
    )


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


def next_steps(
    identities: pd.DataFrame, policy: pd.DataFrame | None = None, missing_tables: Iterable[str] = ()
) -> list[str]:
    """What to do first, most urgent first, worded from the analysis (break-glass rows left out).

    ``identities`` has the identities.csv columns; ``policy`` is the ``arm_policy_mfa_events``
    frame (``Action`` audit/deny/denyaction, ``Operations``, ``Subscriptions``). With
    ``missing_tables`` the first steps are to send them, and nothing the absent logs would have
    shown is claimed (no "nothing to fix", no audit-policy advice without the activity log).
    """
    ids = identities[~identities["breakglass"].astype(bool)] if "breakglass" in identities else identities
    policy = policy if policy is not None else pd.DataFrame(columns=["Action", "Operations", "Subscriptions"])
    actions = policy["Action"].astype(str).str.lower()
    missing = list(dict.fromkeys(missing_tables))
    steps: list[str] = []
    essential = [t for t in IDENTITY_SOURCES if t in missing]
    if essential:
        steps.append(
            f"Send {', '.join(essential)} to the workspace (kitlib doctor says how): without "
            f"{'it' if len(essential) == 1 else 'them'} this report could not look at "
            + "; ".join(UNSEEN[t] for t in essential)
            + "."
        )
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
    unknown = ids[ids["verdict"] == "unknown"]
    if len(unknown):
        steps.append(
            f"Judge {count_words(len(unknown), 'identity', 'identities')} again once the missing logs arrive: "
            f"the evidence for their verdict is not in this workspace."
        )
    if "AzureActivity" not in missing and not actions.str.startswith("audit").any():
        steps.append(
            "Assign the built-in audit policies 'Users must authenticate with multi-factor authentication to "
            "create or update resources' (4e6c27d5-...) and '... to delete resources' (db4a9d17-...): the "
            "activity log then records Microsoft's own verdict for every write without MFA."
        )
    if not steps:
        steps.append("Nothing to fix in this window: every user write to Azure Resource Manager carried MFA.")
    return steps
