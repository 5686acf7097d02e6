"""What to do about each identity, in the order it should be done.

The advice follows the evidence: automation cannot do MFA and must move to a workload identity;
a person needs an MFA method and a Conditional Access policy that asks for it on Azure
management; an old client needs an upgrade so a blocked write tells the user how to step up;
unknown evidence needs the missing logs. Each text is short enough for one CSV cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from kitlib.domain.versions import CLAIMS_THRESHOLD


@dataclass(frozen=True)
class Situation:
    """The facts about one identity that decide its remediation."""

    verdict: str  # will_break | at_risk | not_affected | unknown
    automation_band: str  # likely_automation | review | human
    tools: tuple[str, ...]
    version_ok: str  # yes | no | unknown
    ropc: bool
    guest: bool
    cross_tenant: bool
    breakglass: bool
    unknown_reason: str = ""
    deployments: bool = False


WORKLOAD_IDENTITY = (
    "Move this job to a workload identity: a managed identity where it runs on Azure (VM, self-hosted agent, "
    "Functions, Automation), otherwise a service principal with a federated credential (GitHub Actions, "
    "Azure DevOps, Kubernetes); give it the same RBAC roles, then remove the user account's Azure roles"
)
HUMAN_MFA = (
    "Register an MFA method (aka.ms/setupMFA) and require MFA for 'Windows Azure Service Management API' "
    "with a Conditional Access policy, so every token used for writes carries MFA before enforcement"
)


def remediation(s: Situation) -> str:
    """Plain-words steps for one identity, most urgent first, joined by ' | '."""
    steps: list[str] = []
    if s.breakglass:
        steps.append(
            "Emergency-access account (excluded from counts): mandatory MFA applies to it too; give it a "
            "phishing-resistant method (FIDO2 key or certificate) and keep it out of routine ARM writes"
        )
        return " | ".join(steps)
    if s.verdict == "unknown":
        steps.append(
            f"Evidence missing ({s.unknown_reason or 'see reasons'}): send the subscription activity log "
            "(AzureActivity) and both user sign-in tables to the workspace, then re-run"
        )
    if s.ropc:
        steps.append(
            "Stop signing in with username and password (ROPC: az login -u -p, Connect-AzAccount -Credential, "
            "UsernamePasswordCredential, Ansible ad_user/password): ROPC can never satisfy MFA"
        )
    automation = s.automation_band == "likely_automation" or s.ropc
    # A password in a script is automation whatever its verdict: even a reader must move, since
    # the first write it attempts will be refused.
    if s.ropc or (automation and s.verdict in ("will_break", "at_risk", "unknown")):
        steps.append(WORKLOAD_IDENTITY)
    elif s.automation_band == "review" and s.verdict in ("will_break", "at_risk"):
        steps.append(
            "Ask the owner whether a person or a scheduled job uses this account; a job moves to a workload "
            "identity, a person registers MFA and signs in with it"
        )
    elif s.verdict in ("will_break", "at_risk"):
        steps.append(HUMAN_MFA)
    if s.verdict in ("will_break", "at_risk") and not automation:
        if s.version_ok == "no":
            if "azure-cli" in s.tools:
                steps.append(
                    f"Upgrade Azure CLI to {CLAIMS_THRESHOLD['azure-cli']} or later (az upgrade) so a refused write "
                    "prints the az login --claims-challenge command"
                )
            if "azure-powershell" in s.tools:
                steps.append(
                    f"Update Az PowerShell to Az 14.3.0 / Az.Accounts {CLAIMS_THRESHOLD['azure-powershell']} or later "
                    "(Connect-AzAccount -ClaimsChallenge)"
                )
        elif s.version_ok == "unknown" and ("azure-cli" in s.tools or "azure-powershell" in s.tools):
            steps.append(
                "Check the installed client (az version, Get-Module Az.Accounts -ListAvailable): "
                "Azure CLI >= 2.76.0 "
                "and Az.Accounts >= 5.2.0 turn the refusal into a re-login prompt; the logs cannot tell 2.75 from 2.76"
            )
    if s.guest or s.cross_tenant:
        steps.append(
            "Guest / cross-tenant: MFA must satisfy this tenant, either done here or trusted from the home tenant "
            "in cross-tenant access settings (inbound MFA trust)"
        )
    if s.deployments and automation:
        steps.append(
            "Run the IaC deployments (Bicep/ARM/Terraform) from the pipeline's workload identity, not a user login"
        )
    if not steps:
        if s.verdict == "not_affected":
            steps.append("No action: every ARM write in the window carried MFA, or the account only read")
        else:
            steps.append("No action identified")
    return " | ".join(steps)
