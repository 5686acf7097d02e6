"""Fixed facts the logs are read with: Microsoft's app and resource ids, tool families, policy ids.

One copy each. The queries hold the same ids as KQL literals (they must run pasted into the
portal); a test checks that the literals there match these. Sources: ``phase2-domain.md``
sections 1.3 (app and resource ids), 1.4 (the built-in MFA policies and the ``sys.mfa-*``
system assignments) and 2.5 (claim names).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Windows Azure Service Management API: the audience of every ARM token, whatever the client.
ARM_RESOURCE_ID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
ARM_RESOURCE_NAME = "Windows Azure Service Management API"

AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
AZURE_POWERSHELL_APP_ID = "1950a258-227b-4e31-a9cf-717495945fc2"
AZURE_PORTAL_APP_ID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
VISUAL_STUDIO_APP_ID = "872cd9fa-d31f-45e0-9eab-6e460a02d1f1"
VS_CODE_APP_ID = "aebc6443-996d-45c2-90f0-388ff96faa56"
AZURE_MOBILE_APP_ID = "0c1307d4-29d6-4389-a11c-5cbe7f65d7fa"

#: First-party client apps seen in sign-in and activity logs, by product name.
APP_NAMES: Mapping[str, str] = {
    AZURE_CLI_APP_ID: "Azure CLI",
    AZURE_POWERSHELL_APP_ID: "Azure PowerShell",
    AZURE_PORTAL_APP_ID: "Azure Portal",
    VISUAL_STUDIO_APP_ID: "Visual Studio",
    VS_CODE_APP_ID: "Visual Studio Code",
    AZURE_MOBILE_APP_ID: "Azure mobile app",
}

# -- tool families (identities.csv ``tools``) ---------------------------------------------------
AZURE_CLI = "azure-cli"
AZURE_POWERSHELL = "azure-powershell"
TERRAFORM = "terraform"
BICEP = "bicep"
AZURE_SDK = "azure-sdk"
ANSIBLE = "ansible"
PORTAL = "portal"
OTHER = "other"
#: The families in the order every list and table shows them.
TOOL_ORDER: tuple[str, ...] = (AZURE_CLI, AZURE_POWERSHELL, TERRAFORM, BICEP, AZURE_SDK, ANSIBLE, PORTAL, OTHER)
#: A family by its product name, for tables and figures.
TOOL_LABELS: Mapping[str, str] = {
    AZURE_CLI: "Azure CLI",
    AZURE_POWERSHELL: "Az PowerShell",
    TERRAFORM: "Terraform",
    BICEP: "Bicep/ARM templates",
    AZURE_SDK: "Azure SDK",
    ANSIBLE: "Ansible",
    PORTAL: "Azure Portal",
    OTHER: "other client",
}
#: A family as a sentence names it ("via Azure CLI, an Azure SDK"), for reasons and advice.
TOOL_PROSE: Mapping[str, str] = {
    AZURE_CLI: "Azure CLI",
    AZURE_POWERSHELL: "Az PowerShell",
    TERRAFORM: "Terraform",
    BICEP: "Bicep/ARM templates",
    AZURE_SDK: "an Azure SDK",
    ANSIBLE: "Ansible",
    PORTAL: "the Azure portal",
    OTHER: "another client",
}
#: The family of a first-party client app id (other apps are told apart by their user agent).
APP_FAMILIES: Mapping[str, str] = {
    AZURE_CLI_APP_ID: AZURE_CLI,
    AZURE_POWERSHELL_APP_ID: AZURE_POWERSHELL,
    AZURE_PORTAL_APP_ID: PORTAL,
    AZURE_MOBILE_APP_ID: OTHER,
    VISUAL_STUDIO_APP_ID: OTHER,
    VS_CODE_APP_ID: OTHER,
}

# -- claims and policies ------------------------------------------------------------------------
#: The ``amr`` claim as AzureActivity's ``Claims_d`` names it.
AMR_CLAIM = "http://schemas.microsoft.com/claims/authnmethodsreferences"
#: Built-in "Users must authenticate with MFA to create or update / to delete resources".
POLICY_WRITE_DEFINITION = "4e6c27d5-a6ee-49cf-b2b4-d8fe90fa2b8b"
POLICY_DELETE_DEFINITION = "db4a9d17-db75-4f46-9fcb-9f9526604417"
#: The system assignments of enforcement, and the definition ids third parties report for them.
SYS_WRITE_ASSIGNMENT = "sys.mfa-write"
SYS_DELETE_ASSIGNMENT = "sys.mfa-delete"
SYS_WRITE_DEFINITION = "54f51f64-eaa5-44cf-8674-830bcfd14d21"
SYS_DELETE_DEFINITION = "f69cd8b8-9a6e-46b4-be84-244e8b127944"


def tool_family(app_id: str | None, user_agent: str | None = "", protocol: str | None = "") -> str:
    """Tool family of a token request or write from its client app id (and user agent).

    The Azure CLI app id is shared: an Azure SDK script (``azsdk-python-identity`` user agent)
    borrowing it is ``azure-sdk``, and with ROPC it is ``ansible`` (inferred: azure.azcollection's
    ad_user/password login does exactly this, and so could any Python script).
    """
    app = (app_id or "").lower()
    agent = (user_agent or "").lower()
    family = APP_FAMILIES.get(app)
    if family == AZURE_CLI:
        if agent.startswith("azsdk-python-identity"):
            return ANSIBLE if (protocol or "").lower() == "ropc" else AZURE_SDK
        return AZURE_CLI
    if family:
        return family
    if "ansible" in agent:
        return ANSIBLE
    if agent.startswith("azsdk-"):
        return AZURE_SDK
    return OTHER


def tool_families(app_ids: pd.Series, user_agents: pd.Series, protocols: pd.Series) -> pd.Series:
    """:func:`tool_family` for whole columns at once (same rules, same order of tests)."""
    app = app_ids.fillna("").astype(str).str.lower()
    agent = user_agents.fillna("").astype(str).str.lower()
    ropc = protocols.fillna("").astype(str).str.lower() == "ropc"
    known = app.map(APP_FAMILIES)
    python_identity = agent.str.startswith("azsdk-python-identity")
    borrowed_cli = known == AZURE_CLI
    family = np.select(
        [
            borrowed_cli & python_identity & ropc,
            borrowed_cli & python_identity,
            known.notna(),
            agent.str.contains("ansible", regex=False),
            agent.str.startswith("azsdk-"),
        ],
        [ANSIBLE, AZURE_SDK, known.fillna(OTHER), ANSIBLE, AZURE_SDK],
        default=OTHER,
    )
    return pd.Series(family, index=app_ids.index, dtype=object)
