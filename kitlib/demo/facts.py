"""Fixed facts of the demo tenant: its names, places and tool releases, and the code tables rows are planned in.

The planner stores small integers (an app, a sign-in outcome, an operation); the tables here say
what each integer means, so the materialiser can turn whole columns into text at once. Microsoft's
ids come from :mod:`kitlib.domain.apps` (one copy each); what is here is the demo's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kitlib.domain.apps import (
    ARM_RESOURCE_ID,
    ARM_RESOURCE_NAME,
    AZURE_CLI_APP_ID,
    AZURE_MOBILE_APP_ID,
    AZURE_PORTAL_APP_ID,
    AZURE_POWERSHELL_APP_ID,
    VS_CODE_APP_ID,
)

# ---------------------------------------------------------------------------------------------
# Fixed facts (phase2-domain.md 2.x)
# ---------------------------------------------------------------------------------------------
DOMAIN = "contoso.example"
MFA_SATISFIED = "MFA requirement satisfied by claim in the token"
MFA_COMPLETED = "MFA successfully completed"

TABLE_NAMES = (
    "SigninLogs",
    "AADNonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs",
    "AzureActivity",
)
MIN_USERS = 45
# the plan's time unit is the microsecond
US = 1_000_000
MIN = 60 * US
HOUR = 60 * MIN
DAY = 24 * HOUR

PERSONA_SHARES: dict[str, float] = {
    "human_mfa": 0.20,
    "human_cli_partial_mfa": 0.12,
    "readonly_cli_single_factor": 0.05,
    "readonly_cli_mfa": 0.04,
    "portal_only": 0.12,
    "guest": 0.03,
    "cloud_shell": 0.03,
    "automation_ropc": 0.015,
    "automation_cli_agent": 0.025,
    "automation_deployment": 0.01,
    # the cases Microsoft's rule separates (see the persona table on planner.Tenant)
    "hello_writer": 0.01,
    "wia_writer": 0.01,
    "stepped_up": 0.015,
    "group_granted": 0.015,
    "rbac_refused": 0.01,
    "post_only": 0.01,
    "mobile_app": 0.01,
    "cli_and_cloudshell": 0.015,
    "upgraded_cli": 0.015,
    "one_event": 0.01,
    "outbound_member": 0.01,
    "mfa_hidden": 0.015,
}
PERSONA_MINIMUMS: dict[str, int] = {
    "human_mfa": 4,
    "human_cli_partial_mfa": 4,
    "readonly_cli_single_factor": 2,
    "readonly_cli_mfa": 2,
    "portal_only": 2,
    "guest": 3,
    "cloud_shell": 2,
    "automation_ropc": 4,
    "automation_cli_agent": 4,
    "automation_deployment": 2,
    "hello_writer": 1,
    "wia_writer": 1,
    "stepped_up": 1,
    "group_granted": 1,
    "rbac_refused": 1,
    "post_only": 1,
    "mobile_app": 1,
    "cli_and_cloudshell": 1,
    "upgraded_cli": 1,
    "one_event": 1,
    "outbound_member": 1,
    "mfa_hidden": 1,
}
AUTOMATION_PERSONAS = frozenset({"automation_ropc", "automation_cli_agent", "automation_deployment"})
BREAKGLASS_UPNS = ("breakglass01@contoso.example", "BreakGlass02@contoso.example")

#: Azure CLI releases given to identities (all in the versions mapping except the traps).
# fmt: off
CLI_VERSIONS = (
    "2.40.0", "2.45.0", "2.49.0", "2.53.1", "2.55.0", "2.57.0", "2.59.0", "2.61.0", "2.63.0", "2.64.0",
    "2.65.0", "2.67.0", "2.68.0", "2.70.0", "2.72.0", "2.74.0", "2.77.0", "2.79.0", "2.81.0", "2.83.0",
    "2.85.0", "2.87.0", "2.89.1", "2.90.0", "2.91.0",
)
# fmt: on
#: Version traps: pre-MSAL (ADAL), two releases sharing msal 1.33.0b1, and a future release.
CLI_TRAP_VERSIONS = ("2.9.1", "2.75.0", "2.76.0", "2.100.0")
#: Az.Accounts releases (the azure-powershell version the kit reasons about).
AZ_ACCOUNTS_VERSIONS = ("2.10.2", "2.12.1", "4.0.1", "5.2.0", "5.3.3", "5.3.4", "5.4.0", "5.5.1", "5.5.3")
TERRAFORM_VERSIONS = ("1.5.7", "1.9.8", "1.11.4", "1.13.3")
BICEP_VERSIONS = ("0.30.23", "0.33.93", "0.37.4")
ANSIBLE_VERSIONS = ("2.16.3", "2.17.5", "2.18.1")  # ansible-core
#: msal installed beside azure-identity in an Ansible venv: MSAL.Python, but no CLI pin.
ANSIBLE_MSAL = ("1.28.0", "1.30.0", "1.31.1", "1.32.3")
AZURE_IDENTITY_PY = ("1.17.1", "1.19.0", "1.21.0", "1.23.1")
#: What the sign-in logs can tell about a release, where it is not simply "at or above the
#: claims-challenge release or not" (hand-written from kitlib/data/*.csv, which the analysis reads
#: too; a demo release missing here is readable). Azure CLI 2.75.0 and 2.76.0 pin the same msal
#: (1.33.0b1); Az.Accounts 4.0.1 and 5.2.0 both name at least MSAL.NET 4.65.0, and no changelog
#: entry between them names another, so both sides of 5.2.0 send the same library string.
UNREADABLE_RELEASES = frozenset(
    {("azure-cli", "2.75.0"), ("azure-cli", "2.76.0"), ("azure-powershell", "4.0.1"), ("azure-powershell", "5.2.0")}
)
#: The laptop release of a cli_and_cloudshell user, and the before/after releases of an upgrade.
OLD_LAPTOP_CLI = ("2.61.0", "2.67.0", "2.70.0", "2.74.0")
UPGRADES = (("2.63.0", "2.85.0"), ("2.70.0", "2.89.1"), ("2.74.0", "2.91.0"), ("2.53.1", "2.81.0"))


# ---------------------------------------------------------------------------------------------
# Code tables for sign-in rows
# ---------------------------------------------------------------------------------------------
# apps: (AppId, AppDisplayName, ClientAppUsed)
APP_CLI, APP_PS, APP_PORTAL, APP_TEAMS, APP_OFFICE, APP_OFFICEHOME, APP_OWA, APP_MOBILE, APP_VSCODE = range(9)
APPS = (
    (AZURE_CLI_APP_ID, "Microsoft Azure CLI", "Mobile Apps and Desktop clients"),
    (AZURE_POWERSHELL_APP_ID, "Microsoft Azure PowerShell", "Mobile Apps and Desktop clients"),
    (AZURE_PORTAL_APP_ID, "Azure Portal", "Browser"),
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", "Mobile Apps and Desktop clients"),
    ("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office", "Mobile Apps and Desktop clients"),
    ("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", "Browser"),
    ("9199bf20-a13f-4107-85dc-02114787ef48", "One Outlook Web", "Browser"),
    (AZURE_MOBILE_APP_ID, "Azure Mobile App", "Mobile Apps and Desktop clients"),
    (VS_CODE_APP_ID, "Visual Studio Code", "Mobile Apps and Desktop clients"),
)
#: Each app's appidacr in activity-log claims (0: public client; the portal's samples show 2).
APP_ACR = ("0", "0", "2", "0", "0", "2", "2", "0", "0")
RES_ARM, RES_EXO, RES_GRAPH, RES_TEAMS, RES_SPO, RES_KV = range(6)
RESOURCES = (
    (ARM_RESOURCE_ID, ARM_RESOURCE_NAME),
    ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"),
    ("00000003-0000-0000-c000-000000000000", "Microsoft Graph"),
    ("cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services"),
    ("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"),
    ("cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault"),
)


@dataclass(frozen=True)
class Auth:
    """One way a sign-in can go: requirement, steps, status, result."""

    requirement: str
    steps: tuple[tuple[str, str, bool, str, str], ...]  # method, detail, succeeded, result, step
    result: str
    description: str
    status_extra: dict[str, str]
    methods_used: str
    mfa_detail: dict[str, str]
    ca_status: str
    mfa_satisfied: bool  # the logs say so (requirement MFA, or the claim's words in the details)
    intent_mfa: bool  # the token carries MFA (it may carry an earlier MFA the logs do not mention)


_PRIMARY = "Primary authentication"
_SECONDARY = "MFA"
_FAIL_50076 = (
    "Due to a configuration change made by your administrator, or because you moved to a new location, "
    f"you must use multi-factor authentication to access '{ARM_RESOURCE_ID}'."
)
_FAIL_50079 = (
    "Due to a configuration change made by your administrator, or because you moved to a new location, "
    f"you must enroll in multi-factor authentication to access '{ARM_RESOURCE_ID}'."
)
(
    A_MFA_PUSH,
    A_MFA_FIDO,
    A_MFA_CLAIM,
    A_SF_CLAIM_MFA,
    A_SF_PWD,
    A_SF_REFRESH,
    A_ROPC,
    F_50126,
    F_50076,
    F_50079,
    F_53003,
    A_SF_HIDDEN_MFA,
    A_HELLO,
) = range(13)
_WRONG_PASSWORD = "Error validating credentials due to invalid username or password."
_CA_BLOCK = "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."
_PWD_HASH = ("Password", "Password Hash Sync", True, "Correct password", _PRIMARY)
# fmt: off
AUTHS: tuple[Auth, ...] = (
    # A_MFA_PUSH: password + Authenticator push
    Auth("multiFactorAuthentication", (_PWD_HASH, ("Mobile app notification", "", True, MFA_COMPLETED, _SECONDARY)),
          "0", "", {}, "Password,Mobile app notification", {"authMethod": "Mobile app notification"}, "success", True,
          True),
    # A_MFA_FIDO
    Auth("multiFactorAuthentication", (("FIDO2 security key", "", True, MFA_COMPLETED, _PRIMARY),),
          "0", "", {}, "FIDO2 security key", {"authMethod": "FIDO2 security key"}, "success", True, True),
    # A_MFA_CLAIM: MFA required and carried by the refresh token / session
    Auth("multiFactorAuthentication", (("Previously satisfied", "", True, MFA_SATISFIED, _PRIMARY),),
          "0", "", {"additionalDetails": MFA_SATISFIED}, "", {}, "success", True, True),
    # A_SF_CLAIM_MFA: MFA not required, but the token carries it anyway (still MFA)
    Auth("singleFactorAuthentication", (("Previously satisfied", "", True, MFA_SATISFIED, _PRIMARY),),
          "0", "", {"additionalDetails": MFA_SATISFIED}, "", {}, "notApplied", True, True),
    # A_SF_PWD: interactive password only
    Auth("singleFactorAuthentication", (_PWD_HASH,), "0", "", {}, "Password", {}, "notApplied", False, False),
    # A_SF_REFRESH: refresh of a single-factor session
    Auth("singleFactorAuthentication",
          (("Previously satisfied", "", True, "First factor requirement satisfied by claim in the token", _PRIMARY),),
          "0", "", {}, "", {}, "notApplied", False, False),
    # A_ROPC
    Auth("singleFactorAuthentication", (("Password", "Password in the cloud", True, "Correct password", _PRIMARY),),
          "0", "", {}, "Password", {}, "notApplied", False, False),
    # F_50126: wrong or stale password
    Auth("singleFactorAuthentication",
          (("Password", "Password in the cloud", False, "Invalid username or password or Invalid on-premise "
            "username or password.", _PRIMARY),),
          "50126", _WRONG_PASSWORD, {"failureReason": _WRONG_PASSWORD}, "", {}, "notApplied", False, False),
    # F_50076: MFA required, not done
    Auth("multiFactorAuthentication",
          (_PWD_HASH, ("Mobile app notification", "", False, "MFA required in Azure AD", _SECONDARY)),
          "50076", _FAIL_50076, {"failureReason": _FAIL_50076}, "Password", {}, "failure", False, False),
    # F_50079: must enrol in MFA
    Auth("multiFactorAuthentication",
          (_PWD_HASH, ("", "", False, "User needs to enroll for second factor authentication", _SECONDARY)),
          "50079", _FAIL_50079, {"failureReason": _FAIL_50079}, "Password", {}, "failure", False, False),
    # F_53003: blocked by Conditional Access (Office sign-ins only)
    Auth("singleFactorAuthentication", (_PWD_HASH,), "53003", _CA_BLOCK, {"failureReason": _CA_BLOCK},
          "Password", {}, "failure", False, False),
    # A_SF_HIDDEN_MFA: a refresh whose log reads single-factor, though the session's token carries an
    # MFA done before the window (its writes' amr says so): "singleFactorAuthentication" only says
    # MFA was not required for this request
    Auth("singleFactorAuthentication",
          (("Previously satisfied", "", True, "First factor requirement satisfied by claim in the token", _PRIMARY),),
          "0", "", {}, "", {}, "notApplied", False, True),
    # A_HELLO: Windows Hello for Business whose token's amr is rsa,ngcmfa (no "mfa" element)
    Auth("singleFactorAuthentication", (("Windows Hello for Business", "", True, "Correct PIN", _PRIMARY),),
          "0", "", {}, "Windows Hello for Business", {}, "notApplied", False, False),
)
# fmt: on
PROTO_NONE, PROTO_ROPC, PROTO_DEVICECODE, PROTO_OAUTH2 = range(4)
PROTOCOLS = ("none", "ropc", "deviceCode", "oAuth2")
TOK_NONE, TOK_REFRESH, TOK_PRT = range(3)
TOKEN_TYPES = ("none", "refreshToken", "primaryRefreshToken")

# The authentication claims of an operation's token: (amr, acrs, what the persona did). The third
# field is the intent, set by hand: whether the persona signed in with MFA (or stepped up through a
# claims challenge). The strings are how the activity log writes such a token. A test checks the
# intents against Microsoft's rule (kitlib.domain.phase2); the ground truth reads only the intents.
(CLAIM_NONE, CLAIM_PWD, CLAIM_PWD_MFA, CLAIM_RSA_MFA, CLAIM_HELLO_MFA, CLAIM_STEP_UP, CLAIM_HELLO, CLAIM_HELLO_C1,
 CLAIM_WIA) = range(9)  # fmt: skip
CLAIMS: tuple[tuple[str, str, bool], ...] = (
    ("", "", False),  # a workload token: no amr claim
    ("pwd", "", False),  # a password
    ("pwd,mfa", "", True),  # password and a second factor
    ("rsa,mfa", "", True),  # certificate or device key and a second factor
    ("rsa,ngcmfa,mfa", "", True),  # Windows Hello for Business with MFA in the token
    ("pwd", "p1", True),  # a password, then the step-up a claims challenge asks for (az login --claims-challenge)
    ("rsa,ngcmfa", "", False),  # Windows Hello without the mfa element: ngcmfa is not mfa
    ("rsa,ngcmfa", "c1", False),  # the same with a customer authentication context (c1 is not p1)
    ("wiaormfa", "", False),  # integrated Windows authentication: wiaormfa is not mfa
)
CLAIM_MFA = np.array([mfa for _, _, mfa in CLAIMS])

# ---------------------------------------------------------------------------------------------
# ARM operations
# ---------------------------------------------------------------------------------------------
KIND_WRITE, KIND_DELETE, KIND_ACTION = range(3)


@dataclass(frozen=True)
class _Family:
    provider: str
    id_type: str  # path segment(s) after the provider in the resource id
    op_type: str  # resource type in the operation name
    label: str
    action: str | None  # "start/action" etc.
    action_label: str
    long_running: bool
    prefix: str


# fmt: off
FAMILIES = (
    _Family("Microsoft.Compute", "virtualMachines", "virtualMachines", "Virtual Machine",
            "start/action", "Start Virtual Machine", True, "vm-"),
    _Family("Microsoft.Storage", "storageAccounts", "storageAccounts", "Storage Account",
            "listKeys/action", "List Storage Account Keys", False, "st"),
    _Family("Microsoft.Network", "networkSecurityGroups", "networkSecurityGroups", "Network Security Group",
            None, "", False, "nsg-"),
    _Family("Microsoft.Web", "sites", "sites", "Web App", "restart/action", "Restart Web App", False, "app-"),
    _Family("Microsoft.KeyVault", "vaults", "vaults", "Key Vault", None, "", False, "kv-"),
    _Family("Microsoft.ContainerService", "managedClusters", "managedClusters", "Kubernetes Cluster",
            "listClusterUserCredential/action", "List cluster user credential", True, "aks-"),
    _Family("Microsoft.Sql", "servers", "servers/databases", "SQL Database", None, "", True, "sql-"),
    _Family("Microsoft.Authorization", "roleAssignments", "roleAssignments", "role assignment", None, "", False, ""),
    _Family("Microsoft.Resources", "", "subscriptions/resourceGroups", "Resource Group", None, "", False, "rg-"),
    _Family("Microsoft.Resources", "deployments", "deployments", "Deployment", None, "", True, "deploy-"),
    _Family("Microsoft.Network", "virtualNetworks", "virtualNetworks", "Virtual Network", None, "", False, "vnet-"),
    _Family("Microsoft.Web", "sites", "sites/config", "Web App Configuration",
            "list/action", "List Web App Settings", False, "app-"),
)
(FAM_VM, FAM_ST, FAM_NSG, FAM_WEB, FAM_KV, FAM_AKS, FAM_SQL, FAM_ROLE, FAM_RG, FAM_DEPLOY, FAM_VNET,
 FAM_WEBCFG) = range(12)
# fmt: on
FAMILY_WEIGHTS = np.array([10, 8, 6, 9, 4, 3, 3, 2, 2, 0, 3, 6], dtype=float)


@dataclass(frozen=True)
class _Op:
    name: str
    provider: str
    localized: str
    kind: int
    method: str
    long_running: bool


def _build_ops() -> tuple[tuple[_Op, ...], npt.NDArray[np.int16]]:
    """Every (family, verb) operation, and a lookup ``table[family, kind] -> op index``."""
    ops: list[_Op] = []
    table = np.zeros((len(FAMILIES), 3), dtype=np.int16)
    for i, fam in enumerate(FAMILIES):
        base = f"{fam.provider}/{fam.op_type}"
        table[i, KIND_WRITE] = len(ops)
        ops.append(
            _Op(f"{base}/write", fam.provider, f"Create or Update {fam.label}", KIND_WRITE, "PUT", fam.long_running)
        )
        table[i, KIND_DELETE] = len(ops)
        ops.append(_Op(f"{base}/delete", fam.provider, f"Delete {fam.label}", KIND_DELETE, "DELETE", fam.long_running))
        if fam.action:
            table[i, KIND_ACTION] = len(ops)
            ops.append(_Op(f"{base}/{fam.action}", fam.provider, fam.action_label, KIND_ACTION, "POST", False))
        else:
            table[i, KIND_ACTION] = table[i, KIND_WRITE]
    return tuple(ops), table


OPS, OP_TABLE = _build_ops()
FAMILY_HAS_ACTION = np.array([f.action is not None for f in FAMILIES])
OP_KIND = np.array([op.kind for op in OPS], dtype=np.int8)
OP_LONG = np.array([op.long_running for op in OPS], dtype=bool)

# AzureActivity row patterns: (ActivityStatusValue, Substatus, Level, seconds after the start)
# The last row of a failed pattern carries an error code in Properties.statusMessage: Conflict, the
# MFA policies' RequestDisallowedByPolicy (401 or 403: enforcement has been seen answering both, so
# the kit must read the code), another policy's denial, and an RBAC refusal (AuthorizationFailed).
PAT_OK, PAT_LONG, PAT_FAILED, PAT_DENIED, PAT_DENIED_401, PAT_OTHER_POLICY, PAT_RBAC = range(7)
# fmt: off
PATTERNS: tuple[tuple[tuple[str, str, str, int], ...], ...] = (
    (("Started", "", "Informational", 0), ("Succeeded", "@ok", "Informational", 2)),
    (("Started", "", "Informational", 0), ("Accepted", "Accepted", "Informational", 1),
     ("Succeeded", "@ok", "Informational", 95)),
    (("Started", "", "Informational", 0), ("Failed", "Conflict", "Error", 3)),
    (("Started", "", "Informational", 0), ("Failed", "Forbidden", "Error", 1)),
    (("Started", "", "Informational", 0), ("Failed", "Unauthorized", "Error", 1)),
    (("Started", "", "Informational", 0), ("Failed", "Forbidden", "Error", 1)),
    (("Started", "", "Informational", 0), ("Failed", "Forbidden", "Error", 1)),
)
# fmt: on
#: The error code of each pattern's failure (Properties.statusMessage), "" when it succeeded.
PATTERN_ERRORS = (
    "",
    "",
    "Conflict",
    "RequestDisallowedByPolicy",
    "RequestDisallowedByPolicy",
    "RequestDisallowedByPolicy",
    "AuthorizationFailed",
)  # fmt: skip
PAT_MFA_DENIED = (PAT_DENIED, PAT_DENIED_401)
ROW_ADMIN, ROW_AUDIT, ROW_DENY = range(3)
# Log Analytics keeps two spellings: ActivityStatusValue "Success", legacy ActivityStatus "Succeeded".
STATUS_VALUE = {"Started": "Start", "Accepted": "Accept", "Succeeded": "Success", "Failed": "Failure"}

# ---------------------------------------------------------------------------------------------
# Places, networks, devices, user agents
# ---------------------------------------------------------------------------------------------
# (country, city, state, latitude, longitude)
CITIES = {
    "NL": ("Amsterdam", "Noord-Holland", 52.3676, 4.9041),
    "GB": ("London", "England", 51.5072, -0.1276),
    "US": ("New York", "New York", 40.7128, -74.006),
    "IN": ("Bengaluru", "Karnataka", 12.9716, 77.5946),
    "DE": ("Berlin", "Berlin", 52.52, 13.405),
    "IE": ("Dublin", "Dublin", 53.3498, -6.2603),
    "US-VA": ("Boydton", "Virginia", 36.6676, -78.3875),
    "PL": ("Warsaw", "Mazowieckie", 52.2297, 21.0122),
}
# offices: (name, city key, ASN, first three octets, host numbers)
OFFICES = (
    ("Amsterdam HQ", "NL", "1136", "198.51.100", (10, 11, 12, 13)),
    ("London", "GB", "5089", "198.51.100", (40, 41, 42)),
    ("New York", "US", "7922", "203.0.113", (20, 21, 22, 23)),
    ("Bengaluru", "IN", "24560", "203.0.113", (60, 61, 62)),
)
OFFICE_WEIGHTS = np.array([0.4, 0.2, 0.25, 0.15])
# residential ranges per office country: (ASN, first octets)
HOME_NETS = {
    "NL": ("1136", (84, 86, 77)),
    "GB": ("5089", (86, 82, 81)),
    "US": ("7922", (73, 24, 98)),
    "IN": ("24560", (49, 106, 122)),
}
VENDORS = (  # guest home organisations: (domain, display, city key, ASN, first octets)
    ("fabrikam.example", "Fabrikam", "DE", "3320", (91, 79)),
    ("northwind.example", "Northwind Traders", "PL", "5617", (83, 89)),
    ("adventure-works.example", "Adventure Works", "US", "701", (71, 108)),
    ("vendor-x.example", "Vendor X", "GB", "2856", (81, 86)),
)
AZURE_REGIONS = (("NL", (20, 40, 52, 13)), ("IE", (20, 40, 52, 4)), ("US-VA", (20, 40, 52, 13)))
DATACENTER = ("Contoso DC Amsterdam", "NL", "64501", "192.0.2")

# fmt: off
BROWSERS = (  # (UserAgent, DeviceDetail.browser, operatingSystem)
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.2903.86", "Edge 131.0.2903", "Windows10"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
     "Safari/537.36", "Chrome 130.0.0", "Windows10"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "Chrome 131.0.0", "MacOs"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", "Safari 18.1", "MacOs"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133.0", "Linux"),
)
# fmt: on
TEAMS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36 Edg/130.0.0.0 Teams/24295.606.3238.6194"
)
OFFICE_UA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)"
PLATFORM_OS = {"windows": "Windows 10", "macos": "MacOs", "linux": "Linux"}
PLATFORM_UA = {
    "windows": "Windows-10-10.0.22631-SP0",
    "macos": "macOS-14.6.1-arm64-arm-64bit",
    "linux": "Linux-6.5.0-1025-azure-x86_64-with-glibc2.35",
}

# fmt: off
FIRST = (
    "Alice", "Bram", "Chloe", "Daan", "Emma", "Finn", "Grace", "Hugo", "Isla", "Jasper", "Kiara", "Liam", "Maya",
    "Noah", "Olivia", "Pieter", "Quinn", "Ravi", "Sara", "Tomas", "Uma", "Victor", "Wen", "Xander", "Yara", "Zoe",
    "Ahmed", "Beatriz", "Carlos", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ivan", "Julia", "Kenji", "Lena",
    "Mateo", "Nadia", "Oscar", "Priya", "Rosa", "Sven", "Tariq", "Ines", "Jonas", "Klara", "Lucas", "Mila",
    "Niels", "Anika", "Boris", "Camille", "Diego", "Eva", "Felix", "Greta", "Henrik", "Ingrid",
)
LAST = (
    "Smith", "de Vries", "Jansen", "Bakker", "Visser", "Patel", "Garcia", "Mueller", "Novak", "Kowalski",
    "Johnson", "Brown", "Taylor", "Wilson", "Martin", "Dubois", "Rossi", "Costa", "Silva", "Nguyen", "Kim",
    "Tanaka", "Singh", "Sharma", "Ahmed", "Hassan", "Larsen", "Nielsen", "Berg", "Lindqvist", "Meyer", "Weber",
    "Schulz", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schroeder",
    "Neumann", "Schwarz", "Zimmermann", "Braun", "Krueger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner",
    "Krause", "Meier", "Lehmann", "Huber", "Mayer", "Herrmann", "Koenig", "Walter",
)
# fmt: on
AUTOMATION_PREFIXES = ("svc-", "deploy-", "tf-", "ansible-", "build-", "automation-")
# fmt: off
AUTOMATION_PURPOSES = ("billing", "infra", "aks", "backup", "reporting", "dataplatform", "web", "network",
                        "inventory", "patching", "release", "platform", "monitoring", "identity")
# fmt: on
HUMAN_DECOY_PREFIXES = ("sa-", "svc-", "devops-")
SUBSCRIPTIONS = (
    ("Contoso Production EU", "mg-contoso-landingzones"),
    ("Contoso Production US", "mg-contoso-landingzones"),
    ("Contoso Development", "mg-contoso-landingzones"),
    ("Contoso Test", "mg-contoso-landingzones"),
    ("Contoso Shared Services", "mg-contoso-platform"),
    ("Contoso Data Platform", "mg-contoso-landingzones"),
    ("Contoso Sandbox", "mg-contoso-sandbox"),
    ("Contoso Connectivity", "mg-contoso-platform"),
)
SUB_PROD_EU, SUB_PROD_US, SUB_DEV, SUB_TEST, SUB_SHARED, SUB_DATA, SUB_SANDBOX, SUB_CONN = range(8)
AUDIT_SUBS = (SUB_PROD_EU, SUB_SHARED)
ENFORCED_SUB = SUB_SANDBOX
ENFORCED_DAYS = 3
PARTNER_TENANT = ("Northwind Traders", "northwind.example")
RG_APPS = ("web", "api", "data", "aks", "net", "shared", "ops", "billing", "crm", "etl", "iam", "monitor")
# fmt: off
SP_NAMES = ("sp-github-actions-prod", "sp-ado-pipeline-platform", "Terraform-Datadog-CLI", "sp-backup-automation",
             "sp-aks-gitops", "sp-cost-export", "sp-dns-sync", "sp-release-mgmt", "sp-sentinel-playbooks",
             "sp-data-factory-deploy", "sp-cert-renewal", "sp-image-builder")
MI_NAMES = ("func-billing-prod", "aks-agentpool-weu", "logic-invoice-sync", "vm-jumphost-01", "adf-etl-prod",
             "aa-runbooks-ops", "app-orders-api", "func-tagging-policy")
# fmt: on
