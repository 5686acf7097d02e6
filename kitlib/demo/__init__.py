"""The demo tenant: a deterministic, realistic Log Analytics workspace folder with its ground truth.

``generate(out, users=..., days=..., seed=..., now=...)`` writes one Parquet file per table
(``SigninLogs``, ``AADNonInteractiveUserSignInLogs``, ``AADServicePrincipalSignInLogs``,
``AADManagedIdentitySignInLogs``, ``AzureActivity``) with exactly the columns of
:data:`kitlib.domain.schema.TABLES`, plus ``ground_truth.json`` that says, per user identity, what the
analysis should conclude. Same arguments, same bytes: every random choice comes from one seeded
``numpy`` generator, consumed in a fixed order.

Why it exists: the kit must be shown, tested and scored without a real tenant. So the demo has
to contain the traps a real tenant has, not a tidy caricature of it.

Personas (share of ``users``; minimums keep every persona present in small tenants; the rest of
the users are ``office_only``: they sign in to Exchange/Teams/SharePoint only and never touch ARM,
so they are not in the ground truth):

=============================  =====  ==========================================================
persona                        share  what it does
=============================  =====  ==========================================================
human_mfa                      20 %   portal + Azure CLI and/or Az PowerShell, always with MFA
                                      (amr ``pwd,mfa``/``rsa,mfa``); some refresh tokens show
                                      ``singleFactorAuthentication`` with "MFA requirement
                                      satisfied by claim in the token" (still MFA).
human_cli_partial_mfa          12 %   CLI/PowerShell humans; each ``az login`` has MFA only some
                                      of the time, so some writes carry amr ``pwd``. Many tool
                                      versions, including the traps 2.75.0, 2.76.0 (same msal
                                      pin) and 2.100.0 (newer than any mapped release).
readonly_cli_single_factor      5 %   CLI/PowerShell reads with single-factor ARM tokens, no
                                      writes (half also run ``listKeys``-style /action calls).
readonly_cli_mfa                4 %   the same with MFA.
portal_only                    12 %   Azure portal only (appid c44b4083..., appidacr 2), MFA.
guest                           3 %   B2B guests (``x_vendor.example#EXT#@contoso.example``),
                                      vendor IPs, unregistered devices; about half write without
                                      MFA.
cloud_shell                     3 %   humans whose CLI runs in Cloud Shell: tokens from AS8075
                                      (Microsoft) IPs, with MFA. A trap for "cloud IP = robot".
breakglass                     2 acc  ``breakglass01`` (portal, FIDO2, MFA) and ``BreakGlass02``
                                      (CLI, password only, two writes).
automation_ropc               1.5 %   scripts signing in with username + password (ROPC):
                                      Az PowerShell ``Connect-AzAccount -Credential``, Ansible
                                      (azure-identity, Azure CLI client id) or ``az login -u -p``;
                                      fixed IPs, no device, fixed cadence, stale-password bursts
                                      of 50126. One of them only reads (at_risk).
automation_cli_agent          2.5 %   Azure CLI on a self-hosted build agent: refresh-token
                                      sign-ins hourly / nightly at 02:00 +-2 min / every 4 h /
                                      weekdays 06:30, fixed datacenter or Azure (AS8075) IPs, no
                                      device, one long session. The first one runs CLI 2.9.1
                                      (ADAL era).
automation_deployment           1 %   Terraform or Bicep through the CLI login: nightly bursts of
                                      many resource writes (Terraform) or one
                                      ``Microsoft.Resources/deployments/write`` with nested
                                      writes sharing its CorrelationId (Bicep).
=============================  =====  ==========================================================

About 40 % of automation accounts have person-like names and about 4 % of humans have
``sa-``/``svc-``/``devops-`` admin-style names, so naming stays a weak hint. Service principals
(``max(4, users // 60)``) and managed identities (``max(3, users // 100)``) do many writes; they
appear in AzureActivity with ``Caller`` = object id and ``principalType`` ``ServicePrincipal``
and never in the ground-truth identities.

Noise: failed sign-ins (50126, 50076, 50079, 53003), Office/Teams/Graph/SharePoint sign-ins,
``/action`` operations, Failed and Accepted rows, upper-cased ``OperationNameValue`` /
``ResourceProviderValue`` on some rows, UPNs cased differently from row to row, an empty
library value on some token requests, writes whose ``uti`` matches no sign-in (token acquired
before the window). Two subscriptions carry the built-in MFA audit policies (an audit event per
non-MFA user create/update/delete); on one sandbox subscription the system assignments
``sys.mfa-write`` / ``sys.mfa-delete`` deny non-MFA user writes during the last three days.

Ground truth is computed from the rows actually emitted (never from the persona label):
``will_break`` = at least one Administrative ``/write`` or ``/delete`` operation (any status) by
the user whose token's amr lacks ``mfa``; ``at_risk`` = none, but a successful ARM token from the
Azure CLI / Az PowerShell apps with ``singleFactorAuthentication`` and no MFA satisfied (neither
"MFA requirement satisfied by claim in the token" nor "MFA successfully completed" in
``AuthenticationDetails``/``Status``), or a non-MFA ``/action`` operation; ``not_affected``
otherwise. Operations are counted as distinct CorrelationIds. Failed sign-ins to ARM from users
that would otherwise be ``not_affected`` always require MFA, so counting failed rows or not does
not change a verdict.

Assumptions marked [I] in the domain reference: Cloud Shell token requests are modelled as Azure
CLI app tokens from AS8075; ROPC sign-ins land in ``SigninLogs``; the denyAction operation name
for ``sys.mfa-delete`` is ``Microsoft.Authorization/policies/denyAction/action``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kitlib.domain import versions
from kitlib.domain.schema import TABLES
from kitlib.errors import UsageError

log = logging.getLogger(__name__)

Arr = npt.NDArray[Any]

# ---------------------------------------------------------------------------------------------
# Fixed facts (phase2-domain.md 1.3, 2.x)
# ---------------------------------------------------------------------------------------------
DOMAIN = "contoso.example"
ARM_RESOURCE_ID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
ARM_RESOURCE_NAME = "Windows Azure Service Management API"
CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
POWERSHELL_APP_ID = "1950a258-227b-4e31-a9cf-717495945fc2"
PORTAL_APP_ID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
AMR_CLAIM = "http://schemas.microsoft.com/claims/authnmethodsreferences"
POLICY_WRITE_DEFINITION = "4e6c27d5-a6ee-49cf-b2b4-d8fe90fa2b8b"
POLICY_DELETE_DEFINITION = "db4a9d17-db75-4f46-9fcb-9f9526604417"
SYS_WRITE_DEFINITION = "54f51f64-eaa5-44cf-8674-830bcfd14d21"
SYS_DELETE_DEFINITION = "f69cd8b8-9a6e-46b4-be84-244e8b127944"
MFA_SATISFIED = "MFA requirement satisfied by claim in the token"
MFA_COMPLETED = "MFA successfully completed"

TABLE_NAMES = (
    "SigninLogs",
    "AADNonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs",
    "AzureActivity",
)
MIN_USERS = 40
ROW_GROUP = 32_768
_US = 1_000_000
_MIN = 60 * _US
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR

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


# ---------------------------------------------------------------------------------------------
# Public result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate` wrote."""

    out: Path
    paths: dict[str, Path]  # table name (and "ground_truth") -> file
    rows: dict[str, int]  # table name -> rows written
    identities: int  # user identities in the ground truth
    workload_identities: int
    seconds: float


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
class _Vocab:
    """Interns strings so rows carry small integers until the columns are materialised."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self.items: list[str] = []

    def __call__(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = len(self.items)
            self._index[text] = found
            self.items.append(text)
        return found

    def take(self, codes: Arr) -> Any:
        """The strings for ``codes`` as an Arrow string array (vectorised)."""
        return pc.take(pa.array(self.items, pa.string()), pa.array(codes, pa.int32()))


class _Store:
    """Append-only columnar buffer; ``add`` returns the first row index of what it appended.

    Scalars are kept as scalars until :meth:`finish` (most sign-in batches are a few rows with
    mostly constant fields, and building a small array per field per batch is what costs).
    """

    def __init__(self, spec: dict[str, tuple[Any, Any]]) -> None:
        self.spec = spec
        self.chunks: dict[str, list[Any]] = {k: [] for k in spec}
        self.sizes: list[int] = []
        self.n = 0

    def add(self, n: int, **values: Any) -> int:
        start = self.n
        if n <= 0:
            return start
        for name in values:
            if name not in self.spec:
                raise TypeError(f"unknown field {name!r}")
        for name, (_, default) in self.spec.items():
            value = values.get(name, default)
            if isinstance(value, np.ndarray) and value.shape != (n,):
                raise ValueError(f"field {name}: {value.shape} rows, expected {n}")
            self.chunks[name].append(value)
        self.sizes.append(n)
        self.n += n
        return start

    def finish(self) -> dict[str, Arr]:
        bounds = np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)]).tolist()
        out = {}
        for name, (dtype, _) in self.spec.items():
            column = np.empty(self.n, dtype=dtype)
            for i, value in enumerate(self.chunks[name]):
                column[bounds[i] : bounds[i + 1]] = value
            out[name] = column
        return out


def _guid_array(rng: np.random.Generator, n: int) -> Any:
    """``n`` random version-4 GUID strings as an Arrow array, without a Python loop."""
    raw = np.frombuffer(bytearray(rng.bytes(16 * n)), dtype=np.uint8).reshape(n, 16)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(n, 32)
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, [8, 13, 18, 23]] = ord("-")
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    return _fixed_width_strings(out)


def _uti_bytes(rng: np.random.Generator, n: int) -> Arr:
    """Token identifiers shaped like real ``uti`` values (22 base64url characters ending AA)."""
    encoded = base64.urlsafe_b64encode(rng.bytes(15 * n))
    body = np.frombuffer(encoded, dtype=np.uint8).reshape(n, 20)
    out = np.empty((n, 22), dtype=np.uint8)
    out[:, :20] = body
    out[:, 20:] = ord("A")
    return out


def _fixed_width_strings(matrix: Arr) -> Any:
    """Rows of an ``(n, width)`` ASCII byte matrix as an Arrow string array."""
    n, width = matrix.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * width).astype(np.int32)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _guid(rng: np.random.Generator) -> str:
    raw = bytearray(rng.bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _join(*parts: Any) -> Any:
    """Element-wise concatenation of Arrow string arrays and Python strings."""
    return pc.binary_join_element_wise(*parts, "")


def _int_text(values: Arr) -> Any:
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _vkey(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


# ---------------------------------------------------------------------------------------------
# Tool version -> library string (the one place that talks to kitlib.domain.versions)
# ---------------------------------------------------------------------------------------------
def auth_library(tool: str, version: str, *, sku: str = "MSAL.NetCore") -> str:
    """The ``Azure AD App Authentication Library`` value a tool release sends.

    Asks :func:`kitlib.domain.versions.library_for_tool`; where the mapping has no exact answer, the
    demo's stand-in comes from :func:`fallback_auth_library` (the only invented library values
    in the demo).
    """
    known = versions.library_for_tool(tool, version, sku=sku)
    if known is not None:
        return str(known.render())
    return fallback_auth_library(tool, version, sku=sku)


def fallback_auth_library(tool: str, version: str, *, sku: str = "MSAL.NetCore") -> str:
    """Library values for releases the versions mapping cannot name exactly.

    * Azure CLI newer than the newest mapped release (the 2.100.0 trap): an msal one minor
      version above the newest mapped pin, so it sorts after every known one.
    * Azure CLI with a ranged msal requirement (2.30-2.36): the range's floor is unknown here, so
      the lowest exact pin minus one minor (not used by the demo's version lists).
    * Az.Accounts releases whose changelog names no MSAL.NET version: the version of the nearest
      lower release that names one (exact, derived or lower bound): a pin holds until changed.
    """
    if tool == versions.AZURE_CLI:
        pins = [r.msal for r in versions.cli_releases() if r.msal is not None]
        newest, oldest = max(pins), min(pins)
        if versions.parse_version(version) > versions.cli_releases()[-1].version:
            return f"Family: MSAL Library: MSAL.Python {newest.major}.{newest.minor + 1}.0 Platform: Python"
        return f"Family: MSAL Library: MSAL.Python {oldest.major}.{max(oldest.minor - 1, 0)}.0 Platform: Python"
    if tool == versions.AZURE_POWERSHELL:
        wanted = versions.parse_version(version)
        named = [r for r in versions.powershell_releases() if r.msal is not None and r.version <= wanted]
        msal = str(named[-1].msal) if named else "4.30.1"
        return f"Family: MSAL Library: {sku} {msal} Platform: .NET"
    raise UsageError(f"no library for tool {tool!r}")


def _requests_version(cli: str) -> str:
    """python-requests bundled with an Azure CLI release (approximate; shows only in UserAgent)."""
    v = _vkey(cli)
    for bound, req in (((2, 30), "2.25.1"), ((2, 50), "2.28.1"), ((2, 63), "2.31.0"), ((2, 80), "2.32.3")):
        if v[:2] < bound:
            return req
    return "2.32.4" if v[:2] < (2, 95) else "2.33.1"


def _identity_net_version(az_accounts: str) -> str:
    v = _vkey(az_accounts)
    for bound, ident in (((3, 0), "1.10.4"), ((4, 0), "1.11.4"), ((5, 0), "1.13.0"), ((5, 3), "1.14.2")):
        if v[:2] < bound:
            return ident
    return "1.17.2"


# ---------------------------------------------------------------------------------------------
# Code tables for sign-in rows
# ---------------------------------------------------------------------------------------------
# apps: (AppId, AppDisplayName, ClientAppUsed)
APP_CLI, APP_PS, APP_PORTAL, APP_TEAMS, APP_OFFICE, APP_OFFICEHOME, APP_OWA = range(7)
_APPS = (
    (CLI_APP_ID, "Microsoft Azure CLI", "Mobile Apps and Desktop clients"),
    (POWERSHELL_APP_ID, "Microsoft Azure PowerShell", "Mobile Apps and Desktop clients"),
    (PORTAL_APP_ID, "Azure Portal", "Browser"),
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", "Mobile Apps and Desktop clients"),
    ("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office", "Mobile Apps and Desktop clients"),
    ("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", "Browser"),
    ("9199bf20-a13f-4107-85dc-02114787ef48", "One Outlook Web", "Browser"),
)
TOOL_APPS = frozenset({APP_CLI, APP_PS})
RES_ARM, RES_EXO, RES_GRAPH, RES_TEAMS, RES_SPO, RES_KV = range(6)
_RESOURCES = (
    (ARM_RESOURCE_ID, ARM_RESOURCE_NAME),
    ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"),
    ("00000003-0000-0000-c000-000000000000", "Microsoft Graph"),
    ("cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services"),
    ("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"),
    ("cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault"),
)


@dataclass(frozen=True)
class _Auth:
    """One way a sign-in can go: requirement, steps, status, result."""

    requirement: str
    steps: tuple[tuple[str, str, bool, str, str], ...]  # method, detail, succeeded, result, step
    result: str
    description: str
    status_extra: dict[str, str]
    methods_used: str
    mfa_detail: dict[str, str]
    ca_status: str
    mfa_satisfied: bool


_PRIMARY = "Primary authentication"
_SECONDARY = "MFA"
_FAIL_50076 = (
    "Due to a configuration change made by your administrator, or because you moved to a new location, "
    "you must use multi-factor authentication to access '797f4846-ba00-4fd7-ba43-dac1f8f63013'."
)
_FAIL_50079 = (
    "Due to a configuration change made by your administrator, or because you moved to a new location, "
    "you must enroll in multi-factor authentication to access '797f4846-ba00-4fd7-ba43-dac1f8f63013'."
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
) = range(11)
_WRONG_PASSWORD = "Error validating credentials due to invalid username or password."
_CA_BLOCK = "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."
_PWD_HASH = ("Password", "Password Hash Sync", True, "Correct password", _PRIMARY)
# fmt: off
_AUTHS: tuple[_Auth, ...] = (
    # A_MFA_PUSH: password + Authenticator push
    _Auth("multiFactorAuthentication", (_PWD_HASH, ("Mobile app notification", "", True, MFA_COMPLETED, _SECONDARY)),
          "0", "", {}, "Password,Mobile app notification", {"authMethod": "Mobile app notification"}, "success", True),
    # A_MFA_FIDO
    _Auth("multiFactorAuthentication", (("FIDO2 security key", "", True, MFA_COMPLETED, _PRIMARY),),
          "0", "", {}, "FIDO2 security key", {"authMethod": "FIDO2 security key"}, "success", True),
    # A_MFA_CLAIM: MFA required and carried by the refresh token / session
    _Auth("multiFactorAuthentication", (("Previously satisfied", "", True, MFA_SATISFIED, _PRIMARY),),
          "0", "", {"additionalDetails": MFA_SATISFIED}, "", {}, "success", True),
    # A_SF_CLAIM_MFA: MFA not required, but the token carries it anyway (still MFA)
    _Auth("singleFactorAuthentication", (("Previously satisfied", "", True, MFA_SATISFIED, _PRIMARY),),
          "0", "", {"additionalDetails": MFA_SATISFIED}, "", {}, "notApplied", True),
    # A_SF_PWD: interactive password only
    _Auth("singleFactorAuthentication", (_PWD_HASH,), "0", "", {}, "Password", {}, "notApplied", False),
    # A_SF_REFRESH: refresh of a single-factor session
    _Auth("singleFactorAuthentication",
          (("Previously satisfied", "", True, "First factor requirement satisfied by claim in the token", _PRIMARY),),
          "0", "", {}, "", {}, "notApplied", False),
    # A_ROPC
    _Auth("singleFactorAuthentication", (("Password", "Password in the cloud", True, "Correct password", _PRIMARY),),
          "0", "", {}, "Password", {}, "notApplied", False),
    # F_50126: wrong or stale password
    _Auth("singleFactorAuthentication",
          (("Password", "Password in the cloud", False, "Invalid username or password or Invalid on-premise "
            "username or password.", _PRIMARY),),
          "50126", _WRONG_PASSWORD, {"failureReason": _WRONG_PASSWORD}, "", {}, "notApplied", False),
    # F_50076: MFA required, not done
    _Auth("multiFactorAuthentication",
          (_PWD_HASH, ("Mobile app notification", "", False, "MFA required in Azure AD", _SECONDARY)),
          "50076", _FAIL_50076, {"failureReason": _FAIL_50076}, "Password", {}, "failure", False),
    # F_50079: must enrol in MFA
    _Auth("multiFactorAuthentication",
          (_PWD_HASH, ("", "", False, "User needs to enroll for second factor authentication", _SECONDARY)),
          "50079", _FAIL_50079, {"failureReason": _FAIL_50079}, "Password", {}, "failure", False),
    # F_53003: blocked by Conditional Access (Office sign-ins only)
    _Auth("singleFactorAuthentication", (_PWD_HASH,), "53003", _CA_BLOCK, {"failureReason": _CA_BLOCK},
          "Password", {}, "failure", False),
)
# fmt: on
PROTO_NONE, PROTO_ROPC, PROTO_DEVICECODE, PROTO_OAUTH2 = range(4)
_PROTOCOLS = ("none", "ropc", "deviceCode", "oAuth2")
TOK_NONE, TOK_REFRESH, TOK_PRT = range(3)
_TOKEN_TYPES = ("none", "refreshToken", "primaryRefreshToken")

# amr codes for AzureActivity claims (0 = workload token, no amr claim)
AMR_NONE, AMR_PWD, AMR_PWD_MFA, AMR_RSA_MFA, AMR_NGCMFA = range(5)
_AMRS = ("", "pwd", "pwd,mfa", "rsa,mfa", "ngcmfa")
_AMR_HAS_MFA = np.array([False, False, True, True, True])

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
_FAMILIES = (
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
_FAMILY_WEIGHTS = np.array([10, 8, 6, 9, 4, 3, 3, 2, 2, 0, 3, 6], dtype=float)


@dataclass(frozen=True)
class _Op:
    name: str
    provider: str
    localized: str
    kind: int
    method: str
    long_running: bool


def _build_ops() -> tuple[tuple[_Op, ...], Arr]:
    """Every (family, verb) operation, and a lookup ``table[family, kind] -> op index``."""
    ops: list[_Op] = []
    table = np.zeros((len(_FAMILIES), 3), dtype=np.int16)
    for i, fam in enumerate(_FAMILIES):
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


_OPS, _OP_TABLE = _build_ops()
_FAMILY_HAS_ACTION = np.array([f.action is not None for f in _FAMILIES])
_OP_KIND = np.array([op.kind for op in _OPS], dtype=np.int8)
_OP_LONG = np.array([op.long_running for op in _OPS], dtype=bool)

# AzureActivity row patterns: (ActivityStatusValue, Substatus, Level, seconds after the start)
PAT_OK, PAT_LONG, PAT_FAILED, PAT_DENIED = range(4)
# fmt: off
_PATTERNS: tuple[tuple[tuple[str, str, str, int], ...], ...] = (
    (("Started", "", "Informational", 0), ("Succeeded", "@ok", "Informational", 2)),
    (("Started", "", "Informational", 0), ("Accepted", "Accepted", "Informational", 1),
     ("Succeeded", "@ok", "Informational", 95)),
    (("Started", "", "Informational", 0), ("Failed", "Conflict", "Error", 3)),
    (("Started", "", "Informational", 0), ("Failed", "Forbidden", "Error", 1)),
)
# fmt: on
ROW_ADMIN, ROW_AUDIT, ROW_DENY = range(3)
# Log Analytics keeps two spellings: ActivityStatusValue "Success", legacy ActivityStatus "Succeeded".
_STATUS_VALUE = {"Started": "Start", "Accepted": "Accept", "Succeeded": "Success", "Failed": "Failure"}

# ---------------------------------------------------------------------------------------------
# Places, networks, devices, user agents
# ---------------------------------------------------------------------------------------------
# (country, city, state, latitude, longitude)
_CITIES = {
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
_OFFICES = (
    ("Amsterdam HQ", "NL", "1136", "198.51.100", (10, 11, 12, 13)),
    ("London", "GB", "5089", "198.51.100", (40, 41, 42)),
    ("New York", "US", "7922", "203.0.113", (20, 21, 22, 23)),
    ("Bengaluru", "IN", "24560", "203.0.113", (60, 61, 62)),
)
_OFFICE_WEIGHTS = np.array([0.4, 0.2, 0.25, 0.15])
# residential ranges per office country: (ASN, first octets)
_HOME_NETS = {
    "NL": ("1136", (84, 86, 77)),
    "GB": ("5089", (86, 82, 81)),
    "US": ("7922", (73, 24, 98)),
    "IN": ("24560", (49, 106, 122)),
}
_VENDORS = (  # guest home organisations: (domain, display, city key, ASN, first octets)
    ("fabrikam.example", "Fabrikam", "DE", "3320", (91, 79)),
    ("northwind.example", "Northwind Traders", "PL", "5617", (83, 89)),
    ("adventure-works.example", "Adventure Works", "US", "701", (71, 108)),
    ("vendor-x.example", "Vendor X", "GB", "2856", (81, 86)),
)
_AZURE_REGIONS = (("NL", (20, 40, 52, 13)), ("IE", (20, 40, 52, 4)), ("US-VA", (20, 40, 52, 13)))
_DATACENTER = ("Contoso DC Amsterdam", "NL", "64501", "192.0.2")

# fmt: off
_BROWSERS = (  # (UserAgent, DeviceDetail.browser, operatingSystem)
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
_TEAMS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36 Edg/130.0.0.0 Teams/24295.606.3238.6194"
)
_OFFICE_UA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)"
_PLATFORM_OS = {"windows": "Windows 10", "macos": "MacOs", "linux": "Linux"}
_PLATFORM_UA = {
    "windows": "Windows-10-10.0.22631-SP0",
    "macos": "macOS-14.6.1-arm64-arm-64bit",
    "linux": "Linux-6.5.0-1025-azure-x86_64-with-glibc2.35",
}

# fmt: off
_FIRST = (
    "Alice", "Bram", "Chloe", "Daan", "Emma", "Finn", "Grace", "Hugo", "Isla", "Jasper", "Kiara", "Liam", "Maya",
    "Noah", "Olivia", "Pieter", "Quinn", "Ravi", "Sara", "Tomas", "Uma", "Victor", "Wen", "Xander", "Yara", "Zoe",
    "Ahmed", "Beatriz", "Carlos", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ivan", "Julia", "Kenji", "Lena",
    "Mateo", "Nadia", "Oscar", "Priya", "Rosa", "Sven", "Tariq", "Ines", "Jonas", "Klara", "Lucas", "Mila",
    "Niels", "Anika", "Boris", "Camille", "Diego", "Eva", "Felix", "Greta", "Henrik", "Ingrid",
)
_LAST = (
    "Smith", "de Vries", "Jansen", "Bakker", "Visser", "Patel", "Garcia", "Mueller", "Novak", "Kowalski",
    "Johnson", "Brown", "Taylor", "Wilson", "Martin", "Dubois", "Rossi", "Costa", "Silva", "Nguyen", "Kim",
    "Tanaka", "Singh", "Sharma", "Ahmed", "Hassan", "Larsen", "Nielsen", "Berg", "Lindqvist", "Meyer", "Weber",
    "Schulz", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schroeder",
    "Neumann", "Schwarz", "Zimmermann", "Braun", "Krueger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner",
    "Krause", "Meier", "Lehmann", "Huber", "Mayer", "Herrmann", "Koenig", "Walter",
)
# fmt: on
_AUTOMATION_PREFIXES = ("svc-", "deploy-", "tf-", "ansible-", "build-", "automation-")
# fmt: off
_AUTOMATION_PURPOSES = ("billing", "infra", "aks", "backup", "reporting", "dataplatform", "web", "network",
                        "inventory", "patching", "release", "platform", "monitoring", "identity")
# fmt: on
_HUMAN_DECOY_PREFIXES = ("sa-", "svc-", "devops-")
_SUBSCRIPTIONS = (
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
_RG_APPS = ("web", "api", "data", "aks", "net", "shared", "ops", "billing", "crm", "etl", "iam", "monitor")
# fmt: off
_SP_NAMES = ("sp-github-actions-prod", "sp-ado-pipeline-platform", "Terraform-Datadog-CLI", "sp-backup-automation",
             "sp-aks-gitops", "sp-cost-export", "sp-dns-sync", "sp-release-mgmt", "sp-sentinel-playbooks",
             "sp-data-factory-deploy", "sp-cert-renewal", "sp-image-builder")
_MI_NAMES = ("func-billing-prod", "aks-agentpool-weu", "logic-invoice-sync", "vm-jumphost-01", "adf-etl-prod",
             "aa-runbooks-ops", "app-orders-api", "func-tagging-policy")
# fmt: on


# ---------------------------------------------------------------------------------------------
# Directory objects
# ---------------------------------------------------------------------------------------------
@dataclass
class _User:
    idx: int
    persona: str
    upn: str  # as stored in the directory (may carry capitals)
    user_id: str
    display: str
    tz: float  # hours east of UTC for working hours
    guest: bool = False
    home_tenant: str = ""
    home_tenant_name: str = ""
    vendor: int = -1
    office: int = 0
    home_ips: list[int] = field(default_factory=list)
    laptop: int = -1  # device vocab index of the registered device (interactive sign-ins)
    browser: int = 0  # index into _BROWSERS
    platform: str = "windows"
    cli_version: str | None = None
    ps_version: str | None = None
    ps_sku: str = "MSAL.NetCore"
    extra_tools: dict[str, str] = field(default_factory=dict)  # tool -> version (bicep, terraform...)
    tools: set[str] = field(default_factory=set)  # filled as rows are emitted
    ropc: bool = False
    reads_only: bool = False  # an automation account that never writes (an inventory script)

    @property
    def automation(self) -> bool:
        return self.persona in AUTOMATION_PERSONAS

    @property
    def breakglass(self) -> bool:
        return self.persona == "breakglass"


@dataclass
class _Workload:
    idx: int  # index among workloads
    kind: str  # "service_principal" | "managed_identity"
    object_id: str
    app_id: str
    name: str
    acr: str
    cred_key: str = ""
    thumbprint: str = ""
    federated: str = ""
    mirid: str = ""


@dataclass(frozen=True)
class _Pool:
    """The resources one principal works on, as parallel arrays."""

    fam: Arr
    rid: Arr
    sub: Arr
    rg: Arr
    capable: Arr  # positions whose resource type has an /action

    @classmethod
    def of(cls, items: list[tuple[int, int, int, int]]) -> _Pool:
        fam = np.array([i[0] for i in items], dtype=np.int16)
        return cls(
            fam,
            np.array([i[1] for i in items], dtype=np.int32),
            np.array([i[2] for i in items], dtype=np.int8),
            np.array([i[3] for i in items], dtype=np.int32),
            np.flatnonzero(_FAMILY_HAS_ACTION[fam]),
        )


_SIGNIN_SPEC: dict[str, tuple[Any, Any]] = {
    "ts": (np.int64, 0),
    "user": (np.int32, 0),
    "form": (np.int8, 0),
    "app": (np.int8, APP_CLI),
    "res": (np.int8, RES_ARM),
    "ip": (np.int32, 0),
    "dev": (np.int32, 0),
    "ua": (np.int32, 0),
    "apd": (np.int32, 0),
    "auth": (np.int8, A_SF_REFRESH),
    "proto": (np.int8, PROTO_NONE),
    "interactive": (np.bool_, False),
    "tok": (np.int8, TOK_REFRESH),
    "session": (np.int32, 0),
}
_WL_SIGNIN_SPEC: dict[str, tuple[Any, Any]] = {
    "ts": (np.int64, 0),
    "wl": (np.int32, 0),
    "res": (np.int8, RES_ARM),
    "ip": (np.int32, 0),
    "fail": (np.bool_, False),
}
_OP_SPEC: dict[str, tuple[Any, Any]] = {
    "ts": (np.int64, 0),
    "prin": (np.int32, 0),  # users [0, U), workloads [U, U + W)
    "form": (np.int8, 0),
    "op": (np.int16, 0),
    "rid": (np.int32, 0),
    "sub": (np.int8, 0),
    "rg": (np.int32, 0),
    "app": (np.int8, APP_CLI),  # claims appid for users; ignored for workloads
    "amr": (np.int8, AMR_NONE),
    "ip": (np.int32, 0),
    "tok": (np.int64, -1),  # row in the user (or workload) sign-in store whose uti the token has
    "pat": (np.int8, PAT_OK),
    "corr": (np.int64, -1),  # op index sharing its CorrelationId (nested deployment writes)
}


# ---------------------------------------------------------------------------------------------
# The tenant planner
# ---------------------------------------------------------------------------------------------
class _Tenant:
    """Plans every event as small integers; columns are materialised later, in bulk."""

    def __init__(self, users: int, days: int, seed: int, now: dt.datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.n_users = users
        self.days = days
        self.now_us = int(now.timestamp() * _US)
        self.start_us = self.now_us - days * _DAY
        first_midnight = (self.start_us // _DAY) * _DAY
        self.day0 = np.arange(first_midnight, self.now_us, _DAY, dtype=np.int64)
        # 1970-01-01 was a Thursday: weekday 0 = Monday
        self.weekday = ((self.day0 // _DAY) + 3) % 7
        self.tenant_id = _guid(self.rng)
        self.signins = _Store(_SIGNIN_SPEC)
        self.wl_signins = _Store(_WL_SIGNIN_SPEC)
        self.ops = _Store(_OP_SPEC)
        self.v_ip = _Vocab()
        self.ip_asn: list[str] = []
        self.ip_city: list[str] = []
        self.ip_named: list[str] = []  # named location (office) or ""
        self.v_dev = _Vocab()
        self.v_ua = _Vocab()
        self.v_apd = _Vocab()
        self.v_rid = _Vocab()
        self.v_rg = _Vocab()
        self.rid_name: list[str] = []
        self.n_sessions = 0
        self.subs = [(_guid(self.rng), name, mg) for name, mg in _SUBSCRIPTIONS]
        self.rg_pool: list[list[tuple[int, str]]] = []
        for s in range(len(_SUBSCRIPTIONS)):
            env = ("prod", "prod", "dev", "test", "shared", "data", "sbx", "conn")[s]
            names = sorted({f"rg-{_RG_APPS[i]}-{env}" for i in self.rng.choice(len(_RG_APPS), 6, replace=False)})
            self.rg_pool.append([(s, n) for n in names])
        self.users: list[_User] = []
        self.workloads: list[_Workload] = []
        self._profiles: dict[tuple[int, str, str | None, str | None], tuple[int, int, int, int]] = {}
        self.portal_apd = self.apd(None, True, "https://management.core.windows.net//user_impersonation")
        self.office_apd = self.apd(None, True, "openid profile")
        self.empty_library_apd = self.apd("", False, "https://management.core.windows.net//user_impersonation")

    # --- small random helpers -----------------------------------------------------------------
    def pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def new_sessions(self, n: int) -> Arr:
        first = self.n_sessions
        self.n_sessions += n
        return np.arange(first, first + n, dtype=np.int32)

    def ip(self, address: str, asn: str, city: str, named: str = "") -> int:
        idx = self.v_ip(address)
        if idx == len(self.ip_asn):
            self.ip_asn.append(asn)
            self.ip_city.append(city)
            self.ip_named.append(named)
        return idx

    def random_ip(self, octets: tuple[int, ...], asn: str, city: str) -> int:
        a = int(self.pick(octets))
        b, c, d = (int(x) for x in self.rng.integers(1, 255, 3))
        return self.ip(f"{a}.{b}.{c}.{d}", asn, city)

    def azure_ip(self, region: int | None = None) -> int:
        city, octets = _AZURE_REGIONS[int(self.rng.integers(len(_AZURE_REGIONS))) if region is None else region]
        return self.random_ip(octets, "8075", city)

    def office_ip(self, office: int) -> int:
        name, city, asn, net, hosts = _OFFICES[office]
        return self.ip(f"{net}.{self.pick(hosts)}", asn, city, name)

    def device(self, device_id: str, name: str, os_name: str, browser: str, managed: bool, trust: str) -> int:
        return self.v_dev(
            _dumps(
                {
                    "deviceId": device_id,
                    "displayName": name,
                    "operatingSystem": os_name,
                    "browser": browser,
                    "isCompliant": managed,
                    "isManaged": managed,
                    "trustType": trust,
                }
            )
        )

    def tool_device(self, platform: str, browser: str) -> int:
        return self.device("", "", _PLATFORM_OS[platform], browser, False, "")

    def apd(self, library: str | None, cae: bool, scope: str) -> int:
        """AuthenticationProcessingDetails JSON for one library value."""
        items = []
        if library is not None:
            items.append({"key": "Azure AD App Authentication Library", "value": library})
        items.append({"key": "Is CAE Token", "value": "True" if cae else "False"})
        items.append({"key": "Oauth Scope Info", "value": _dumps([scope])})
        return self.v_apd(_dumps(items))

    def resource(self, fam: int, sub: int, rg: str, name: str) -> int:
        f = _FAMILIES[fam]
        sub_id = self.subs[sub][0]
        base = f"/subscriptions/{sub_id}/resourceGroups/{rg}"
        if fam == FAM_RG:
            rid = base
        elif fam == FAM_SQL:
            rid = f"{base}/providers/Microsoft.Sql/servers/{name}/databases/db-{name[4:]}"
        elif fam == FAM_WEBCFG:
            rid = f"{base}/providers/Microsoft.Web/sites/{name}/config/web"
        else:
            rid = f"{base}/providers/{f.provider}/{f.id_type}/{name}"
        idx = self.v_rid(rid)
        if idx == len(self.rid_name):
            self.rid_name.append(rid.rsplit("/", 1)[-1])
        return idx

    def resource_name(self, fam: int, rg: str) -> str:
        f = _FAMILIES[fam]
        if fam == FAM_ROLE:
            return bytes(self.rng.bytes(16)).hex()
        if fam == FAM_RG:
            return rg
        token = "".join(chr(97 + int(x)) for x in self.rng.integers(0, 26, 6))
        if fam == FAM_ST:
            return f"st{token}{int(self.rng.integers(10, 99))}"
        return f"{f.prefix}{rg[3:].split('-')[0]}-{token[:4]}"

    def resource_pool(self, subs: list[int], size: int, weights: Arr | None = None) -> _Pool:
        """A principal's resources: (family, resource id, subscription, resource group) each."""
        groups = [g for s in subs for g in self.rg_pool[s]]
        chosen = [groups[int(i)] for i in self.rng.choice(len(groups), min(len(groups), 1 + size // 4), replace=False)]
        w = _FAMILY_WEIGHTS if weights is None else weights
        fams = self.rng.choice(len(_FAMILIES), size=size, p=w / w.sum())
        pool = []
        for fam in fams:
            sub, rg = chosen[int(self.rng.integers(len(chosen)))]
            rid = self.resource(int(fam), sub, rg, self.resource_name(int(fam), rg))
            pool.append((int(fam), rid, sub, self.v_rg(rg)))
        return _Pool.of(pool)

    # --- ops ----------------------------------------------------------------------------------
    def add_ops(
        self,
        ts: Arr,
        prin: int,
        pool: _Pool,
        *,
        app: int,
        amr: Arr | int,
        ip: Arr | int,
        tok: Arr | int,
        p_delete: float = 0.05,
        p_action: float = 0.12,
        form: Arr | int = 0,
        p_fail: float = 0.03,
        corr: int = -1,
    ) -> int:
        """Operations by one principal at ``ts`` on resources from its pool."""
        n = len(ts)
        if n == 0:
            return self.ops.n
        pool_fam = pool.fam
        pick = self.rng.integers(len(pool_fam), size=n)
        u = self.rng.random(n)
        kind = np.where(u < p_delete, KIND_DELETE, np.where(u < p_delete + p_action, KIND_ACTION, KIND_WRITE))
        # an /action needs a resource type that has one; without such a resource it is not made
        capable = pool.capable
        is_action = kind == KIND_ACTION
        if is_action.any():
            if len(capable):
                pick[is_action] = capable[self.rng.integers(len(capable), size=int(is_action.sum()))]
            else:
                keep = ~is_action
                ts, pick, kind = ts[keep], pick[keep], kind[keep]
                n = len(ts)
                form, amr, ip, tok = (x[keep] if isinstance(x, np.ndarray) else x for x in (form, amr, ip, tok))
                if n == 0:
                    return self.ops.n
        fam = pool_fam[pick]
        rid = pool.rid[pick]
        sub = pool.sub[pick]
        rg = pool.rg[pick]
        op = _OP_TABLE[fam, kind]
        pat = np.where(_OP_LONG[op] & (_OP_KIND[op] != KIND_ACTION), PAT_LONG, PAT_OK)
        pat = np.where(self.rng.random(n) < p_fail, PAT_FAILED, pat)
        return self.ops.add(
            n,
            ts=ts,
            prin=prin,
            form=form,
            op=op,
            rid=rid,
            sub=sub,
            rg=rg,
            app=app,
            amr=amr,
            ip=ip,
            tok=tok,
            pat=pat,
            corr=corr,
        )

    def upn_forms(self, user: _User, n: int, p_lower: float) -> Arr:
        """Per row: 0 = UPN as stored, 1 = lower case, 2 = upper case (rare)."""
        if user.upn == user.upn.lower():
            return np.where(self.rng.random(n) < 0.01, 2, 0).astype(np.int8)
        u = self.rng.random(n)
        return np.where(u < p_lower, 1, np.where(u < p_lower + 0.01, 2, 0)).astype(np.int8)

    # --- population ---------------------------------------------------------------------------
    def build_population(self) -> None:
        counts = _persona_counts(self.n_users)
        names = self.rng.permutation(len(_FIRST) * len(_LAST))
        used: set[str] = set()
        order: list[str] = []
        for persona, count in counts.items():
            order.extend([persona] * count)
        automation_seen = 0
        humans_seen = 0  # 1 in 25 people get an admin-style sa-/svc-/devops- name
        for i, persona in enumerate(order):
            n = int(names[i % len(names)])
            first, last = _FIRST[n // len(_LAST)], _LAST[n % len(_LAST)]
            local = f"{first}.{last.replace(' ', '')}"
            display = f"{first} {last}"
            if i >= len(names):
                local += str(i // len(names))
            cap = self.rng.random() < 0.4
            user = _User(i, persona, "", _guid(self.rng), display, 0.0)
            user.office = int(self.rng.choice(len(_OFFICES), p=_OFFICE_WEIGHTS))
            user.tz = {0: 1.0, 1: 0.0, 2: -5.0, 3: 5.5}[user.office]
            if persona == "breakglass":
                upn = BREAKGLASS_UPNS[0] if BREAKGLASS_UPNS[0].lower() not in used else BREAKGLASS_UPNS[1]
                user.display = "Break Glass " + upn[10:12]
            elif persona == "guest":
                vendor = i % len(_VENDORS)
                user.vendor = vendor
                vdomain = _VENDORS[vendor][0]
                upn = f"{local if cap else local.lower()}_{vdomain}#EXT#@{DOMAIN}"
                user.guest = True
                user.home_tenant = _guid(self.rng)
                user.home_tenant_name = _VENDORS[vendor][1]
                user.tz = {"DE": 1.0, "PL": 1.0, "US": -5.0, "GB": 0.0}[_VENDORS[vendor][2]]
            elif persona in AUTOMATION_PERSONAS:
                automation_seen += 1
                if automation_seen % 5 not in (1, 3):  # 3 in 5 carry a service-account name
                    prefix = self.pick(_AUTOMATION_PREFIXES)
                    if persona == "automation_deployment" and self.rng.random() < 0.5:
                        prefix = "tf-"
                    purpose = self.pick(_AUTOMATION_PURPOSES)
                    upn = f"{prefix}{purpose}{'' if automation_seen < 20 else automation_seen}@{DOMAIN}"
                    user.display = upn.split("@")[0]
                else:
                    upn = f"{local if cap else local.lower()}@{DOMAIN}"
            else:
                upn = f"{local if cap else local.lower()}@{DOMAIN}"
                if persona in ("human_mfa", "human_cli_partial_mfa", "readonly_cli_mfa"):
                    humans_seen += 1
                if persona in ("human_mfa", "human_cli_partial_mfa", "readonly_cli_mfa") and humans_seen % 25 == 12:
                    upn = f"{_HUMAN_DECOY_PREFIXES[humans_seen // 25 % len(_HUMAN_DECOY_PREFIXES)]}{upn}"
                    user.display = f"{display} (Admin)"
            while upn.lower() in used:
                upn = upn.replace("@", "1@", 1)
            used.add(upn.lower())
            user.upn = upn
            user.home_tenant = user.home_tenant or self.tenant_id
            user.platform = str(self.rng.choice(["windows", "macos", "linux"], p=[0.65, 0.25, 0.10]))
            browsers = [
                b
                for b, (_, _, os_name) in enumerate(_BROWSERS)
                if os_name == _PLATFORM_OS[user.platform].replace("Windows 10", "Windows10")
            ]
            user.browser = int(self.pick(browsers))
            self.users.append(user)
        self._assign_tools()
        self._build_workloads()

    def _assign_tools(self) -> None:
        by_persona: dict[str, list[_User]] = {}
        for u in self.users:
            by_persona.setdefault(u.persona, []).append(u)
        deployers = 0
        weights = np.linspace(0.5, 2.0, len(CLI_VERSIONS))
        cli_p = weights / weights.sum()
        ps_w = np.linspace(0.6, 1.6, len(AZ_ACCOUNTS_VERSIONS))
        ps_p = ps_w / ps_w.sum()
        for u in self.users:
            cli = str(self.rng.choice(CLI_VERSIONS, p=cli_p))
            ps = str(self.rng.choice(AZ_ACCOUNTS_VERSIONS, p=ps_p))
            sku = "MSAL.Desktop" if self.rng.random() < 0.3 else "MSAL.NetCore"
            r = self.rng.random()
            if u.persona in ("human_mfa", "human_cli_partial_mfa", "guest", "breakglass"):
                if r < 0.6:
                    u.cli_version = cli
                elif r < 0.85:
                    u.ps_version, u.ps_sku = ps, sku
                else:
                    u.cli_version, u.ps_version, u.ps_sku = cli, ps, sku
                if u.cli_version and self.rng.random() < 0.15:
                    u.extra_tools["bicep"] = str(self.pick(BICEP_VERSIONS))
                if u.cli_version and self.rng.random() < 0.1:
                    u.extra_tools["azure-sdk"] = str(self.pick(AZURE_IDENTITY_PY))
            elif u.persona in ("readonly_cli_single_factor", "readonly_cli_mfa"):
                if r < 0.75:
                    u.cli_version = cli
                else:
                    u.ps_version, u.ps_sku = ps, sku
            elif u.persona == "cloud_shell":
                u.cli_version = str(versions.cli_releases()[-1].text)
            elif u.persona == "automation_cli_agent":
                u.cli_version = cli
                u.platform = "linux"
            elif u.persona == "automation_deployment":
                u.cli_version = cli
                u.platform = "linux"
                deployers += 1
                if deployers % 2 == 1:  # alternate Terraform and Bicep
                    u.extra_tools["terraform"] = str(self.pick(TERRAFORM_VERSIONS))
                else:
                    u.extra_tools["bicep"] = str(self.pick(BICEP_VERSIONS))
            elif u.persona == "automation_ropc":
                u.ropc = True
        # ROPC flavours, in turn: PowerShell, Ansible, Azure CLI
        for k, u in enumerate(by_persona.get("automation_ropc", [])):
            flavour = k % 3
            if flavour == 0:
                u.ps_version = str(self.rng.choice(AZ_ACCOUNTS_VERSIONS, p=ps_p))
                u.ps_sku = "MSAL.NetCore" if self.rng.random() < 0.5 else "MSAL.Desktop"
                u.platform = "windows"
            elif flavour == 1:
                u.extra_tools["ansible"] = str(self.pick(ANSIBLE_VERSIONS))
                u.platform = "linux"
            else:
                u.cli_version = str(self.rng.choice(CLI_VERSIONS, p=cli_p))
                u.platform = "linux"
        ropc = by_persona.get("automation_ropc", [])
        if len(ropc) >= 4:
            ropc[-1].reads_only = True
        # version traps on identities that certainly use the CLI
        agents = by_persona.get("automation_cli_agent", [])
        partial = by_persona.get("human_cli_partial_mfa", [])
        for u, v in ((agents[0], "2.9.1"), (partial[0], "2.75.0"), (partial[1], "2.76.0"), (partial[2], "2.100.0")):
            u.cli_version = v
            u.ps_version = None
        # a 2.76.0 that writes only with MFA, to keep the shared pin on both sides of a verdict
        by_persona["human_mfa"][0].cli_version = "2.76.0"
        by_persona["human_mfa"][0].ps_version = None

    def _build_workloads(self) -> None:
        n_sp = max(4, self.n_users // 60)
        n_mi = max(3, self.n_users // 100)
        for i in range(n_sp):
            base = _SP_NAMES[i % len(_SP_NAMES)]
            name = base if i < len(_SP_NAMES) else f"{base}-{i // len(_SP_NAMES) + 1}"
            acr = "2" if self.rng.random() < 0.4 else "1"
            wl = _Workload(i, "service_principal", _guid(self.rng), _guid(self.rng), name, acr)
            if "github" in name or "gitops" in name:
                wl.federated = _guid(self.rng)
            elif acr == "2":
                wl.thumbprint = bytes(self.rng.bytes(20)).hex().upper()
            else:
                wl.cred_key = _guid(self.rng)
            self.workloads.append(wl)
        for j in range(n_mi):
            base = _MI_NAMES[j % len(_MI_NAMES)]
            name = base if j < len(_MI_NAMES) else f"{base}-{j // len(_MI_NAMES) + 1}"
            sub = self.subs[[SUB_PROD_EU, SUB_PROD_US, SUB_SHARED, SUB_DATA][j % 4]][0]
            wl = _Workload(len(self.workloads), "managed_identity", _guid(self.rng), _guid(self.rng), name, "2")
            wl.mirid = (
                f"/subscriptions/{sub}/resourcegroups/rg-{name.split('-')[1]}"
                f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-{name}"
            )
            self.workloads.append(wl)

    # --- time helpers -------------------------------------------------------------------------
    def active_days(self, p_weekday: float, p_weekend: float) -> Arr:
        p = np.where(self.weekday < 5, p_weekday, p_weekend)
        return np.flatnonzero(self.rng.random(len(self.day0)) < p)

    def keep(self, ts: Arr) -> Arr:
        """Mask of times inside the window with room for an operation's later rows."""
        return (ts >= self.start_us) & (ts < self.now_us - 5 * _MIN)

    # --- emitting sign-ins --------------------------------------------------------------------
    def add_signins(self, user: _User, ts: Arr, **fields: Any) -> int:
        keep = self.keep(ts)
        if not keep.all():
            raise AssertionError("sign-in outside the window")  # callers filter first
        return self.signins.add(len(ts), ts=ts, user=user.idx, form=self.upn_forms(user, len(ts), 0.35), **fields)

    # --- personas -----------------------------------------------------------------------------
    def plan(self) -> None:
        for user in self.users:
            self._setup_network_and_device(user)
            persona = user.persona
            if persona in (
                "human_mfa",
                "human_cli_partial_mfa",
                "readonly_cli_single_factor",
                "readonly_cli_mfa",
                "portal_only",
                "cloud_shell",
                "office_only",
            ):
                self._office_background(user)
            if persona in (
                "human_mfa",
                "human_cli_partial_mfa",
                "readonly_cli_single_factor",
                "readonly_cli_mfa",
                "portal_only",
                "cloud_shell",
                "guest",
            ):
                self._human_arm(user)
            elif persona == "breakglass":
                self._breakglass(user)
            elif persona == "automation_ropc":
                self._ropc(user)
            elif persona == "automation_cli_agent":
                self._cli_agent(user)
            elif persona == "automation_deployment":
                self._deployment(user)
        for wl in self.workloads:
            self._workload(wl)

    def _setup_network_and_device(self, user: _User) -> None:
        if user.guest:
            _domain, _, vendor_city, vendor_asn, vendor_octets = _VENDORS[user.vendor]
            user.home_ips = [self.random_ip(vendor_octets, vendor_asn, vendor_city)]
        else:
            country = _OFFICES[user.office][1]
            asn, octets = _HOME_NETS[country]
            user.home_ips = [self.random_ip(octets, asn, country) for _ in range(1 + int(self.rng.random() < 0.3))]
        _, browser_name, os_name = _BROWSERS[user.browser]
        if user.guest:
            user.laptop = self.device("", "", os_name, browser_name, False, "")
        elif user.persona not in AUTOMATION_PERSONAS:
            trust = "Azure AD joined" if self.rng.random() < 0.6 else "Hybrid Azure AD joined"
            name = f"{'LT' if user.platform != 'linux' else 'WS'}-{bytes(self.rng.bytes(3)).hex().upper()}"
            user.laptop = self.device(_guid(self.rng), name, os_name, browser_name, True, trust)

    def day_ips(self, user: _User, days: Arr) -> Arr:
        """Where the user is each active day: an office egress IP or a home IP."""
        at_office = self.rng.random(len(days)) < 0.6
        office = np.array([self.office_ip(user.office) for _ in range(len(days))], dtype=np.int32)
        home = np.array(user.home_ips, dtype=np.int32)[self.rng.integers(len(user.home_ips), size=len(days))]
        return np.where(at_office & ~user.guest, office, home)

    def _work_hours(self, user: _User, days: Arr) -> tuple[Arr, Arr]:
        start_h = 8.0 + self.rng.uniform(-0.7, 1.3, len(days)) - user.tz
        length_h = 8.5 + self.rng.uniform(-1.0, 1.0, len(days))
        start = self.day0[days] + (start_h * _HOUR).astype(np.int64)
        return start, start + (length_h * _HOUR).astype(np.int64)

    def _office_background(self, user: _User) -> None:
        """Exchange/Teams/SharePoint sign-ins: the human baseline and most of the noise."""
        days = self.active_days(0.85, 0.06)
        if len(days) == 0:
            return
        start, end = self._work_hours(user, days)
        ips = self.day_ips(user, days)
        ua_browser = self.v_ua(_BROWSERS[user.browser][0])
        # one interactive sign-in per active day
        ts = start + self.rng.integers(0, 10 * _MIN, len(days))
        u = self.rng.random(len(days))
        auth = np.select(
            [u < 0.02, u < 0.03, u < 0.035, u < 0.30], [F_50126, F_50076, F_53003, A_MFA_PUSH], A_MFA_CLAIM
        )
        if self.rng.random() < 0.03:  # a user still to enrol in MFA
            auth[: min(3, len(auth))] = F_50079
        app = self.rng.choice([APP_OWA, APP_OFFICEHOME, APP_TEAMS, APP_OFFICE], size=len(days))
        res = np.where(
            app == APP_OWA,
            RES_EXO,
            np.where(app == APP_TEAMS, RES_TEAMS, np.where(app == APP_OFFICE, RES_EXO, RES_SPO)),
        )
        ua = np.where(
            (app == APP_TEAMS), self.v_ua(_TEAMS_UA), np.where(app == APP_OFFICE, self.v_ua(_OFFICE_UA), ua_browser)
        )
        sessions = self.new_sessions(len(days))
        mask = self.keep(ts)
        apd = self.office_apd
        self.add_signins(
            user,
            ts[mask],
            app=app[mask],
            res=res[mask],
            ip=ips[mask],
            dev=user.laptop,
            ua=ua[mask],
            apd=apd,
            auth=auth[mask],
            proto=PROTO_NONE,
            interactive=True,
            tok=np.where(app[mask] == APP_TEAMS, TOK_PRT, TOK_NONE),
            session=sessions[mask],
        )
        # non-interactive refreshes through the day
        k = self.rng.integers(2, 7, len(days))
        rep = np.repeat(np.arange(len(days)), k)
        ts2 = start[rep] + (self.rng.random(len(rep)) * (end - start)[rep]).astype(np.int64)
        app2 = self.rng.choice([APP_TEAMS, APP_OFFICE, APP_OWA], size=len(rep))
        res2 = self.rng.choice([RES_EXO, RES_GRAPH, RES_TEAMS, RES_SPO], size=len(rep))
        auth2 = np.where(self.rng.random(len(rep)) < 0.5, A_MFA_CLAIM, A_SF_CLAIM_MFA)
        mask2 = self.keep(ts2)
        self.add_signins(
            user,
            ts2[mask2],
            app=app2[mask2],
            res=res2[mask2],
            ip=ips[rep][mask2],
            dev=user.laptop,
            ua=np.where(app2[mask2] == APP_TEAMS, self.v_ua(_TEAMS_UA), self.v_ua(_OFFICE_UA)),
            apd=apd,
            auth=auth2[mask2],
            proto=PROTO_NONE,
            interactive=False,
            tok=TOK_PRT,
            session=sessions[rep][mask2],
        )

    def _tool_profile(self, user: _User, tool: str) -> tuple[int, int, int, int]:
        """(app, token-request UA, refresh device, AuthenticationProcessingDetails) for a tool."""
        key = (user.idx, tool, user.cli_version, user.ps_version)
        found = self._profiles.get(key)
        if found is None:
            found = self._profiles[key] = self._make_tool_profile(user, tool)
        return found

    def _make_tool_profile(self, user: _User, tool: str) -> tuple[int, int, int, int]:
        if tool == "cli":
            assert user.cli_version is not None
            lib = auth_library(versions.AZURE_CLI, user.cli_version)
            req = _requests_version(user.cli_version)
            ua = self.v_ua(f"python-requests/{req}")
            dev = self.tool_device(user.platform, f"Python Requests {req.rsplit('.', 1)[0]}")
            return APP_CLI, ua, dev, self.apd(lib, False, "https://management.core.windows.net//user_impersonation")
        assert user.ps_version is not None
        lib = auth_library(versions.AZURE_POWERSHELL, user.ps_version, sku=user.ps_sku)
        ident = _identity_net_version(user.ps_version)
        runtime = ".NET Framework 4.8.9290.0" if user.ps_sku == "MSAL.Desktop" else ".NET 8.0.11"
        ua = self.v_ua(f"azsdk-net-Identity/{ident} ({runtime}; Microsoft Windows 10.0.22631)")
        msal_net = lib.split()[4] if len(lib.split()) > 4 else ""
        dev = self.tool_device("windows", f"Rich Client {msal_net}.0" if msal_net else "")
        return APP_PS, ua, dev, self.apd(lib, True, "https://management.core.windows.net//.default")

    def _human_arm(self, user: _User) -> None:
        """CLI / PowerShell / portal / Cloud Shell sessions with their writes."""
        persona = user.persona
        p_day = {
            "human_mfa": 0.35,
            "human_cli_partial_mfa": 0.45,
            "readonly_cli_single_factor": 0.3,
            "readonly_cli_mfa": 0.3,
            "portal_only": 0.3,
            "cloud_shell": 0.4,
            "guest": 0.3,
        }[persona]
        days = self.active_days(p_day, 0.03)
        if len(days) == 0:
            days = np.array([int(self.rng.integers(max(1, len(self.day0) - 1)))])
        start, end = self._work_hours(user, days)
        ips = self.day_ips(user, days)
        writes_rate = {
            "human_mfa": 2.0,
            "human_cli_partial_mfa": 2.5,
            "portal_only": 1.5,
            "cloud_shell": 1.5,
            "guest": 2.0,
        }.get(persona, 0.0)
        action_rate = 0.3
        if persona == "readonly_cli_single_factor":
            action_rate = 0.5 if self.rng.random() < 0.5 else 0.0
        subs = [SUB_PROD_EU, SUB_PROD_US, SUB_DEV, SUB_TEST, SUB_SHARED, SUB_DATA, SUB_SANDBOX, SUB_CONN]
        my_subs = sorted({int(s) for s in self.rng.choice(subs, size=int(self.rng.integers(1, 4)), replace=False)})
        weights = _FAMILY_WEIGHTS.copy()
        if "bicep" in user.extra_tools:
            weights[FAM_DEPLOY] = 6.0
        pool = self.resource_pool(my_subs, int(self.rng.integers(4, 12)), weights)
        tools: list[str] = []
        if persona in ("portal_only", "cloud_shell") or (persona in ("human_mfa", "guest") and self.rng.random() < 0.7):
            tools.append("portal")
        if persona == "cloud_shell":
            tools.append("cloudshell")
        if user.cli_version and persona != "cloud_shell":
            tools.append("cli")
        if user.ps_version:
            tools.append("ps")
        if persona == "human_cli_partial_mfa" and "portal" not in tools and self.rng.random() < 0.5:
            tools.append("portal")
        p_mfa_login = {
            "human_mfa": 1.0,
            "readonly_cli_mfa": 1.0,
            "readonly_cli_single_factor": 0.0,
            "human_cli_partial_mfa": float(self.rng.uniform(0.2, 0.8)),
            # half the guests' home tenants do MFA that the resource tenant trusts
            "guest": 1.0 if user.idx % 2 == 0 else float(self.rng.uniform(0.0, 0.4)),
        }.get(persona, 1.0)
        if persona == "human_cli_partial_mfa" and user.cli_version in CLI_TRAP_VERSIONS:
            p_mfa_login = 0.2  # the version traps should matter: mostly no MFA
        login_state: dict[str, tuple[int, bool]] = {}  # tool -> (session, mfa)
        for d in range(len(days)):
            tool = tools[int(self.rng.integers(len(tools)))]
            s0 = int(start[d] + self.rng.integers(0, max(1, int(end[d] - start[d] - _HOUR))))
            dur = int(self.rng.integers(20, 180)) * _MIN
            if tool == "portal":
                self._portal_session(user, s0, dur, int(ips[d]), pool, writes_rate, action_rate)
            elif tool == "cloudshell":
                self._portal_session(user, s0, 10 * _MIN, int(ips[d]), pool, 0.0, 0.0)
                self._cloudshell_session(user, s0 + 2 * _MIN, dur, pool, writes_rate, action_rate)
            else:
                self._tool_session(
                    user, tool, s0, dur, int(ips[d]), pool, writes_rate, action_rate, p_mfa_login, login_state
                )

    def _portal_session(
        self, user: _User, s0: int, dur: int, ip: int, pool: _Pool, writes_rate: float, action_rate: float
    ) -> None:
        user.tools.add("portal")
        n_tok = max(1, math.ceil(dur / _HOUR))
        ts = s0 + np.arange(n_tok, dtype=np.int64) * _HOUR + self.rng.integers(0, 2 * _MIN, n_tok)
        mask = self.keep(ts)
        if not mask.any():
            return
        session = int(self.new_sessions(1)[0])
        auth = np.full(n_tok, A_MFA_CLAIM, dtype=np.int8)
        auth[0] = A_MFA_PUSH if self.rng.random() < 0.5 else A_MFA_CLAIM
        if user.breakglass:
            auth[0] = A_MFA_FIDO
        interactive = np.arange(n_tok) == 0
        ua = np.where(interactive, self.v_ua(_BROWSERS[user.browser][0]), self.v_ua(""))
        apd = self.portal_apd
        first = self.add_signins(
            user,
            ts[mask],
            app=APP_PORTAL,
            res=RES_ARM,
            ip=ip,
            dev=user.laptop,
            ua=ua[mask],
            apd=apd,
            auth=auth[mask],
            proto=PROTO_NONE,
            interactive=interactive[mask],
            tok=np.where(interactive[mask], TOK_NONE, TOK_REFRESH),
            session=session,
        )
        rows = first + np.cumsum(mask) - 1
        self._session_ops(
            user, s0, dur, ts, rows, mask, ip, pool, writes_rate, action_rate, APP_PORTAL, mfa=True, portal=True
        )

    def _cloudshell_session(
        self, user: _User, s0: int, dur: int, pool: _Pool, writes_rate: float, action_rate: float
    ) -> None:
        user.tools.add("azure-cli")
        ip = self.azure_ip(0 if user.tz >= 0 else 2)
        app, ua, _dev, apd = self._tool_profile(user, "cli")
        n_tok = max(1, math.ceil(dur / _HOUR))
        ts = s0 + np.arange(n_tok, dtype=np.int64) * _HOUR + self.rng.integers(0, 2 * _MIN, n_tok)
        mask = self.keep(ts)
        if not mask.any():
            return
        session = int(self.new_sessions(1)[0])
        first = self.add_signins(
            user,
            ts[mask],
            app=app,
            res=RES_ARM,
            ip=ip,
            dev=self.tool_device("linux", "Python Requests 2.32"),
            ua=ua,
            apd=apd,
            auth=A_MFA_CLAIM,
            proto=PROTO_NONE,
            interactive=False,
            tok=TOK_REFRESH,
            session=session,
        )
        rows = first + np.cumsum(mask) - 1
        self._session_ops(user, s0, dur, ts, rows, mask, ip, pool, writes_rate, action_rate, APP_CLI, mfa=True)

    def _tool_session(
        self,
        user: _User,
        tool: str,
        s0: int,
        dur: int,
        ip: int,
        pool: _Pool,
        writes_rate: float,
        action_rate: float,
        p_mfa_login: float,
        login_state: dict[str, tuple[int, bool]],
    ) -> None:
        """One CLI / PowerShell working session: maybe an interactive login, then hourly refreshes."""
        user.tools.add("azure-cli" if tool == "cli" else "azure-powershell")
        for extra, _version in user.extra_tools.items():
            user.tools.add(extra)
        app, ua, dev, apd = self._tool_profile(user, tool)
        state = login_state.get(tool)
        login = (state is None and self.rng.random() < 0.5) or (state is not None and self.rng.random() < 0.25)
        if state is None and not login:
            # logged in before the window; that login's MFA state carries over
            state = (int(self.new_sessions(1)[0]), bool(self.rng.random() < p_mfa_login))
            login_state[tool] = state
        n_tok = max(1, math.ceil(dur / _HOUR))
        ts = s0 + np.arange(n_tok, dtype=np.int64) * _HOUR + self.rng.integers(0, 90 * _US, n_tok)
        mask = self.keep(ts)
        if not mask.any():
            return
        if login:
            mfa = bool(self.rng.random() < p_mfa_login)
            state = (int(self.new_sessions(1)[0]), mfa)
            login_state[tool] = state
        assert state is not None
        session, mfa = state
        interactive = (np.arange(n_tok) == 0) & login
        if mfa:
            refresh_auth = A_MFA_CLAIM if self.rng.random() < 0.6 else A_SF_CLAIM_MFA
            login_auth = A_MFA_PUSH
        else:
            refresh_auth, login_auth = A_SF_REFRESH, A_SF_PWD
        auth = np.where(interactive, login_auth, refresh_auth)
        proto = PROTO_DEVICECODE if tool == "cli" and self.rng.random() < 0.15 else PROTO_NONE
        ua_row = np.where(interactive, self.v_ua(_BROWSERS[user.browser][0]), ua)
        dev_row = np.where(interactive, user.laptop, dev)
        # an empty library value now and then (seen in real exports)
        apd_row = np.where(self.rng.random(n_tok) < 0.03, self.empty_library_apd, apd)
        first = self.add_signins(
            user,
            ts[mask],
            app=app,
            res=RES_ARM,
            ip=ip,
            dev=dev_row[mask],
            ua=ua_row[mask],
            apd=apd_row[mask],
            auth=auth[mask],
            proto=np.where(interactive[mask], proto, PROTO_NONE),
            interactive=interactive[mask],
            tok=np.where(interactive[mask], TOK_NONE, TOK_REFRESH),
            session=session,
        )
        rows = first + np.cumsum(mask) - 1
        # an MFA prompt the user abandoned, on a refresh that needed step-up (MFA required, not SF)
        if self.rng.random() < 0.05:
            t_fail = ts[0] + 30 * _US
            if self.keep(np.array([t_fail])).all():
                self.add_signins(
                    user,
                    np.array([t_fail]),
                    app=app,
                    res=RES_ARM,
                    ip=ip,
                    dev=dev,
                    ua=ua,
                    apd=apd,
                    auth=F_50076,
                    interactive=False,
                    tok=TOK_REFRESH,
                    session=session,
                )
        self._session_ops(user, s0, dur, ts, rows, mask, ip, pool, writes_rate, action_rate, app, mfa=mfa)

    def _session_ops(
        self,
        user: _User,
        s0: int,
        dur: int,
        ts: Arr,
        rows: Arr,
        mask: Arr,
        ip: int,
        pool: _Pool,
        writes_rate: float,
        action_rate: float,
        app: int,
        *,
        mfa: bool,
        portal: bool = False,
    ) -> None:
        n_w = int(self.rng.poisson(writes_rate))
        n_a = int(self.rng.poisson(action_rate))
        n = n_w + n_a
        if n == 0:
            return
        t = np.sort(s0 + (self.rng.random(n) * dur).astype(np.int64))
        k = np.clip((t - s0) // _HOUR, 0, len(ts) - 1)
        t = np.maximum(t, ts[k] + 5 * _US)
        ok = self.keep(t)
        t, k = t[ok], k[ok]
        if len(t) == 0:
            return
        tok = np.where(mask[k], rows[k], -1)
        tok = np.where(self.rng.random(len(t)) < 0.08, -1, tok)  # token not in the logs
        if mfa:
            amr = np.where(self.rng.random(len(t)) < 0.75, AMR_PWD_MFA, AMR_RSA_MFA)
            if portal:
                amr = np.where(self.rng.random(len(t)) < 0.03, AMR_NGCMFA, amr)
        else:
            amr = np.full(len(t), AMR_PWD)
        n_writes = min(n_w, len(t))
        p_action = 0.0 if n_a == 0 else n_a / max(n, 1)
        p_action = 1.0 if n_w == 0 else p_action
        self.add_ops(
            t,
            user.idx,
            pool,
            app=app,
            amr=amr,
            ip=ip,
            tok=tok,
            p_action=p_action,
            p_delete=0.0 if n_writes == 0 else 0.05,
            form=self.upn_forms(user, len(t), 0.5),
        )

    def _breakglass(self, user: _User) -> None:
        # one rare use, anywhere in the window (emergencies keep no office hours)
        s0 = int(self.start_us + self.rng.integers(0, self.now_us - self.start_us - 30 * _MIN))
        ip = self.office_ip(user.office)
        pool = self.resource_pool([SUB_SHARED], 4, weights=np.eye(len(_FAMILIES))[FAM_ROLE] + 0.01)
        if user.upn == BREAKGLASS_UPNS[0]:
            self._portal_session(user, s0, 20 * _MIN, ip, pool, 0.0, 0.0)
            return
        user.cli_version = user.cli_version or "2.85.0"
        user.ps_version = None
        user.tools.add("azure-cli")
        app, _ua, _dev, apd = self._tool_profile(user, "cli")
        ts = np.array([s0], dtype=np.int64)
        session = int(self.new_sessions(1)[0])
        row = self.add_signins(
            user,
            ts,
            app=app,
            res=RES_ARM,
            ip=ip,
            dev=self.tool_device(user.platform, ""),
            ua=self.v_ua(_BROWSERS[user.browser][0]),
            apd=apd,
            auth=A_SF_PWD,
            interactive=True,
            tok=TOK_NONE,
            session=session,
        )
        t = np.array([s0 + 3 * _MIN, s0 + 7 * _MIN], dtype=np.int64)
        self.add_ops(t, user.idx, pool, app=app, amr=AMR_PWD, ip=ip, tok=row, p_action=0.0, p_delete=0.0, p_fail=0.0)

    # --- automation ---------------------------------------------------------------------------
    def _schedule(self, kind: str) -> Arr:
        """Run start times for a cron-like schedule, with a little jitter."""
        minute = int(self.rng.integers(0, 60))
        if kind == "hourly":
            base = self.day0[0] + np.arange(len(self.day0) * 24, dtype=np.int64) * _HOUR + minute * _MIN
            jitter = self.rng.integers(-60, 61, len(base)) * _US
        elif kind == "every_4h":
            base = self.day0[0] + np.arange(len(self.day0) * 6, dtype=np.int64) * 4 * _HOUR + minute * _MIN
            jitter = self.rng.integers(-60, 61, len(base)) * _US
        elif kind == "every_30min":
            base = self.day0[0] + np.arange(len(self.day0) * 48, dtype=np.int64) * 30 * _MIN + (minute % 30) * _MIN
            jitter = self.rng.integers(-30, 31, len(base)) * _US
        elif kind == "nightly":
            base = self.day0 + 2 * _HOUR
            jitter = self.rng.integers(-120, 121, len(base)) * _US
        elif kind == "nightly_late":
            base = self.day0 + 1 * _HOUR + 30 * _MIN
            jitter = self.rng.integers(-120, 121, len(base)) * _US
        elif kind == "weekdays":
            base = (self.day0 + 6 * _HOUR + 30 * _MIN)[self.weekday < 5]
            jitter = self.rng.integers(-90, 91, len(base)) * _US
        else:
            raise ValueError(kind)
        ts: Arr = base + jitter
        return ts[self.keep(ts)]

    def _agent_ips(self, user: _User) -> list[int]:
        if self.rng.random() < 0.5:
            _name, city, asn, net = _DATACENTER
            return [
                self.ip(f"{net}.{int(self.rng.integers(20, 250))}", asn, city)
                for _ in range(int(self.rng.integers(1, 3)))
            ]
        return [self.azure_ip() for _ in range(int(self.rng.integers(1, 3)))]

    def _automation_subs(self) -> list[int]:
        subs = [SUB_PROD_EU, SUB_PROD_US, SUB_DEV, SUB_TEST, SUB_SHARED, SUB_DATA, SUB_CONN]
        return sorted({int(s) for s in self.rng.choice(subs, size=int(self.rng.integers(1, 3)), replace=False)})

    def _cli_agent_signins(self, user: _User, runs: Arr) -> tuple[int, Arr, int]:
        """One silent refresh-token sign-in per scheduled run of an agent logged in to the Azure CLI.

        Returns (app, each run's IP, the first sign-in row); the runs' rows follow it in order.
        """
        ips = np.array(self._agent_ips(user), dtype=np.int32)
        app, ua, dev, apd = self._tool_profile(user, "cli")
        session = int(self.new_sessions(1)[0])
        ip_run = ips[self.rng.integers(len(ips), size=len(runs))]
        first = self.add_signins(
            user,
            runs,
            app=app,
            res=RES_ARM,
            ip=ip_run,
            dev=dev,
            ua=ua,
            apd=apd,
            auth=A_SF_REFRESH,
            interactive=False,
            tok=TOK_REFRESH,
            session=session,
        )
        return app, ip_run, first

    def _run_writes(self, runs: Arr, per_run: Arr, low_s: int, high_s: int) -> tuple[Arr, Arr]:
        """Times of ``per_run`` writes after each run start (``low_s``..``high_s`` seconds later).

        Returns (index of each write's run, write time), dropping writes that fall outside the window.
        """
        rep = np.repeat(np.arange(len(runs)), per_run)
        t = runs[rep] + self.rng.integers(low_s, high_s, len(rep)) * _US
        ok = self.keep(t)
        return rep[ok], t[ok]

    def _cli_agent(self, user: _User) -> None:
        """Azure CLI on a self-hosted agent: refresh-token sign-ins on a schedule, writes each run."""
        user.tools.add("azure-cli")
        kind = str(self.rng.choice(["hourly", "nightly", "every_4h", "weekdays"], p=[0.4, 0.3, 0.15, 0.15]))
        runs = self._schedule(kind)
        app, ip_run, first = self._cli_agent_signins(user, runs)
        pool = self.resource_pool(self._automation_subs(), int(self.rng.integers(3, 8)))
        rate = {"hourly": 0.8, "every_4h": 1.5, "nightly": 3.0, "weekdays": 2.5}[kind]
        per_run = self.rng.poisson(rate, len(runs))
        rep, t = self._run_writes(runs, per_run, 20, 240)
        self.add_ops(
            t,
            user.idx,
            pool,
            app=app,
            amr=AMR_PWD,
            ip=ip_run[rep],
            tok=first + rep,
            p_action=0.1,
            p_delete=0.03,
            form=self.upn_forms(user, len(t), 0.3),
        )

    def _deployment(self, user: _User) -> None:
        """Terraform or Bicep through the CLI login: nightly bursts of writes within minutes."""
        user.tools.add("azure-cli")
        user.tools.update(user.extra_tools)
        kind = str(self.rng.choice(["nightly_late", "weekdays"]))
        runs = self._schedule(kind)
        app, ip_run, first = self._cli_agent_signins(user, runs)
        subs = self._automation_subs()
        pool = self.resource_pool(subs, int(self.rng.integers(12, 30)))
        deploy_pool = self.resource_pool(subs, 3, weights=np.eye(len(_FAMILIES))[FAM_DEPLOY] + 0.0)
        terraform = "terraform" in user.extra_tools
        for r in range(len(runs)):
            if self.rng.random() < 0.3:  # "no changes": the plan only reads
                continue
            n = int(self.rng.integers(5, 26))
            t = runs[r] + np.sort(self.rng.integers(30, 6 * 60, n)) * _US
            t = t[self.keep(t)]
            if len(t) == 0:
                continue
            if terraform:
                self.add_ops(
                    t,
                    user.idx,
                    pool,
                    app=app,
                    amr=AMR_PWD,
                    ip=int(ip_run[r]),
                    tok=first + r,
                    p_action=0.0,
                    p_delete=0.08,
                    form=self.upn_forms(user, len(t), 0.3),
                )
            else:
                lead = self.add_ops(
                    t[:1] - 10 * _US,
                    user.idx,
                    deploy_pool,
                    app=app,
                    amr=AMR_PWD,
                    ip=int(ip_run[r]),
                    tok=first + r,
                    p_action=0.0,
                    p_delete=0.0,
                    p_fail=0.0,
                )
                self.add_ops(
                    t[1:],
                    user.idx,
                    pool,
                    app=app,
                    amr=AMR_PWD,
                    ip=int(ip_run[r]),
                    tok=first + r,
                    p_action=0.0,
                    p_delete=0.0,
                    form=self.upn_forms(user, len(t) - 1, 0.3),
                    corr=lead,
                )

    def _ropc(self, user: _User) -> None:
        """Username + password from a script: an interactive ROPC sign-in every run."""
        user.tools.add("azure-powershell" if user.ps_version else "azure-cli" if user.cli_version else "ansible")
        kind = str(self.rng.choice(["every_30min", "hourly", "nightly", "weekdays"], p=[0.2, 0.35, 0.25, 0.2]))
        runs = self._schedule(kind)
        ips = np.array(self._agent_ips(user), dtype=np.int32)
        if user.ps_version:
            app, ua, dev, apd = self._tool_profile(user, "ps")
        elif user.cli_version:
            app, ua, dev, apd = self._tool_profile(user, "cli")
        else:  # Ansible: azure-identity UsernamePasswordCredential with the Azure CLI client id
            msal = str(self.pick(ANSIBLE_MSAL))
            ident = str(self.pick(AZURE_IDENTITY_PY))
            app = APP_CLI
            ua = self.v_ua(f"azsdk-python-identity/{ident} Python/3.11.9 ({_PLATFORM_UA['linux']})")
            dev = self.tool_device("linux", "")
            apd = self.apd(
                f"Family: MSAL Library: MSAL.Python {msal} Platform: Python",
                False,
                "https://management.azure.com//.default",
            )
        # a stale password: one day of 50126 failures, no writes that day
        fail = np.zeros(len(runs), dtype=bool)
        if len(runs) and self.rng.random() < 0.6:
            d0 = runs[int(self.rng.integers(len(runs)))]
            fail = (runs >= d0) & (runs < d0 + 8 * _HOUR)
        auth = np.where(fail, F_50126, A_ROPC)
        auth = np.where(~fail & (self.rng.random(len(runs)) < 0.01), F_50076, auth)
        ip_run = ips[self.rng.integers(len(ips), size=len(runs))]
        first = self.add_signins(
            user,
            runs,
            app=app,
            res=RES_ARM,
            ip=ip_run,
            dev=dev,
            ua=ua,
            apd=apd,
            auth=auth,
            proto=PROTO_ROPC,
            interactive=True,
            tok=TOK_NONE,
            session=self.new_sessions(len(runs)),
        )
        if user.reads_only:
            return
        pool = self.resource_pool(self._automation_subs(), int(self.rng.integers(3, 8)))
        per_run = np.where(auth == A_ROPC, self.rng.poisson(1.2, len(runs)), 0)
        rep, t = self._run_writes(runs, per_run, 5, 120)
        self.add_ops(
            t,
            user.idx,
            pool,
            app=app,
            amr=AMR_PWD,
            ip=ip_run[rep],
            tok=first + rep,
            p_action=0.15,
            p_delete=0.03,
            form=self.upn_forms(user, len(t), 0.3),
        )

    def _workload(self, wl: _Workload) -> None:
        """A service principal or managed identity: its own sign-in table, many writes."""
        kinds = ["every_30min", "hourly", "every_4h", "nightly"]
        kind = str(self.rng.choice(kinds, p=[0.15, 0.45, 0.2, 0.2]))
        runs = self._schedule(kind)
        if wl.kind == "managed_identity":
            ips = (
                np.array([self.ip("", "", "")], dtype=np.int32)
                if self.rng.random() < 0.5
                else np.array([self.azure_ip()], dtype=np.int32)
            )
        elif "github" in wl.name or self.rng.random() < 0.3:
            ips = np.array([self.azure_ip() for _ in range(min(len(runs), 64))], dtype=np.int32)
        else:
            ips = np.array(self._agent_ips(_User(-1, "", "", "", "", 0.0)), dtype=np.int32)
        ip_run = ips[self.rng.integers(len(ips), size=len(runs))]
        fail = self.rng.random(len(runs)) < (0.01 if wl.kind == "service_principal" else 0.0)
        first = self.wl_signins.add(len(runs), ts=runs, wl=wl.idx, res=RES_ARM, ip=ip_run, fail=fail)
        # other resources now and then
        extra = np.flatnonzero(self.rng.random(len(runs)) < 0.3)
        self.wl_signins.add(
            len(extra),
            ts=runs[extra] + 40 * _US,
            wl=wl.idx,
            res=self.rng.choice([RES_GRAPH, RES_KV], size=len(extra)),
            ip=ip_run[extra],
        )
        pool = self.resource_pool(self._automation_subs(), int(self.rng.integers(3, 10)))
        rate = {"every_30min": 0.3, "hourly": 1.0, "every_4h": 2.0, "nightly": 6.0}[kind]
        per_run = np.where(fail, 0, self.rng.poisson(rate, len(runs)))
        rep, t = self._run_writes(runs, per_run, 5, 300)
        self.add_ops(
            t,
            self.n_users + wl.idx,
            pool,
            app=APP_CLI,
            amr=AMR_NONE,
            ip=ip_run[rep],
            tok=first + rep,
            p_action=0.1,
            p_delete=0.04,
        )


def _persona_counts(users: int) -> dict[str, int]:
    counts = {p: max(PERSONA_MINIMUMS[p], round(users * share)) for p, share in PERSONA_SHARES.items()}
    counts["breakglass"] = 2
    rest = users - sum(counts.values())
    if rest < 0:
        raise UsageError(f"users={users} is too small for every persona; use at least {MIN_USERS}")
    counts["office_only"] = rest
    return counts


# ---------------------------------------------------------------------------------------------
# Materialising the tables
# ---------------------------------------------------------------------------------------------
_ARROW_TYPES = {
    "string": pa.string(),
    "guid": pa.string(),
    "dynamic": pa.string(),  # JSON text; the local backend casts it to JSON
    "datetime": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "long": pa.int64(),
    "int": pa.int32(),
    "real": pa.float64(),
}


def arrow_schema(table: str) -> pa.Schema:
    """The Parquet schema the demo writes for a registry table."""
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in TABLES[table].columns])


class _TableWriter:
    """Writes one table in row groups, checking every batch against the registry columns."""

    def __init__(self, path: Path, table: str) -> None:
        self.table = table
        self.schema = arrow_schema(table)
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd", write_statistics=True)
        self.rows = 0

    def write(self, columns: dict[str, Any], n: int) -> None:
        arrays = []
        for name, kind in TABLES[self.table].columns:
            value = columns[name]
            typ = _ARROW_TYPES[kind]
            if isinstance(value, str):
                arrays.append(pa.array([value], typ).take(pa.array(np.zeros(n, np.int32))))
            elif isinstance(value, np.ndarray):
                arrays.append(pa.array(value, typ))
            else:
                arrays.append(value.cast(typ) if value.type != typ else value)
        extra = set(columns) - set(self.schema.names)
        if extra:
            raise AssertionError(f"{self.table}: columns outside the registry: {sorted(extra)}")
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema), row_group_size=ROW_GROUP)
        self.rows += n

    def close(self) -> None:
        self.writer.close()


def _slices(n: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + ROW_GROUP)) for i in range(0, max(n, 1), ROW_GROUP)] if n else []


def _location_json(city_key: str) -> str:
    if not city_key:
        return "{}"
    city, state, lat, lon = _CITIES[city_key]
    return _dumps(
        {
            "city": city,
            "state": state,
            "countryOrRegion": city_key[:2],
            "geoCoordinates": {"latitude": lat, "longitude": lon},
        }
    )


def _auth_details_parts(auth: _Auth) -> tuple[str, str, str]:
    """AuthenticationDetails split around the step timestamps: part0 T part1 [T part2]."""
    pieces = []
    for i, (method, detail, ok, result, step) in enumerate(auth.steps):
        body = _dumps(
            {
                "authenticationMethod": method,
                "authenticationMethodDetail": detail,
                "succeeded": ok,
                "authenticationStepResultDetail": result,
                "authenticationStepRequirement": step,
                "StatusSequence": 0,
                "RequestSequence": 0 if i == 0 else 1,
            }
        )
        pieces.append((("{" if i == 0 else ",{") + '"authenticationStepDateTime":"', '",' + body[1:]))
    if len(pieces) == 1:
        return "[" + pieces[0][0], pieces[0][1] + "]", ""
    return "[" + pieces[0][0], pieces[0][1] + pieces[1][0], pieces[1][1] + "]"


def _ca_policies(auth: _Auth) -> str:
    mfa_result = {"success": "success", "failure": "failure"}.get(auth.ca_status, "notApplied")
    return _dumps(
        [
            {
                "id": "6b3e1f1e-9d5c-4c58-8c2a-2f8e0b1c7a10",
                "displayName": "Require MFA for admins and Azure management",
                "enforcedGrantControls": ["Mfa"],
                "enforcedSessionControls": [],
                "result": mfa_result if auth.requirement == "multiFactorAuthentication" else "notApplied",
            },
            {
                "id": "0f7c2d4a-3b1e-4e8f-9a6d-5c2b1e0d9f33",
                "displayName": "Block legacy authentication",
                "enforcedGrantControls": ["Block"],
                "enforcedSessionControls": [],
                "result": "failure" if auth.result == "53003" else "notApplied",
            },
        ]
    )


def _take(values: list[str], codes: Arr) -> Any:
    return pc.take(pa.array(values, pa.string()), pa.array(codes, pa.int32()))


def _ts_text(ts: Any) -> Any:
    return pc.strftime(pc.cast(ts, pa.timestamp("s", tz="UTC"), safe=False), format="%Y-%m-%dT%H:%M:%SZ")


class _Materialiser:
    """Turns the planned integers into the five Parquet tables."""

    def __init__(self, t: _Tenant, out: Path) -> None:
        self.t = t
        self.out = out
        self.rng = t.rng
        users = t.users
        self.upn_forms = [f for u in users for f in (u.upn, u.upn.lower(), u.upn.upper())]
        self.u_display = [u.display for u in users]
        self.u_id = [u.user_id for u in users]
        self.u_type = ["Guest" if u.guest else "Member" for u in users]
        self.u_home = [u.home_tenant for u in users]
        self.u_home_name = [u.home_tenant_name for u in users]
        self.u_cross = ["b2bCollaboration" if u.guest else "none" for u in users]
        self.ip_loc = [_location_json(c) for c in t.ip_city]
        self.ip_country = [c[:2] for c in t.ip_city]
        self.ip_named = [
            _dumps([{"networkType": "trustedNamedLocation", "networkNames": [n]}]) if n else "[]" for n in t.ip_named
        ]
        self.auth_parts = [_auth_details_parts(a) for a in _AUTHS]
        self.auth_two_step = np.array([len(a.steps) == 2 for a in _AUTHS])
        self.rows: dict[str, int] = {}

    # --- user sign-ins ------------------------------------------------------------------------
    def user_signins(self, s: dict[str, Arr], uti: Arr) -> None:
        sessions = _guid_array(self.rng, max(self.t.n_sessions, 1))
        for interactive, table in ((True, "SigninLogs"), (False, "AADNonInteractiveUserSignInLogs")):
            idx = np.flatnonzero(s["interactive"] == interactive)
            order = idx[np.argsort(s["ts"][idx], kind="stable")]
            writer = _TableWriter(self.out / f"{table}.parquet", table)
            for a, b in _slices(len(order)):
                rows = order[a:b]
                cols = self._signin_columns(table, s, rows, uti, sessions, interactive)
                writer.write(cols, len(rows))
                del cols
            if not len(order):
                writer.write(self._signin_columns(table, s, order, uti, sessions, interactive), 0)
            writer.close()
            self.rows[table] = writer.rows

    def _signin_columns(
        self, table: str, s: dict[str, Arr], rows: Arr, uti: Arr, sessions: Any, interactive: bool
    ) -> dict[str, Any]:
        n = len(rows)
        g = {k: v[rows] for k, v in s.items()}
        ts = pa.array(g["ts"], pa.timestamp("us", tz="UTC"))
        auth = g["auth"].astype(np.int32)
        user = g["user"].astype(np.int32)
        app = g["app"].astype(np.int32)
        res = g["res"].astype(np.int32)
        ip = g["ip"].astype(np.int32)
        ids = _guid_array(self.rng, n) if n else pa.array([], pa.string())
        when = _ts_text(ts) if n else pa.array([], pa.string())
        p0 = _take([p[0] for p in self.auth_parts], auth)
        p1 = _take([p[1] for p in self.auth_parts], auth)
        p2 = _take([p[2] for p in self.auth_parts], auth)
        when2 = pc.if_else(pa.array(self.auth_two_step[auth]), when, "") if n else when
        processing = "ProcessingTimeInMilliseconds" if table == "SigninLogs" else "ProcessingTimeInMs"
        status = [_dumps({"errorCode": int(a.result), **a.status_extra}) for a in _AUTHS]
        return {
            "TenantId": self.t.tenant_id,
            "SourceSystem": "Azure AD",
            "TimeGenerated": ts,
            "OperationName": "Sign-in activity",
            "Category": "SignInLogs" if interactive else "NonInteractiveUserSignInLogs",
            "ResultType": _take([a.result for a in _AUTHS], auth),
            "ResultSignature": "None",
            "ResultDescription": _take([a.description for a in _AUTHS], auth),
            "DurationMs": np.zeros(n, dtype=np.int64),
            "CorrelationId": _guid_array(self.rng, n) if n else ids,
            "Identity": _take(self.u_display, user),
            "Level": "4",
            "Location": _take(self.ip_country, ip),
            "AlternateSignInName": _take(self.upn_forms, user * 3 + g["form"]),
            "AppDisplayName": _take([a[1] for a in _APPS], app),
            "AppId": _take([a[0] for a in _APPS], app),
            "AuthenticationContextClassReferences": "[]",
            "AuthenticationDetails": _join(p0, when, p1, when2, p2) if n else p0,
            "AuthenticationMethodsUsed": _take([a.methods_used for a in _AUTHS], auth),
            "AuthenticationProcessingDetails": self.t.v_apd.take(g["apd"]),
            "AuthenticationProtocol": _take(list(_PROTOCOLS), g["proto"].astype(np.int32)),
            "AuthenticationRequirement": _take([a.requirement for a in _AUTHS], auth),
            "AuthenticationRequirementPolicies": _take(
                [
                    _dumps([{"requirementProvider": "multiConditionalAccess", "detail": "Conditional Access"}])
                    if a.requirement == "multiFactorAuthentication"
                    else "[]"
                    for a in _AUTHS
                ],
                auth,
            ),
            "AutonomousSystemNumber": _take(self.t.ip_asn, ip),
            "ClientAppUsed": _take([a[2] for a in _APPS], app),
            "ClientCredentialType": "none",
            "ConditionalAccessPolicies": _take([_ca_policies(a) for a in _AUTHS], auth),
            "ConditionalAccessStatus": _take([a.ca_status for a in _AUTHS], auth),
            "CreatedDateTime": ts,
            "CrossTenantAccessType": _take(self.u_cross, user),
            "DeviceDetail": self.t.v_dev.take(g["dev"]),
            "HomeTenantId": _take(self.u_home, user),
            "HomeTenantName": _take(self.u_home_name, user),
            "Id": ids,
            "IncomingTokenType": _take(list(_TOKEN_TYPES), g["tok"].astype(np.int32)),
            "IPAddress": self.t.v_ip.take(ip),
            "IsInteractive": g["interactive"].astype(bool),
            "IsRisky": np.zeros(n, dtype=bool),
            "IsThroughGlobalSecureAccess": np.zeros(n, dtype=bool),
            "GlobalSecureAccessIpAddress": "",
            "LocationDetails": _take(self.ip_loc, ip),
            "MfaDetail": _take([_dumps(a.mfa_detail) for a in _AUTHS], auth),
            "NetworkLocationDetails": _take(self.ip_named, ip),
            "OriginalRequestId": ids,
            processing: _int_text(self.rng.integers(40, 400, n)),
            "ResourceDisplayName": _take([r[1] for r in _RESOURCES], res),
            "ResourceIdentity": _take([r[0] for r in _RESOURCES], res),
            "ResourceTenantId": self.t.tenant_id,
            "RiskDetail": "none",
            "RiskLevelAggregated": "none",
            "RiskLevelDuringSignIn": "none",
            "RiskState": "none",
            "SessionId": pc.take(sessions, pa.array(g["session"], pa.int32())),
            "SignInEventTypes": '["interactiveUser"]' if interactive else '["nonInteractiveUser"]',
            "Status": _take(status, auth),
            "TokenIssuerType": "AzureAD",
            "UniqueTokenIdentifier": _fixed_width_strings(uti[rows]) if n else pa.array([], pa.string()),
            "UserAgent": self.t.v_ua.take(g["ua"]),
            "UserDisplayName": _take(self.u_display, user),
            "UserId": _take(self.u_id, user),
            "UserPrincipalName": _take(self.upn_forms, user * 3 + g["form"]),
            "UserType": _take(self.u_type, user),
            "Type": table,
        }

    # --- workload sign-ins --------------------------------------------------------------------
    def workload_signins(self, w: dict[str, Arr], uti: Arr) -> None:
        wls = self.t.workloads
        kind = np.array([wl.kind == "managed_identity" for wl in wls], dtype=bool)
        for mi, table in ((False, "AADServicePrincipalSignInLogs"), (True, "AADManagedIdentitySignInLogs")):
            idx = np.flatnonzero(kind[w["wl"]] == mi) if len(wls) else np.zeros(0, np.int64)
            order = idx[np.argsort(w["ts"][idx], kind="stable")]
            writer = _TableWriter(self.out / f"{table}.parquet", table)
            chunks = _slices(len(order)) or [(0, 0)]
            for a, b in chunks:
                rows = order[a:b]
                writer.write(self._workload_columns(table, w, rows, uti, mi), len(rows))
            writer.close()
            self.rows[table] = writer.rows

    def _workload_columns(self, table: str, w: dict[str, Arr], rows: Arr, uti: Arr, mi: bool) -> dict[str, Any]:
        n = len(rows)
        wls = self.t.workloads
        wl = w["wl"][rows].astype(np.int32)
        fail = w["fail"][rows]
        res = w["res"][rows].astype(np.int32)
        ip = w["ip"][rows].astype(np.int32)
        ts = pa.array(w["ts"][rows], pa.timestamp("us", tz="UTC"))
        secret_error = (
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            "value, not the client secret ID."
        )
        cols: dict[str, Any] = {
            "TenantId": self.t.tenant_id,
            "SourceSystem": "Azure AD",
            "TimeGenerated": ts,
            "OperationName": "Sign-in activity",
            "Category": "ManagedIdentitySignInLogs" if mi else "ServicePrincipalSignInLogs",
            "ResultType": _take(["0", "7000215"], fail.astype(np.int32)),
            "ResultSignature": "None",
            "ResultDescription": _take(["", secret_error], fail.astype(np.int32)),
            "CorrelationId": _guid_array(self.rng, n) if n else pa.array([], pa.string()),
            "Id": _guid_array(self.rng, n) if n else pa.array([], pa.string()),
            "AppId": _take([x.app_id for x in wls], wl),
            "ServicePrincipalId": _take([x.object_id for x in wls], wl),
            "ServicePrincipalName": _take([x.name for x in wls], wl),
            "ResourceDisplayName": _take([r[1] for r in _RESOURCES], res),
            "ResourceIdentity": _take([r[0] for r in _RESOURCES], res),
            "IPAddress": self.t.v_ip.take(ip),
            "LocationDetails": _take(self.ip_loc, ip),
            "ConditionalAccessPolicies": "[]",
            "FederatedCredentialId": _take([x.federated for x in wls], wl),
            "UniqueTokenIdentifier": _fixed_width_strings(uti[rows]) if n else pa.array([], pa.string()),
            "Type": table,
        }
        if mi:
            cols["ConditionalAccessPoliciesV2"] = "[]"
        else:
            cols["ServicePrincipalCredentialKeyId"] = _take([x.cred_key for x in wls], wl)
            cols["ServicePrincipalCredentialThumbprint"] = _take([x.thumbprint for x in wls], wl)
        return cols

    # --- AzureActivity ------------------------------------------------------------------------
    def activity(self, o: dict[str, Arr], s_ts: Arr, s_uti: Arr, w_ts: Arr, w_uti: Arr) -> None:
        t = self.t
        n_ops = len(o["ts"])
        n_users = t.n_users
        is_user = o["prin"] < n_users
        # per-operation identifiers and token facts
        corr_key = np.where(o["corr"] >= 0, o["corr"], np.arange(n_ops))
        corr_ids = _guid_array(self.rng, max(n_ops, 1))
        op_ids = _guid_array(self.rng, max(n_ops, 1))
        request_ids = _guid_array(self.rng, max(n_ops, 1))
        fresh = _uti_bytes(self.rng, max(n_ops, 1))
        tok = o["tok"]
        has_tok = tok >= 0
        safe = np.where(has_tok, tok, 0)
        uti = fresh.copy()
        user_tok = has_tok & is_user
        wl_tok = has_tok & ~is_user
        if len(s_uti):
            uti[user_tok] = s_uti[safe[user_tok]]
        if len(w_uti):
            uti[wl_tok] = w_uti[safe[wl_tok]]
        iat_us = o["ts"] - self.rng.integers(1, 50, n_ops) * _MIN
        if len(s_ts):
            iat_us = np.where(user_tok, s_ts[np.minimum(safe, len(s_ts) - 1)], iat_us)
        if len(w_ts):
            iat_us = np.where(wl_tok, w_ts[np.minimum(safe, len(w_ts) - 1)], iat_us)
        iat = iat_us // _US
        exp = iat + self.rng.integers(3900, 5400, n_ops)

        # expand operations into rows: the status rows, then a policy audit / deny row
        plen = np.array([len(p) for p in _PATTERNS])
        counts = plen[o["pat"]] + o["audit"] + o["deny"]
        op_of_row = np.repeat(np.arange(n_ops), counts)
        starts = np.cumsum(counts) - counts
        seq = np.arange(len(op_of_row)) - np.repeat(starts, counts)
        r = seq - plen[o["pat"]][op_of_row]
        kind = np.where(r < 0, ROW_ADMIN, np.where((r == 0) & (o["audit"][op_of_row] == 1), ROW_AUDIT, ROW_DENY))
        seq = np.minimum(seq, plen.max() - 1)
        offsets = np.zeros((len(_PATTERNS), plen.max()), dtype=np.int64)
        for i, pattern in enumerate(_PATTERNS):
            for j, step in enumerate(pattern):
                offsets[i, j] = step[3] * _US
        row_ts = o["ts"][op_of_row] + np.where(
            kind == ROW_ADMIN, offsets[o["pat"][op_of_row], seq], np.where(kind == ROW_AUDIT, 500_000, 400_000)
        )
        row_ts = row_ts + self.rng.integers(0, 900_000, len(row_ts)) * (seq > 0)
        upper = self.rng.random(len(row_ts)) < 0.12
        order = np.argsort(row_ts, kind="stable")

        # lookups shared by every slice
        callers = self.upn_forms + [x for wl in t.workloads for x in (wl.object_id,) * 3]
        n_apps = len(_APPS)
        appids = [a[0] for a in _APPS] + [wl.app_id for wl in t.workloads]
        acrs = ["0", "0", "2", "0", "0", "2", "2"] + [wl.acr for wl in t.workloads]
        principal_claims = [self._user_claims(u) for u in t.users] + [self._workload_claims(wl) for wl in t.workloads]
        pair = o["prin"].astype(np.int64) * len(t.subs) + o["sub"]
        pairs, pair_code = np.unique(pair, return_inverse=True)
        evidence = [self._evidence(int(p) // len(t.subs), int(p) % len(t.subs)) for p in pairs]
        op_names = [op.name for op in _OPS] + [op.name.upper() for op in _OPS]
        providers = [op.provider for op in _OPS] + [op.provider.upper() for op in _OPS]
        hierarchy = [f"{t.tenant_id}/{mg}/{sid}" for sid, _, mg in t.subs]
        policy_piece = [
            self._policies_piece(sub, delete, deny)
            for sub in range(len(t.subs))
            for delete in (0, 1)
            for deny in (0, 1)
        ]
        rg_upper = [g.upper() for g in t.v_rg.items]
        rid_lower = [x.lower() for x in t.v_rid.items]
        status_names, sub_names, level_names = [], [], []
        for pattern in _PATTERNS:
            for j in range(plen.max()):
                step = pattern[min(j, len(pattern) - 1)]
                status_names.append(step[0])
                sub_names.append(step[1])
                level_names.append(step[2])

        writer = _TableWriter(self.out / "AzureActivity.parquet", "AzureActivity")
        for a, b in _slices(len(order)) or [(0, 0)]:
            rows = order[a:b]
            oi = op_of_row[rows]
            k = kind[rows]
            n = len(rows)
            prin = o["prin"][oi].astype(np.int64)
            user_row = prin < n_users
            op = o["op"][oi].astype(np.int32)
            opkind = _OP_KIND[op]
            sub = o["sub"][oi].astype(np.int32)
            ip = o["ip"][oi].astype(np.int32)
            rid = t.v_rid.take(o["rid"][oi])
            admin = k == ROW_ADMIN
            ts = pa.array(row_ts[rows], pa.timestamp("us", tz="UTC"))
            app_code = np.where(user_row, o["app"][oi], n_apps + prin - n_users).astype(np.int32)
            amr_piece = _take([""] + [f'"{AMR_CLAIM}":"{x}",' for x in _AMRS[1:]], o["amr"][oi].astype(np.int32))
            ipaddr = t.v_ip.take(ip)
            claims = (
                _join(
                    '{"aud":"',
                    _take(
                        ["https://management.core.windows.net/", "https://management.azure.com/"],
                        (~user_row).astype(np.int32),
                    ),
                    f'","iss":"https://sts.windows.net/{t.tenant_id}/","iat":"',
                    _int_text(iat[oi]),
                    '","nbf":"',
                    _int_text(iat[oi]),
                    '","exp":"',
                    _int_text(exp[oi]),
                    '",',
                    amr_piece,
                    '"appid":"',
                    _take(appids, app_code),
                    '","appidacr":"',
                    _take(acrs, app_code),
                    '",',
                    _take(principal_claims, prin.astype(np.int32)),
                    '"ipaddr":"',
                    ipaddr,
                    '","uti":"',
                    _fixed_width_strings(uti[oi]),
                    f'","http://schemas.microsoft.com/identity/claims/tenantid":"{t.tenant_id}","ver":"1.0"}}',
                )
                if n
                else pa.array([], pa.string())
            )
            authorization = (
                _join(
                    '{"action":"',
                    _take([x.name for x in _OPS], op),
                    '","scope":"',
                    rid,
                    '","evidence":',
                    _take(evidence, pair_code[oi].astype(np.int32)),
                    "}",
                )
                if n
                else pa.array([], pa.string())
            )
            status_code = o["pat"][oi].astype(np.int32) * plen.max() + np.minimum(seq[rows], plen.max() - 1)
            substatus = np.array(sub_names, dtype=object)[status_code]
            substatus = np.where(substatus == "@ok", np.where(opkind == KIND_WRITE, "Created", "OK"), substatus)
            substatus = np.where(admin, substatus, "")
            status = np.where(
                admin,
                np.array(status_names, dtype=object)[status_code],
                np.where(k == ROW_AUDIT, "Succeeded", "Failed"),
            )
            level = np.where(
                admin, np.array(level_names, dtype=object)[status_code], np.where(k == ROW_AUDIT, "Warning", "Error")
            )
            is_delete = (opkind == KIND_DELETE).astype(np.int32)
            policy_name = np.where(
                k == ROW_AUDIT,
                "Microsoft.Authorization/policies/audit/action",
                np.where(
                    is_delete == 1,
                    "Microsoft.Authorization/policies/denyAction/action",
                    "Microsoft.Authorization/policies/deny/action",
                ),
            )
            name_code = op + len(_OPS) * upper[rows]
            op_value = pc.if_else(pa.array(admin), _take(op_names, name_code), pa.array(policy_name, pa.string()))
            message = pc.if_else(pa.array(admin), _take([x.name for x in _OPS], op), pa.array(policy_name, pa.string()))
            status_piece = (
                pc.if_else(
                    pa.array(substatus == ""), "", _join(',"statusCode":"', pa.array(substatus, pa.string()), '"')
                )
                if n
                else pa.array([], pa.string())
            )
            policies = _take(policy_piece, sub * 4 + is_delete * 2 + (k == ROW_DENY))
            properties = (
                _join(
                    "{",
                    pc.if_else(
                        pa.array(admin),
                        "",
                        _join('"isComplianceCheck":"False","resourceLocation":"westeurope",', policies),
                    ),
                    '"eventCategory":"',
                    pc.if_else(pa.array(admin), "Administrative", "Policy"),
                    '","entity":"',
                    rid,
                    '","message":"',
                    message,
                    '","hierarchy":"',
                    _take(hierarchy, sub),
                    '"',
                    status_piece,
                    "}",
                )
                if n
                else pa.array([], pa.string())
            )
            http = (
                _join(
                    '{"clientRequestId":"',
                    pc.take(request_ids, pa.array(oi)),
                    '","clientIpAddress":"',
                    ipaddr,
                    '","method":"',
                    _take([x.method for x in _OPS], op),
                    '"}',
                )
                if n
                else pa.array([], pa.string())
            )
            localized = (
                pc.if_else(
                    pa.array(admin),
                    _take([x.localized for x in _OPS], op),
                    pa.array(np.where(k == ROW_AUDIT, "'audit' Policy action.", "'deny' Policy action."), pa.string()),
                )
                if n
                else pa.array([], pa.string())
            )
            provider = (
                pc.if_else(pa.array(admin), _take(providers, name_code), "Microsoft.Authorization")
                if n
                else (pa.array([], pa.string()))
            )
            category = pc.if_else(pa.array(admin), "Administrative", "Policy") if n else pa.array([], pa.string())
            cols = {
                "TenantId": t.tenant_id,
                "SourceSystem": "Azure",
                "TimeGenerated": ts,
                "CallerIpAddress": ipaddr,
                "CategoryValue": category,
                "CorrelationId": pc.take(corr_ids, pa.array(corr_key[oi])),
                "Authorization": authorization,
                "Authorization_d": authorization,
                "Claims": claims,
                "Claims_d": claims,
                "Level": pa.array(level, pa.string()),
                "OperationNameValue": op_value,
                "Properties": properties,
                "Properties_d": properties,
                "Caller": _take(callers, (prin * 3 + o["form"][oi]).astype(np.int32)),
                "EventDataId": _guid_array(self.rng, n) if n else pa.array([], pa.string()),
                "EventSubmissionTimestamp": pa.array(
                    row_ts[rows] + self.rng.integers(5, 20, n) * _US, pa.timestamp("us", tz="UTC")
                ),
                "HTTPRequest": http,
                "OperationId": pc.take(op_ids, pa.array(oi)),
                "ResourceGroup": _take(rg_upper, o["rg"][oi].astype(np.int32)),
                "ResourceProviderValue": provider,
                "ActivityStatusValue": pa.array([_STATUS_VALUE[x] for x in status], pa.string()),
                "ActivitySubstatusValue": pa.array(substatus, pa.string()),
                "Hierarchy": _take(hierarchy, sub),
                "SubscriptionId": _take([x[0] for x in t.subs], sub),
                "OperationName": localized,
                "ActivityStatus": pa.array(status, pa.string()),
                "ActivitySubstatus": pa.array(substatus, pa.string()),
                "Category": category,
                "ResourceProvider": provider,
                "Resource": _take(t.rid_name, o["rid"][oi].astype(np.int32)),
                "_ResourceId": _take(rid_lower, o["rid"][oi].astype(np.int32)),
                "Type": "AzureActivity",
            }
            writer.write(cols, n)
            del cols, claims, authorization, properties, http  # one slice alive at a time
        writer.close()
        self.rows["AzureActivity"] = writer.rows

    def _user_claims(self, u: _User) -> str:
        parts = {
            "name": u.display,
            "http://schemas.microsoft.com/identity/claims/objectidentifier": u.user_id,
            "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation",
            "idtyp": "user",
        }
        if u.guest:
            parts["http://schemas.microsoft.com/identity/claims/identityprovider"] = (
                f"https://sts.windows.net/{u.home_tenant}/"
            )
            parts["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"] = u.upn
        else:
            parts["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = u.upn
            parts["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"] = u.upn
        return _dumps(parts)[1:-1] + ","

    def _workload_claims(self, wl: _Workload) -> str:
        parts = {"http://schemas.microsoft.com/identity/claims/objectidentifier": wl.object_id, "idtyp": "app"}
        if wl.mirid:
            parts["xms_mirid"] = wl.mirid
        return _dumps(parts)[1:-1] + ","

    def _evidence(self, prin: int, sub: int) -> str:
        t = self.t
        user = prin < t.n_users
        oid = t.users[prin].user_id if user else t.workloads[prin - t.n_users].object_id
        role = "Contributor" if not user or self.rng.random() < 0.7 else "Owner"
        return _dumps(
            {
                "role": role,
                "roleAssignmentScope": f"/subscriptions/{t.subs[sub][0]}",
                "roleAssignmentId": bytes(self.rng.bytes(16)).hex(),
                "roleDefinitionId": "b24988ac618042a0ab8820f7382dd24c"
                if role == "Contributor"
                else "8e3af657a8ff443ca75c2fe8c4bcb635",
                "principalId": oid.replace("-", ""),
                "principalType": "User" if user else "ServicePrincipal",
            }
        )

    def _policies_piece(self, sub: int, delete: int, deny: int) -> str:
        """The ``"policies":"<JSON text>",`` member of a policy event's Properties."""
        sub_id = self.t.subs[sub][0]
        if deny:
            name = "sys.mfa-delete" if delete else "sys.mfa-write"
            definition = SYS_DELETE_DEFINITION if delete else SYS_WRITE_DEFINITION
            effect = "DenyAction" if delete else "Deny"
            display = (
                "Microsoft Azure Multi Factor Authentication Enforcement for Resource "
                + ("Delete" if delete else "Write")
                + " Actions"
            )
            assignment = (
                f"/providers/Microsoft.Management/managementGroups/{self.t.tenant_id}"
                f"/providers/Microsoft.Authorization/policyAssignments/{name}"
            )
            scope = f"/providers/Microsoft.Management/managementGroups/{self.t.tenant_id}"
            version = "1.0.0"
        else:
            name = "mfa-delete-audit" if delete else "mfa-write-audit"
            definition = POLICY_DELETE_DEFINITION if delete else POLICY_WRITE_DEFINITION
            effect = "AuditAction" if delete else "Audit"
            display = "[Preview]: Users must authenticate with multi-factor authentication to " + (
                "delete resources" if delete else "create or update resources"
            )
            assignment = f"/subscriptions/{sub_id}/providers/Microsoft.Authorization/policyAssignments/{name}"
            scope = f"/subscriptions/{sub_id}"
            version = "1.0.0-preview"
        policies = [
            {
                "policyDefinitionId": f"/providers/Microsoft.Authorization/policyDefinitions/{definition}",
                "policyDefinitionName": definition,
                "policyDefinitionDisplayName": display,
                "policyDefinitionVersion": version,
                "policyDefinitionEffect": effect,
                "policyAssignmentId": assignment,
                "policyAssignmentName": name,
                "policyAssignmentScope": scope,
                "policyExemptionIds": [],
                "policyEnrollmentIds": [],
            }
        ]
        return '"policies":' + _dumps(_dumps(policies)) + ","


# ---------------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------------
def _ground_truth(t: _Tenant, s: dict[str, Arr], o: dict[str, Arr], seed: int, now: dt.datetime) -> dict[str, Any]:
    """Per user identity: verdict, counts and tools, computed from the emitted rows."""
    from kitlib import __version__

    n_users = t.n_users
    touched = np.zeros(n_users, dtype=bool)
    arm = s["res"] == RES_ARM
    touched[s["user"][arm]] = True
    results = np.array([a.result for a in _AUTHS])
    requirement_sf = np.array([a.requirement == "singleFactorAuthentication" for a in _AUTHS])
    satisfied = np.array([a.mfa_satisfied for a in _AUTHS])
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
    kind = _OP_KIND[o["op"][users_op]]
    mfa = _AMR_HAS_MFA[o["amr"][users_op]]
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


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------
def generate(out: Path, *, users: int = 1500, days: int = 30, seed: int = 42, now: dt.datetime) -> DemoSummary:
    """Write a demo tenant (five tables + ``ground_truth.json``) into ``out``; same args, same bytes.

    ``now`` ends the window ``[now - days, now)``; a naive ``now`` is taken as UTC. Existing
    table files in ``out`` are replaced.
    """
    started = time.perf_counter()
    if isinstance(users, bool) or not isinstance(users, int) or users < MIN_USERS:
        raise UsageError(f"users must be an integer >= {MIN_USERS} (every persona needs a few), got {users!r}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise UsageError(f"days must be an integer between 1 and 366, got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(now, dt.datetime):
        raise UsageError(f"now must be a datetime, got {type(now).__name__}")
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    tenant = _Tenant(users, days, seed, now)
    tenant.build_population()
    tenant.plan()
    s = tenant.signins.finish()
    w = tenant.wl_signins.finish()
    o = tenant.ops.finish()
    # policy effects: audit on the audited subscriptions; deny on the enforced one, lately
    nonmfa_user_write = (o["prin"] < users) & ~_AMR_HAS_MFA[o["amr"]] & (_OP_KIND[o["op"]] != KIND_ACTION)
    o["audit"] = (nonmfa_user_write & np.isin(o["sub"], AUDIT_SUBS)).astype(np.int64)
    deny = nonmfa_user_write & (o["sub"] == ENFORCED_SUB) & (o["ts"] >= tenant.now_us - ENFORCED_DAYS * _DAY)
    o["deny"] = deny.astype(np.int64)
    o["pat"] = np.where(deny, PAT_DENIED, o["pat"]).astype(np.int8)
    log.info(
        "demo plan: %d user sign-ins, %d workload sign-ins, %d operations", len(s["ts"]), len(w["ts"]), len(o["ts"])
    )

    s_uti = _uti_bytes(tenant.rng, len(s["ts"])) if len(s["ts"]) else np.zeros((0, 22), np.uint8)
    w_uti = _uti_bytes(tenant.rng, len(w["ts"])) if len(w["ts"]) else np.zeros((0, 22), np.uint8)
    m = _Materialiser(tenant, out)
    m.user_signins(s, s_uti)
    m.workload_signins(w, w_uti)
    m.activity(o, s["ts"], s_uti, w["ts"], w_uti)

    truth = _ground_truth(tenant, s, o, seed, now)
    truth_path = out / "ground_truth.json"
    truth_path.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths = {table: out / f"{table}.parquet" for table in TABLE_NAMES}
    paths["ground_truth"] = truth_path
    seconds = time.perf_counter() - started
    log.info("demo tenant in %s: %s rows, %d identities, %.1fs", out, m.rows, len(truth["identities"]), seconds)
    return DemoSummary(
        out=out,
        paths=paths,
        rows={table: m.rows[table] for table in TABLE_NAMES},
        identities=len(truth["identities"]),
        workload_identities=len(truth["workload_identities"]),
        seconds=seconds,
    )
