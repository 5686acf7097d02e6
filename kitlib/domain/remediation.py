"""What to do about each identity, in the order it should be done.

The advice follows the evidence: automation cannot do MFA and must move to a workload identity;
a person needs an MFA method and a Conditional Access policy that asks for it on Azure
management; an old client needs an upgrade so a blocked write tells the user how to step up;
an account with too little activity to place needs a look from its owner; unknown evidence
needs the missing logs. Each step is one row of :data:`STEPS` (when it applies, and its words);
each text is short enough for one CSV cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd

from kitlib.domain.versions import CLAIMS_THRESHOLD


@dataclass(frozen=True)
class Situation:
    """The facts about one identity that decide its remediation."""

    verdict: str  # will_break | at_risk | not_affected | unknown
    automation_band: str  # likely_automation | review | human | insufficient_evidence
    tools: tuple[str, ...]
    version_ok: str  # yes | no | unknown
    ropc: bool
    guest: bool
    cross_tenant: bool
    breakglass: bool
    unknown_reason: str = ""
    deployments: bool = False
    guest_direction: str = ""  # inbound | outbound | ""
    actions_without_mfa: int = 0  # POST /action operations without MFA (not evaluated by Phase 2)


WORKLOAD_IDENTITY = (
    "Move this job to a workload identity: a managed identity where it runs on Azure (VM, self-hosted agent, "
    "Functions, Automation), otherwise a service principal with a federated credential (GitHub Actions, "
    "Azure DevOps, Kubernetes); give it the same RBAC roles, then remove the user account's Azure roles"
)
HUMAN_MFA = (
    "Register an MFA method (aka.ms/setupMFA) and require MFA for 'Windows Azure Service Management API' "
    "with a Conditional Access policy, so every token used for writes carries MFA before enforcement"
)
BREAKGLASS = (
    "Emergency-access account (excluded from counts): mandatory MFA applies to it too; give it a "
    "phishing-resistant method (FIDO2 key or certificate) and keep it out of routine ARM writes"
)
LOOK_CLOSER = (
    "Too little activity to tell a person from a job: ask the owner who or what uses this account, and re-run "
    "with a longer window (--lookback 90d) or with the sign-in tables if they are missing; a job moves to a "
    "workload identity, a person registers MFA"
)

Frame: TypeAlias = pd.DataFrame
Words: TypeAlias = "Callable[[Frame], pd.Series] | str"


def _has_tool(f: Frame, tool: str) -> pd.Series:
    return (";" + f["tools"].astype(str) + ";").str.contains(";" + tool + ";", regex=False)


def _breaking(f: Frame) -> pd.Series:
    return f["verdict"].isin(["will_break", "at_risk"])


def _automation(f: Frame) -> pd.Series:
    return (f["automation_band"] == "likely_automation") | f["ropc"].astype(bool)


#: (step, when it applies, its words). Evaluated for every identity at once, joined in this order.
STEPS: tuple[tuple[str, Callable[[Frame], pd.Series], Words], ...] = (
    (
        "missing_evidence",
        lambda f: f["verdict"] == "unknown",
        lambda f: (
            "Evidence missing ("
            + f["unknown_reason"].where(f["unknown_reason"] != "", "see reasons")
            + "): send the subscription activity log (AzureActivity) and both user sign-in tables to the workspace, "
            "then re-run"
        ),
    ),
    (
        "stop_ropc",
        lambda f: f["ropc"].astype(bool),
        "Stop signing in with username and password (ROPC: az login -u -p, Connect-AzAccount -Credential, "
        "UsernamePasswordCredential, Ansible ad_user/password): ROPC can never satisfy MFA",
    ),
    (
        # A password in a script is automation whatever its verdict: even a reader must move, since
        # the first write it attempts will be refused.
        "workload_identity",
        lambda f: f["ropc"].astype(bool) | (_automation(f) & f["verdict"].isin(["will_break", "at_risk", "unknown"])),
        WORKLOAD_IDENTITY,
    ),
    (
        "ask_owner",
        lambda f: ~_automation(f) & (f["automation_band"] == "review") & _breaking(f),
        "Ask the owner whether a person or a scheduled job uses this account; a job moves to a workload "
        "identity, a person registers MFA and signs in with it",
    ),
    (
        "look_closer",
        lambda f: ~_automation(f) & (f["automation_band"] == "insufficient_evidence") & _breaking(f),
        LOOK_CLOSER,
    ),
    (
        "human_mfa",
        lambda f: ~_automation(f) & f["automation_band"].isin(["human"]) & _breaking(f),
        HUMAN_MFA,
    ),
    (
        "upgrade_cli",
        lambda f: ~_automation(f) & _breaking(f) & (f["version_ok"] == "no") & _has_tool(f, "azure-cli"),
        f"Upgrade Azure CLI to {CLAIMS_THRESHOLD['azure-cli']} or later (az upgrade) so a refused write prints the "
        "az login --claims-challenge command",
    ),
    (
        "upgrade_powershell",
        lambda f: ~_automation(f) & _breaking(f) & (f["version_ok"] == "no") & _has_tool(f, "azure-powershell"),
        f"Update Az PowerShell to Az 14.3.0 / Az.Accounts {CLAIMS_THRESHOLD['azure-powershell']} or later "
        "(Connect-AzAccount -ClaimsChallenge)",
    ),
    (
        "check_client",
        lambda f: (
            ~_automation(f)
            & _breaking(f)
            & (f["version_ok"] == "unknown")
            & (_has_tool(f, "azure-cli") | _has_tool(f, "azure-powershell"))
        ),
        "Check the installed client (az version, Get-Module Az.Accounts -ListAvailable): Azure CLI >= 2.76.0 and "
        "Az.Accounts >= 5.2.0 turn the refusal into a re-login prompt; the logs cannot tell 2.75 from 2.76",
    ),
    (
        "inbound_guest",
        lambda f: (f["guest_direction"] == "inbound") | (f["guest"].astype(bool) & (f["guest_direction"] == "")),
        "Guest / cross-tenant: MFA must satisfy this tenant, either done here or trusted from the home tenant "
        "in cross-tenant access settings (inbound MFA trust)",
    ),
    (
        "outbound_member",
        lambda f: f["guest_direction"] == "outbound",
        "Outbound: this account takes Azure tokens from another tenant, where Phase 2 applies too; register MFA "
        "here and ask that tenant to trust it (inbound MFA trust in its cross-tenant access settings)",
    ),
    (
        "actions_only",
        lambda f: (f["verdict"] == "not_affected") & (f["actions_without_mfa"] > 0),
        "Nothing breaks today: POST actions (list keys, start, restart) are not evaluated by Phase 2, but they were "
        "made with single-factor ARM tokens; require MFA for this account before its first write",
    ),
    (
        "pipeline_deployments",
        lambda f: f["deployments"].astype(bool) & _automation(f),
        "Run the IaC deployments (Bicep/ARM/Terraform) from the pipeline's workload identity, not a user login",
    ),
)


def remediation_column(situations: Frame) -> pd.Series:
    """The remediation text of every identity: the applicable :data:`STEPS`, most urgent first.

    ``situations`` has the :class:`Situation` fields as columns (``tools`` joined by ';').
    """
    f = situations
    text = pd.Series("", index=f.index, dtype=object)
    for _name, applies, words in STEPS:
        mask = applies(f).fillna(False).astype(bool)
        value = words(f) if callable(words) else words
        step = value if isinstance(value, pd.Series) else pd.Series(value, index=f.index, dtype=object)
        text = text.mask(mask & (text != ""), text + " | " + step).mask(mask & (text == ""), step)
    nothing = np.where(
        f["verdict"] == "not_affected",
        "No action: every ARM write in the window carried MFA, or the account only read",
        "No action identified",
    )
    text = text.where(text != "", pd.Series(nothing, index=f.index, dtype=object))
    return text.where(~f["breakglass"].astype(bool), BREAKGLASS)


def remediation(s: Situation) -> str:
    """Plain-words steps for one identity, most urgent first, joined by ' | '."""
    row = asdict(s)
    row["tools"] = ";".join(s.tools)
    return str(remediation_column(pd.DataFrame([row])).iloc[0])
