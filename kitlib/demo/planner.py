"""The tenant planner: who is in the tenant and what each persona does, as small integers.

Every random choice of the plan is made here, in a fixed order, from the one generator a
:class:`Tenant` owns (the materialiser goes on drawing from it afterwards): same arguments, same plan.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kitlib.demo.columns import Arr, Store, Vocab, dumps, guid
from kitlib.demo.facts import (
    A_HELLO,
    A_MFA_CLAIM,
    A_MFA_FIDO,
    A_MFA_PUSH,
    A_ROPC,
    A_SF_CLAIM_MFA,
    A_SF_HIDDEN_MFA,
    A_SF_PWD,
    A_SF_REFRESH,
    ANSIBLE_MSAL,
    ANSIBLE_VERSIONS,
    APP_CLI,
    APP_MOBILE,
    APP_OFFICE,
    APP_OFFICEHOME,
    APP_OWA,
    APP_PORTAL,
    APP_PS,
    APP_TEAMS,
    APP_VSCODE,
    AUTOMATION_PERSONAS,
    AUTOMATION_PREFIXES,
    AUTOMATION_PURPOSES,
    AZ_ACCOUNTS_VERSIONS,
    AZURE_IDENTITY_PY,
    AZURE_REGIONS,
    BICEP_VERSIONS,
    BREAKGLASS_UPNS,
    BROWSERS,
    CLAIM_HELLO,
    CLAIM_HELLO_C1,
    CLAIM_HELLO_MFA,
    CLAIM_NONE,
    CLAIM_PWD,
    CLAIM_PWD_MFA,
    CLAIM_RSA_MFA,
    CLAIM_STEP_UP,
    CLAIM_WIA,
    CLI_TRAP_VERSIONS,
    CLI_VERSIONS,
    DATACENTER,
    DAY,
    DOMAIN,
    F_50076,
    F_50079,
    F_50126,
    F_53003,
    FAM_DEPLOY,
    FAM_RG,
    FAM_ROLE,
    FAM_SQL,
    FAM_ST,
    FAM_WEBCFG,
    FAMILIES,
    FAMILY_HAS_ACTION,
    FAMILY_WEIGHTS,
    FIRST,
    HOME_NETS,
    HOUR,
    HUMAN_DECOY_PREFIXES,
    KIND_ACTION,
    KIND_DELETE,
    KIND_WRITE,
    LAST,
    MI_NAMES,
    MIN,
    MIN_USERS,
    OFFICE_UA,
    OFFICE_WEIGHTS,
    OFFICES,
    OLD_LAPTOP_CLI,
    OP_KIND,
    OP_LONG,
    OP_TABLE,
    PAT_FAILED,
    PAT_LONG,
    PAT_OK,
    PAT_OTHER_POLICY,
    PAT_RBAC,
    PERSONA_MINIMUMS,
    PERSONA_SHARES,
    PLATFORM_OS,
    PLATFORM_UA,
    PROTO_DEVICECODE,
    PROTO_NONE,
    PROTO_ROPC,
    RES_ARM,
    RES_EXO,
    RES_GRAPH,
    RES_KV,
    RES_SPO,
    RES_TEAMS,
    RG_APPS,
    SP_NAMES,
    SUB_CONN,
    SUB_DATA,
    SUB_DEV,
    SUB_PROD_EU,
    SUB_PROD_US,
    SUB_SANDBOX,
    SUB_SHARED,
    SUB_TEST,
    SUBSCRIPTIONS,
    TEAMS_UA,
    TERRAFORM_VERSIONS,
    TOK_NONE,
    TOK_PRT,
    TOK_REFRESH,
    UPGRADES,
    US,
    VENDORS,
)
from kitlib.demo.libraries import auth_library, identity_net_version, requests_version
from kitlib.domain import versions
from kitlib.domain.apps import AZURE_CLI, AZURE_POWERSHELL
from kitlib.errors import UsageError


# ---------------------------------------------------------------------------------------------
# Directory objects
# ---------------------------------------------------------------------------------------------
@dataclass
class User:
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
    browser: int = 0  # index into BROWSERS
    platform: str = "windows"
    cli_version: str | None = None
    ps_version: str | None = None
    ps_sku: str = "MSAL.NetCore"
    extra_tools: dict[str, str] = field(default_factory=dict)  # tool -> version (bicep, terraform...)
    tools: set[str] = field(default_factory=set)  # filled as rows are emitted
    ropc: bool = False
    reads_only: bool = False  # an automation account that never writes (an inventory script)
    group_assigned: bool = False  # its Azure roles come through a group (principalType Group)
    idtyp_missing: bool = False  # its tokens predate the idtyp claim (the upn claim tells it is a user)
    #: tool -> releases whose token requests (with a library value) were emitted, in order
    versions_seen: dict[str, list[str]] = field(default_factory=dict)
    #: tool -> releases the persona upgraded away from during the window (no longer in use at the end)
    upgraded_from: dict[str, str] = field(default_factory=dict)
    cli_upgrade: tuple[str, str] | None = None  # (before, after) for a person who upgrades mid-window

    @property
    def automation(self) -> bool:
        return self.persona in AUTOMATION_PERSONAS

    @property
    def breakglass(self) -> bool:
        return self.persona == "breakglass"


@dataclass
class Workload:
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
            np.flatnonzero(FAMILY_HAS_ACTION[fam]),
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
    "rtenant": (np.int8, 0),  # 0: this tenant's resources; 1: the partner tenant's (an outbound member)
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
    "amr": (np.int8, CLAIM_NONE),  # index into CLAIMS: the token's amr and acrs, and the intent
    "ip": (np.int32, 0),
    "tok": (np.int64, -1),  # row in the user (or workload) sign-in store whose uti the token has
    "pat": (np.int8, PAT_OK),
    "corr": (np.int64, -1),  # op index sharing its CorrelationId (nested deployment writes)
}


VS_CODE_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Code/1.95.3 Chrome/128.0.6613.186 Electron/32.2.1"
#: The Azure CLI release Cloud Shell runs: the newest one the versions mapping knows.
CLOUD_SHELL_CLI = str(versions.cli_releases()[-1].text)


@dataclass(frozen=True)
class _HumanArm:
    """How a person uses ARM: share of days active, writes per session, chance a login has MFA."""

    p_day: float
    writes_rate: float
    p_mfa: float  # human_cli_partial_mfa and guest draw theirs per user


#: Every persona planned by :meth:`Tenant._human_arm` (people working in ARM).
HUMAN_ARM: dict[str, _HumanArm] = {
    "human_mfa": _HumanArm(0.35, 2.0, 1.0),
    "human_cli_partial_mfa": _HumanArm(0.45, 2.5, 0.5),
    "readonly_cli_single_factor": _HumanArm(0.3, 0.0, 0.0),
    "readonly_cli_mfa": _HumanArm(0.3, 0.0, 1.0),
    "portal_only": _HumanArm(0.3, 1.5, 1.0),
    "cloud_shell": _HumanArm(0.4, 1.5, 1.0),
    "guest": _HumanArm(0.3, 2.0, 0.5),
    "hello_writer": _HumanArm(0.35, 2.0, 0.0),
    "wia_writer": _HumanArm(0.35, 2.0, 0.0),
    "stepped_up": _HumanArm(0.35, 2.0, 1.0),
    "group_granted": _HumanArm(0.4, 2.0, 0.0),
    "rbac_refused": _HumanArm(0.3, 1.5, 0.0),
    "mobile_app": _HumanArm(0.3, 0.0, 0.0),
    "cli_and_cloudshell": _HumanArm(0.4, 1.5, 1.0),
    "upgraded_cli": _HumanArm(0.4, 1.5, 1.0),
    "outbound_member": _HumanArm(0.35, 0.0, 0.0),
    "mfa_hidden": _HumanArm(0.35, 1.5, 1.0),
}
#: People who make no POST /action calls.
QUIET_PERSONAS = frozenset({"mobile_app", "outbound_member", "rbac_refused"})
#: People whose every session writes: what their writes' claims say is the point of the persona.
MUST_WRITE_PERSONAS = frozenset({"hello_writer", "wia_writer", "stepped_up", "group_granted", "rbac_refused",
                                 "mfa_hidden"})  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The tenant planner
# ---------------------------------------------------------------------------------------------
class Tenant:
    """Plans every event as small integers; columns are materialised later, in bulk.

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

    Assumptions marked [I] in the domain reference: Cloud Shell token requests are modelled as Azure
    CLI app tokens from AS8075; ROPC sign-ins land in ``SigninLogs``; the denyAction operation name
    for ``sys.mfa-delete`` is ``Microsoft.Authorization/policies/denyAction/action``.
    """

    def __init__(self, users: int, days: int, seed: int, now: dt.datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.n_users = users
        self.days = days
        self.now_us = int(now.timestamp() * US)
        self.start_us = self.now_us - days * DAY
        first_midnight = (self.start_us // DAY) * DAY
        self.day0 = np.arange(first_midnight, self.now_us, DAY, dtype=np.int64)
        # 1970-01-01 was a Thursday: weekday 0 = Monday
        self.weekday = ((self.day0 // DAY) + 3) % 7
        self.tenant_id = guid(self.rng)
        self.partner_tenant = guid(self.rng)  # where the outbound members take their tokens
        self.group_id = guid(self.rng)  # the group that grants the group-assigned people their roles
        self.signins = Store(_SIGNIN_SPEC)
        self.wl_signins = Store(_WL_SIGNIN_SPEC)
        self.ops = Store(_OP_SPEC)
        self.v_ip = Vocab()
        self.ip_asn: list[str] = []
        self.ip_city: list[str] = []
        self.ip_named: list[str] = []  # named location (office) or ""
        self.v_dev = Vocab()
        self.v_ua = Vocab()
        self.v_apd = Vocab()
        self.v_rid = Vocab()
        self.v_rg = Vocab()
        self.rid_name: list[str] = []
        self.n_sessions = 0
        self.subs = [(guid(self.rng), name, mg) for name, mg in SUBSCRIPTIONS]
        self.rg_pool: list[list[tuple[int, str]]] = []
        for s in range(len(SUBSCRIPTIONS)):
            env = ("prod", "prod", "dev", "test", "shared", "data", "sbx", "conn")[s]
            names = sorted({f"rg-{RG_APPS[i]}-{env}" for i in self.rng.choice(len(RG_APPS), 6, replace=False)})
            self.rg_pool.append([(s, n) for n in names])
        self.users: list[User] = []
        self.workloads: list[Workload] = []
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
        city, octets = AZURE_REGIONS[int(self.rng.integers(len(AZURE_REGIONS))) if region is None else region]
        return self.random_ip(octets, "8075", city)

    def office_ip(self, office: int) -> int:
        name, city, asn, net, hosts = OFFICES[office]
        return self.ip(f"{net}.{self.pick(hosts)}", asn, city, name)

    def device(self, device_id: str, name: str, os_name: str, browser: str, managed: bool, trust: str) -> int:
        return self.v_dev(
            dumps(
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
        return self.device("", "", PLATFORM_OS[platform], browser, False, "")

    def apd(self, library: str | None, cae: bool, scope: str) -> int:
        """AuthenticationProcessingDetails JSON for one library value."""
        items = []
        if library is not None:
            items.append({"key": "Azure AD App Authentication Library", "value": library})
        items.append({"key": "Is CAE Token", "value": "True" if cae else "False"})
        items.append({"key": "Oauth Scope Info", "value": dumps([scope])})
        return self.v_apd(dumps(items))

    def resource(self, fam: int, sub: int, rg: str, name: str) -> int:
        f = FAMILIES[fam]
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
        f = FAMILIES[fam]
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
        w = FAMILY_WEIGHTS if weights is None else weights
        fams = self.rng.choice(len(FAMILIES), size=size, p=w / w.sum())
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
        p_rbac: float = 0.0,
        corr: int = -1,
    ) -> int:
        """Operations by one principal at ``ts`` on resources from its pool.

        ``p_fail``: share that fail (a conflict, or now and then another policy's denial);
        ``p_rbac``: share refused by RBAC (the principal lacks the permission).
        """
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
        op = OP_TABLE[fam, kind]
        pat = np.where(OP_LONG[op] & (OP_KIND[op] != KIND_ACTION), PAT_LONG, PAT_OK)
        failed = self.rng.random(n) < p_fail
        other_policy = failed & (self.rng.random(n) < 0.25) & (OP_KIND[op] != KIND_ACTION)
        pat = np.where(failed, np.where(other_policy, PAT_OTHER_POLICY, PAT_FAILED), pat)
        pat = np.where(self.rng.random(n) < p_rbac, PAT_RBAC, pat)
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

    def upn_forms(self, user: User, n: int, p_lower: float) -> Arr:
        """Per row: 0 = UPN as stored, 1 = lower case, 2 = upper case (rare)."""
        if user.upn == user.upn.lower():
            return np.where(self.rng.random(n) < 0.01, 2, 0).astype(np.int8)
        u = self.rng.random(n)
        return np.where(u < p_lower, 1, np.where(u < p_lower + 0.01, 2, 0)).astype(np.int8)

    # --- population ---------------------------------------------------------------------------
    def build_population(self) -> None:
        counts = _persona_counts(self.n_users)
        names = self.rng.permutation(len(FIRST) * len(LAST))
        used: set[str] = set()
        order: list[str] = []
        for persona, count in counts.items():
            order.extend([persona] * count)
        automation_seen = 0
        humans_seen = 0  # 1 in 25 people get an admin-style sa-/svc-/devops- name
        for i, persona in enumerate(order):
            n = int(names[i % len(names)])
            first, last = FIRST[n // len(LAST)], LAST[n % len(LAST)]
            local = f"{first}.{last.replace(' ', '')}"
            display = f"{first} {last}"
            if i >= len(names):
                local += str(i // len(names))
            cap = self.rng.random() < 0.4
            user = User(i, persona, "", guid(self.rng), display, 0.0)
            user.office = int(self.rng.choice(len(OFFICES), p=OFFICE_WEIGHTS))
            user.tz = {0: 1.0, 1: 0.0, 2: -5.0, 3: 5.5}[user.office]
            if persona == "breakglass":
                upn = BREAKGLASS_UPNS[0] if BREAKGLASS_UPNS[0].lower() not in used else BREAKGLASS_UPNS[1]
                user.display = "Break Glass " + upn[10:12]
            elif persona == "guest":
                vendor = i % len(VENDORS)
                user.vendor = vendor
                vdomain = VENDORS[vendor][0]
                upn = f"{local if cap else local.lower()}_{vdomain}#EXT#@{DOMAIN}"
                user.guest = True
                user.home_tenant = guid(self.rng)
                user.home_tenant_name = VENDORS[vendor][1]
                user.tz = {"DE": 1.0, "PL": 1.0, "US": -5.0, "GB": 0.0}[VENDORS[vendor][2]]
            elif persona in AUTOMATION_PERSONAS:
                automation_seen += 1
                if automation_seen % 5 not in (1, 3):  # 3 in 5 carry a service-account name
                    prefix = self.pick(AUTOMATION_PREFIXES)
                    if persona == "automation_deployment" and self.rng.random() < 0.5:
                        prefix = "tf-"
                    purpose = self.pick(AUTOMATION_PURPOSES)
                    upn = f"{prefix}{purpose}{'' if automation_seen < 20 else automation_seen}@{DOMAIN}"
                    user.display = upn.split("@")[0]
                else:
                    upn = f"{local if cap else local.lower()}@{DOMAIN}"
            else:
                upn = f"{local if cap else local.lower()}@{DOMAIN}"
                if persona in ("human_mfa", "human_cli_partial_mfa", "readonly_cli_mfa"):
                    humans_seen += 1
                if persona in ("human_mfa", "human_cli_partial_mfa", "readonly_cli_mfa") and humans_seen % 25 == 12:
                    upn = f"{HUMAN_DECOY_PREFIXES[humans_seen // 25 % len(HUMAN_DECOY_PREFIXES)]}{upn}"
                    user.display = f"{display} (Admin)"
            while upn.lower() in used:
                upn = upn.replace("@", "1@", 1)
            used.add(upn.lower())
            user.upn = upn
            user.home_tenant = user.home_tenant or self.tenant_id
            user.platform = str(self.rng.choice(["windows", "macos", "linux"], p=[0.65, 0.25, 0.10]))
            browsers = [
                b
                for b, (_, _, os_name) in enumerate(BROWSERS)
                if os_name == PLATFORM_OS[user.platform].replace("Windows 10", "Windows10")
            ]
            user.browser = int(self.pick(browsers))
            self.users.append(user)
        self._assign_tools()
        self._build_workloads()

    def _assign_tools(self) -> None:
        by_persona: dict[str, list[User]] = {}
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
                u.cli_version = CLOUD_SHELL_CLI
            elif u.persona == "wia_writer":  # Windows PowerShell on a domain-joined desktop
                u.ps_version, u.ps_sku = ps, "MSAL.Desktop"
            elif u.persona == "stepped_up":  # az login --claims-challenge exists from Azure CLI 2.76.0
                ready = [v for v in CLI_VERSIONS if versions.parse_version(v) >= versions.parse_version("2.77.0")]
                u.cli_version = str(self.pick(ready))
            elif u.persona in ("group_granted", "rbac_refused", "mfa_hidden", "outbound_member"):
                u.cli_version = cli
            elif u.persona == "cli_and_cloudshell":  # an old CLI on the laptop, the newest in Cloud Shell
                u.cli_version = str(self.pick(OLD_LAPTOP_CLI))
            elif u.persona == "upgraded_cli":
                before, after = UPGRADES[int(self.rng.integers(len(UPGRADES)))]
                u.cli_version, u.cli_upgrade = before, (before, after)
                u.upgraded_from[AZURE_CLI] = before
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
        # Roles granted through a group (the activity log's principalType says Group, not User), and
        # tokens old enough to lack the idtyp claim: neither may hide a user from the analysis.
        for u in self.users:
            person = u.persona in ("human_mfa", "human_cli_partial_mfa", "readonly_cli_mfa")
            u.group_assigned = u.persona == "group_granted" or (person and self.rng.random() < 0.1)
            u.idtyp_missing = person and self.rng.random() < 0.05
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
            base = SP_NAMES[i % len(SP_NAMES)]
            name = base if i < len(SP_NAMES) else f"{base}-{i // len(SP_NAMES) + 1}"
            acr = "2" if self.rng.random() < 0.4 else "1"
            wl = Workload(i, "service_principal", guid(self.rng), guid(self.rng), name, acr)
            if "github" in name or "gitops" in name:
                wl.federated = guid(self.rng)
            elif acr == "2":
                wl.thumbprint = bytes(self.rng.bytes(20)).hex().upper()
            else:
                wl.cred_key = guid(self.rng)
            self.workloads.append(wl)
        for j in range(n_mi):
            base = MI_NAMES[j % len(MI_NAMES)]
            name = base if j < len(MI_NAMES) else f"{base}-{j // len(MI_NAMES) + 1}"
            sub = self.subs[[SUB_PROD_EU, SUB_PROD_US, SUB_SHARED, SUB_DATA][j % 4]][0]
            wl = Workload(len(self.workloads), "managed_identity", guid(self.rng), guid(self.rng), name, "2")
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
        return (ts >= self.start_us) & (ts < self.now_us - 5 * MIN)

    # --- emitting sign-ins --------------------------------------------------------------------
    def add_signins(self, user: User, ts: Arr, **fields: Any) -> int:
        keep = self.keep(ts)
        if not keep.all():
            raise AssertionError("sign-in outside the window")  # callers filter first
        return self.signins.add(len(ts), ts=ts, user=user.idx, form=self.upn_forms(user, len(ts), 0.35), **fields)

    # --- personas -----------------------------------------------------------------------------
    def plan(self) -> None:
        for user in self.users:
            self._setup_network_and_device(user)
            persona = user.persona
            if (persona in HUMAN_ARM and persona != "guest") or persona == "office_only":
                self._office_background(user)
            if persona in HUMAN_ARM:
                self._human_arm(user)
            elif persona == "breakglass":
                self._breakglass(user)
            elif persona == "automation_ropc":
                self._ropc(user)
            elif persona == "automation_cli_agent":
                self._cli_agent(user)
            elif persona == "automation_deployment":
                self._deployment(user)
            elif persona == "post_only":
                self._post_only(user)
            elif persona == "one_event":
                self._one_event(user)
        for wl in self.workloads:
            self._workload(wl)

    def _post_only(self, user: User) -> None:
        """A few POST actions (start a VM, list keys) with a password-only token from before the window."""
        user.tools.add(AZURE_CLI)
        pool = self.resource_pool([SUB_DEV, SUB_TEST], 6)
        while not len(pool.capable):
            pool = self.resource_pool([SUB_DEV, SUB_TEST], 6)
        days = np.sort(self.rng.choice(len(self.day0), size=min(len(self.day0), 3), replace=False))
        start, _end = self._work_hours(user, days)
        t = start + self.rng.integers(0, 4 * HOUR, len(days))
        t = t[self.keep(t)]
        ip = user.home_ips[0]
        self.add_ops(t, user.idx, pool, app=APP_CLI, amr=CLAIM_PWD, ip=ip, tok=-1, p_action=1.0, p_delete=0.0,
                     p_fail=0.0)  # fmt: skip

    def _one_event(self, user: User) -> None:
        """One portal write with MFA, its token signed in before the window: nothing else to go on."""
        user.tools.add("portal")
        pool = self.resource_pool([SUB_SHARED], 2)
        day = np.array([int(self.rng.integers(len(self.day0)))])
        start, _end = self._work_hours(user, day)
        t = start[self.keep(start)]
        if not len(t):
            t = np.array([self.now_us - 2 * DAY], dtype=np.int64)
        self.add_ops(t[:1], user.idx, pool, app=APP_PORTAL, amr=CLAIM_RSA_MFA, ip=self.office_ip(user.office), tok=-1,
                     p_action=0.0, p_delete=0.0, p_fail=0.0)  # fmt: skip

    def _setup_network_and_device(self, user: User) -> None:
        if user.guest:
            _domain, _, vendor_city, vendor_asn, vendor_octets = VENDORS[user.vendor]
            user.home_ips = [self.random_ip(vendor_octets, vendor_asn, vendor_city)]
        else:
            country = OFFICES[user.office][1]
            asn, octets = HOME_NETS[country]
            user.home_ips = [self.random_ip(octets, asn, country) for _ in range(1 + int(self.rng.random() < 0.3))]
        _, browser_name, os_name = BROWSERS[user.browser]
        if user.guest:
            user.laptop = self.device("", "", os_name, browser_name, False, "")
        elif user.persona not in AUTOMATION_PERSONAS:
            trust = "Azure AD joined" if self.rng.random() < 0.6 else "Hybrid Azure AD joined"
            name = f"{'LT' if user.platform != 'linux' else 'WS'}-{bytes(self.rng.bytes(3)).hex().upper()}"
            user.laptop = self.device(guid(self.rng), name, os_name, browser_name, True, trust)

    def day_ips(self, user: User, days: Arr) -> Arr:
        """Where the user is each active day: an office egress IP or a home IP."""
        at_office = self.rng.random(len(days)) < 0.6
        office = np.array([self.office_ip(user.office) for _ in range(len(days))], dtype=np.int32)
        home = np.array(user.home_ips, dtype=np.int32)[self.rng.integers(len(user.home_ips), size=len(days))]
        return np.where(at_office & ~user.guest, office, home)

    def _work_hours(self, user: User, days: Arr) -> tuple[Arr, Arr]:
        start_h = 8.0 + self.rng.uniform(-0.7, 1.3, len(days)) - user.tz
        length_h = 8.5 + self.rng.uniform(-1.0, 1.0, len(days))
        start = self.day0[days] + (start_h * HOUR).astype(np.int64)
        return start, start + (length_h * HOUR).astype(np.int64)

    def _office_background(self, user: User) -> None:
        """Exchange/Teams/SharePoint sign-ins: the human baseline and most of the noise."""
        days = self.active_days(0.85, 0.06)
        if len(days) == 0:
            return
        start, end = self._work_hours(user, days)
        ips = self.day_ips(user, days)
        ua_browser = self.v_ua(BROWSERS[user.browser][0])
        # one interactive sign-in per active day
        ts = start + self.rng.integers(0, 10 * MIN, len(days))
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
            (app == APP_TEAMS), self.v_ua(TEAMS_UA), np.where(app == APP_OFFICE, self.v_ua(OFFICE_UA), ua_browser)
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
            ua=np.where(app2[mask2] == APP_TEAMS, self.v_ua(TEAMS_UA), self.v_ua(OFFICE_UA)),
            apd=apd,
            auth=auth2[mask2],
            proto=PROTO_NONE,
            interactive=False,
            tok=TOK_PRT,
            session=sessions[rep][mask2],
        )

    def _tool_profile(self, user: User, tool: str, cli_version: str | None = None) -> tuple[int, int, int, int]:
        """(app, token-request UA, refresh device, AuthenticationProcessingDetails) for a tool.

        ``cli_version`` overrides the user's Azure CLI release (Cloud Shell beside a laptop).
        """
        version = cli_version or user.cli_version
        key = (user.idx, tool, version, user.ps_version)
        found = self._profiles.get(key)
        if found is None:
            found = self._profiles[key] = self._make_tool_profile(user, tool, version)
        return found

    def _make_tool_profile(self, user: User, tool: str, cli_version: str | None) -> tuple[int, int, int, int]:
        if tool == "cli":
            assert cli_version is not None
            lib = auth_library(AZURE_CLI, cli_version)
            req = requests_version(cli_version)
            ua = self.v_ua(f"python-requests/{req}")
            dev = self.tool_device(user.platform, f"Python Requests {req.rsplit('.', 1)[0]}")
            return APP_CLI, ua, dev, self.apd(lib, False, "https://management.core.windows.net//user_impersonation")
        if tool == "vscode":
            ua = self.v_ua(VS_CODE_UA)
            dev = self.tool_device(user.platform, "")
            lib = "Family: MSAL Library: MSAL.JS 2.15.0 Platform: Node"
            return APP_VSCODE, ua, dev, self.apd(lib, True, "https://management.core.windows.net//.default")
        if tool == "mobile":
            ua = self.v_ua("Azure/6.4.0 (com.microsoft.azureapp; iOS 18.1)")
            dev = self.device("", "", "Ios", "", False, "")
            lib = "Family: MSAL Library: MSAL.iOS 1.6.1 Platform: iOS"
            return APP_MOBILE, ua, dev, self.apd(lib, True, "https://management.core.windows.net//user_impersonation")
        assert user.ps_version is not None
        lib = auth_library(AZURE_POWERSHELL, user.ps_version, sku=user.ps_sku)
        ident = identity_net_version(user.ps_version)
        runtime = ".NET Framework 4.8.9290.0" if user.ps_sku == "MSAL.Desktop" else ".NET 8.0.11"
        ua = self.v_ua(f"azsdk-net-Identity/{ident} ({runtime}; Microsoft Windows 10.0.22631)")
        msal_net = lib.split()[4] if len(lib.split()) > 4 else ""
        dev = self.tool_device("windows", f"Rich Client {msal_net}.0" if msal_net else "")
        return APP_PS, ua, dev, self.apd(lib, True, "https://management.core.windows.net//.default")

    def seen(self, user: User, tool: str, version: str | None) -> None:
        """Note that token requests of a release went out (the ground truth's versions in use)."""
        if version:
            versions = user.versions_seen.setdefault(tool, [])
            if version not in versions:
                versions.append(version)

    def _human_arm(self, user: User) -> None:
        """CLI / PowerShell / portal / Cloud Shell / other-client sessions with their writes."""
        persona = user.persona
        arm = HUMAN_ARM[persona]
        days = self.active_days(arm.p_day, 0.03)
        if len(days) == 0:
            days = np.array([int(self.rng.integers(max(1, len(self.day0) - 1)))])
        start, end = self._work_hours(user, days)
        ips = self.day_ips(user, days)
        writes_rate = arm.writes_rate
        action_rate = 0.0 if persona in QUIET_PERSONAS else 0.3
        if persona == "readonly_cli_single_factor":
            action_rate = 0.5 if self.rng.random() < 0.5 else 0.0
        subs = [SUB_PROD_EU, SUB_PROD_US, SUB_DEV, SUB_TEST, SUB_SHARED, SUB_DATA, SUB_SANDBOX, SUB_CONN]
        my_subs = sorted({int(s) for s in self.rng.choice(subs, size=int(self.rng.integers(1, 4)), replace=False)})
        weights = FAMILY_WEIGHTS.copy()
        if "bicep" in user.extra_tools:
            weights[FAM_DEPLOY] = 6.0
        pool = self.resource_pool(my_subs, int(self.rng.integers(4, 12)), weights)
        tools = self._session_tools(user)
        p_mfa_login = arm.p_mfa
        if persona == "human_cli_partial_mfa":
            p_mfa_login = float(self.rng.uniform(0.2, 0.8))
            if user.cli_version in CLI_TRAP_VERSIONS:
                p_mfa_login = 0.2  # the version traps should matter: mostly no MFA
        elif persona == "guest":  # half the guests' home tenants do MFA that the resource tenant trusts
            p_mfa_login = 1.0 if user.idx % 2 == 0 else float(self.rng.uniform(0.0, 0.4))
        upgrade_day = int(days[len(days) // 2]) if persona == "upgraded_cli" else -1
        login_state: dict[str, tuple[int, bool]] = {}  # tool -> (session, mfa)
        for d in range(len(days)):
            if persona == "cli_and_cloudshell":  # the laptop and Cloud Shell, turn about to the end
                tool = tools[d % len(tools)]
            else:
                tool = tools[int(self.rng.integers(len(tools)))]
            if persona == "upgraded_cli" and int(days[d]) >= upgrade_day and user.cli_upgrade:
                user.cli_version = user.cli_upgrade[1]
            s0 = int(start[d] + self.rng.integers(0, max(1, int(end[d] - start[d] - HOUR))))
            dur = int(self.rng.integers(20, 180)) * MIN
            if tool == "portal":
                self._portal_session(user, s0, dur, int(ips[d]), pool, writes_rate, action_rate)
            elif tool == "cloudshell":
                self._portal_session(user, s0, 10 * MIN, int(ips[d]), pool, 0.0, 0.0)
                self._cloudshell_session(user, s0 + 2 * MIN, dur, pool, writes_rate, action_rate)
            else:
                self._tool_session(
                    user, tool, s0, dur, int(ips[d]), pool, writes_rate, action_rate, p_mfa_login, login_state
                )

    def _session_tools(self, user: User) -> list[str]:
        """The clients a person's ARM days are drawn from."""
        persona = user.persona
        if persona == "hello_writer":
            return ["vscode"]
        if persona == "mobile_app":
            return ["mobile"]
        if persona == "cli_and_cloudshell":
            return ["cli", "cloudshell"]
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
        return tools

    def _portal_session(
        self, user: User, s0: int, dur: int, ip: int, pool: _Pool, writes_rate: float, action_rate: float
    ) -> None:
        user.tools.add("portal")
        n_tok = max(1, math.ceil(dur / HOUR))
        ts = s0 + np.arange(n_tok, dtype=np.int64) * HOUR + self.rng.integers(0, 2 * MIN, n_tok)
        mask = self.keep(ts)
        if not mask.any():
            return
        session = int(self.new_sessions(1)[0])
        auth = np.full(n_tok, A_MFA_CLAIM, dtype=np.int8)
        auth[0] = A_MFA_PUSH if self.rng.random() < 0.5 else A_MFA_CLAIM
        if user.breakglass:
            auth[0] = A_MFA_FIDO
        interactive = np.arange(n_tok) == 0
        ua = np.where(interactive, self.v_ua(BROWSERS[user.browser][0]), self.v_ua(""))
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
        self, user: User, s0: int, dur: int, pool: _Pool, writes_rate: float, action_rate: float
    ) -> None:
        user.tools.add("azure-cli")
        ip = self.azure_ip(0 if user.tz >= 0 else 2)
        app, ua, _dev, apd = self._tool_profile(user, "cli", CLOUD_SHELL_CLI)
        n_tok = max(1, math.ceil(dur / HOUR))
        ts = s0 + np.arange(n_tok, dtype=np.int64) * HOUR + self.rng.integers(0, 2 * MIN, n_tok)
        mask = self.keep(ts)
        if not mask.any():
            return
        self.seen(user, AZURE_CLI, CLOUD_SHELL_CLI)
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
        user: User,
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
        """One working session of a tool (CLI, PowerShell, VS Code, the mobile app): maybe an interactive
        login, then hourly refreshes, then the session's writes."""
        family = {"cli": AZURE_CLI, "ps": AZURE_POWERSHELL}.get(tool, "other")
        user.tools.add(family)
        for extra, _version in user.extra_tools.items():
            user.tools.add(extra)
        app, ua, dev, apd = self._tool_profile(user, tool)
        state = login_state.get(tool)
        login = (state is None and self.rng.random() < 0.5) or (state is not None and self.rng.random() < 0.25)
        if user.persona == "mfa_hidden" and state is None:
            # signed in with MFA before the window; every refresh in it reads single-factor
            login, state = False, (int(self.new_sessions(1)[0]), True)
            login_state[tool] = state
        elif user.persona == "mfa_hidden":
            login = False
        if state is None and not login:
            # logged in before the window; that login's MFA state carries over
            state = (int(self.new_sessions(1)[0]), bool(self.rng.random() < p_mfa_login))
            login_state[tool] = state
        n_tok = max(1, math.ceil(dur / HOUR))
        ts = s0 + np.arange(n_tok, dtype=np.int64) * HOUR + self.rng.integers(0, 90 * US, n_tok)
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
        if user.persona == "mfa_hidden":
            refresh_auth, login_auth = A_SF_HIDDEN_MFA, A_MFA_PUSH
        elif mfa:
            refresh_auth = A_MFA_CLAIM if self.rng.random() < 0.6 else A_SF_CLAIM_MFA
            login_auth = A_MFA_PUSH
        else:
            refresh_auth, login_auth = A_SF_REFRESH, A_HELLO if user.persona == "hello_writer" else A_SF_PWD
        auth = np.where(interactive, login_auth, refresh_auth)
        proto = PROTO_DEVICECODE if tool == "cli" and self.rng.random() < 0.15 else PROTO_NONE
        ua_row = np.where(interactive, self.v_ua(BROWSERS[user.browser][0]), ua)
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
            rtenant=1 if user.persona == "outbound_member" else 0,
        )
        self.seen(user, family, user.cli_version if tool == "cli" else user.ps_version if tool == "ps" else None)
        rows = first + np.cumsum(mask) - 1
        if user.persona == "outbound_member":
            return  # its writes land in the partner tenant's activity log, not in this one
        # an MFA prompt the user abandoned, on a refresh that needed step-up (MFA required, not SF)
        if self.rng.random() < 0.05:
            t_fail = ts[0] + 30 * US
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
        user: User,
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
        """The writes and actions of one session, with the claims its token carries.

        ``mfa`` is what the persona did when it signed in; :meth:`_claims` picks how the activity
        log writes such a token for this persona.
        """
        n_w = int(self.rng.poisson(writes_rate))
        n_a = int(self.rng.poisson(action_rate))
        if user.persona in MUST_WRITE_PERSONAS:
            n_w = max(n_w, 1)  # the persona exists to show what its writes' claims say
        n = n_w + n_a
        if n == 0:
            return
        t = np.sort(s0 + (self.rng.random(n) * dur).astype(np.int64))
        k = np.clip((t - s0) // HOUR, 0, len(ts) - 1)
        t = np.maximum(t, ts[k] + 5 * US)
        ok = self.keep(t)
        t, k = t[ok], k[ok]
        if len(t) == 0:
            return
        tok = np.where(mask[k], rows[k], -1)
        tok = np.where(self.rng.random(len(t)) < 0.08, -1, tok)  # token not in the logs
        claims = self._claims(user, len(t), mfa=mfa, portal=portal)
        n_writes = min(n_w, len(t))
        p_action = 0.0 if n_a == 0 else n_a / max(n, 1)
        p_action = 1.0 if n_w == 0 else p_action
        self.add_ops(
            t,
            user.idx,
            pool,
            app=app,
            amr=claims,
            ip=ip,
            tok=tok,
            p_action=p_action,
            p_delete=0.0 if n_writes == 0 else 0.05,
            p_rbac=1.0 if user.persona == "rbac_refused" else 0.0,
            form=self.upn_forms(user, len(t), 0.5),
        )

    def _claims(self, user: User, n: int, *, mfa: bool, portal: bool = False) -> Arr:
        """How the activity log writes ``n`` tokens of this persona signed in with (or without) MFA."""
        if user.persona == "hello_writer":  # Windows Hello tokens without the mfa element
            return np.where(self.rng.random(n) < 0.5, CLAIM_HELLO, CLAIM_HELLO_C1).astype(np.int8)
        if user.persona == "wia_writer":
            return np.full(n, CLAIM_WIA, dtype=np.int8)
        if user.persona == "stepped_up":  # re-logged with az login --claims-challenge: acrs p1
            return np.full(n, CLAIM_STEP_UP, dtype=np.int8)
        if not mfa:
            return np.full(n, CLAIM_PWD, dtype=np.int8)
        claims = np.where(self.rng.random(n) < 0.75, CLAIM_PWD_MFA, CLAIM_RSA_MFA)
        if portal:
            claims = np.where(self.rng.random(n) < 0.03, CLAIM_HELLO_MFA, claims)
        return claims.astype(np.int8)

    def _breakglass(self, user: User) -> None:
        # one rare use, anywhere in the window (emergencies keep no office hours)
        s0 = int(self.start_us + self.rng.integers(0, self.now_us - self.start_us - 30 * MIN))
        ip = self.office_ip(user.office)
        pool = self.resource_pool([SUB_SHARED], 4, weights=np.eye(len(FAMILIES))[FAM_ROLE] + 0.01)
        if user.upn == BREAKGLASS_UPNS[0]:
            self._portal_session(user, s0, 20 * MIN, ip, pool, 0.0, 0.0)
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
            ua=self.v_ua(BROWSERS[user.browser][0]),
            apd=apd,
            auth=A_SF_PWD,
            interactive=True,
            tok=TOK_NONE,
            session=session,
        )
        self.seen(user, AZURE_CLI, user.cli_version)
        t = np.array([s0 + 3 * MIN, s0 + 7 * MIN], dtype=np.int64)
        self.add_ops(t, user.idx, pool, app=app, amr=CLAIM_PWD, ip=ip, tok=row, p_action=0.0, p_delete=0.0, p_fail=0.0)

    # --- automation ---------------------------------------------------------------------------
    def _schedule(self, kind: str) -> Arr:
        """Run start times for a cron-like schedule, with a little jitter."""
        minute = int(self.rng.integers(0, 60))
        if kind == "hourly":
            base = self.day0[0] + np.arange(len(self.day0) * 24, dtype=np.int64) * HOUR + minute * MIN
            jitter = self.rng.integers(-60, 61, len(base)) * US
        elif kind == "every_4h":
            base = self.day0[0] + np.arange(len(self.day0) * 6, dtype=np.int64) * 4 * HOUR + minute * MIN
            jitter = self.rng.integers(-60, 61, len(base)) * US
        elif kind == "every_30min":
            base = self.day0[0] + np.arange(len(self.day0) * 48, dtype=np.int64) * 30 * MIN + (minute % 30) * MIN
            jitter = self.rng.integers(-30, 31, len(base)) * US
        elif kind == "nightly":
            base = self.day0 + 2 * HOUR
            jitter = self.rng.integers(-120, 121, len(base)) * US
        elif kind == "nightly_late":
            base = self.day0 + 1 * HOUR + 30 * MIN
            jitter = self.rng.integers(-120, 121, len(base)) * US
        elif kind == "weekdays":
            base = (self.day0 + 6 * HOUR + 30 * MIN)[self.weekday < 5]
            jitter = self.rng.integers(-90, 91, len(base)) * US
        else:
            raise ValueError(kind)
        ts: Arr = base + jitter
        return ts[self.keep(ts)]

    def _agent_ips(self, user: User) -> list[int]:
        if self.rng.random() < 0.5:
            _name, city, asn, net = DATACENTER
            return [
                self.ip(f"{net}.{int(self.rng.integers(20, 250))}", asn, city)
                for _ in range(int(self.rng.integers(1, 3)))
            ]
        return [self.azure_ip() for _ in range(int(self.rng.integers(1, 3)))]

    def _automation_subs(self) -> list[int]:
        subs = [SUB_PROD_EU, SUB_PROD_US, SUB_DEV, SUB_TEST, SUB_SHARED, SUB_DATA, SUB_CONN]
        return sorted({int(s) for s in self.rng.choice(subs, size=int(self.rng.integers(1, 3)), replace=False)})

    def _cli_agent_signins(self, user: User, runs: Arr) -> tuple[int, Arr, int]:
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
        self.seen(user, AZURE_CLI, user.cli_version)
        return app, ip_run, first

    def _run_writes(self, runs: Arr, per_run: Arr, low_s: int, high_s: int) -> tuple[Arr, Arr]:
        """Times of ``per_run`` writes after each run start (``low_s``..``high_s`` seconds later).

        Returns (index of each write's run, write time), dropping writes that fall outside the window.
        """
        rep = np.repeat(np.arange(len(runs)), per_run)
        t = runs[rep] + self.rng.integers(low_s, high_s, len(rep)) * US
        ok = self.keep(t)
        return rep[ok], t[ok]

    def _cli_agent(self, user: User) -> None:
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
            amr=CLAIM_PWD,
            ip=ip_run[rep],
            tok=first + rep,
            p_action=0.1,
            p_delete=0.03,
            form=self.upn_forms(user, len(t), 0.3),
        )

    def _deployment(self, user: User) -> None:
        """Terraform or Bicep through the CLI login: nightly bursts of writes within minutes."""
        user.tools.add("azure-cli")
        user.tools.update(user.extra_tools)
        kind = str(self.rng.choice(["nightly_late", "weekdays"]))
        runs = self._schedule(kind)
        app, ip_run, first = self._cli_agent_signins(user, runs)
        subs = self._automation_subs()
        pool = self.resource_pool(subs, int(self.rng.integers(12, 30)))
        deploy_pool = self.resource_pool(subs, 3, weights=np.eye(len(FAMILIES))[FAM_DEPLOY] + 0.0)
        terraform = "terraform" in user.extra_tools
        for r in range(len(runs)):
            if self.rng.random() < 0.3:  # "no changes": the plan only reads
                continue
            n = int(self.rng.integers(5, 26))
            t = runs[r] + np.sort(self.rng.integers(30, 6 * 60, n)) * US
            t = t[self.keep(t)]
            if len(t) == 0:
                continue
            if terraform:
                self.add_ops(
                    t,
                    user.idx,
                    pool,
                    app=app,
                    amr=CLAIM_PWD,
                    ip=int(ip_run[r]),
                    tok=first + r,
                    p_action=0.0,
                    p_delete=0.08,
                    form=self.upn_forms(user, len(t), 0.3),
                )
            else:
                lead = self.add_ops(
                    t[:1] - 10 * US,
                    user.idx,
                    deploy_pool,
                    app=app,
                    amr=CLAIM_PWD,
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
                    amr=CLAIM_PWD,
                    ip=int(ip_run[r]),
                    tok=first + r,
                    p_action=0.0,
                    p_delete=0.0,
                    form=self.upn_forms(user, len(t) - 1, 0.3),
                    corr=lead,
                )

    def _ropc(self, user: User) -> None:
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
            ua = self.v_ua(f"azsdk-python-identity/{ident} Python/3.11.9 ({PLATFORM_UA['linux']})")
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
            fail = (runs >= d0) & (runs < d0 + 8 * HOUR)
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
        self.seen(user, AZURE_POWERSHELL if user.ps_version else AZURE_CLI, user.ps_version or user.cli_version)
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
            amr=CLAIM_PWD,
            ip=ip_run[rep],
            tok=first + rep,
            p_action=0.15,
            p_delete=0.03,
            form=self.upn_forms(user, len(t), 0.3),
        )

    def _workload(self, wl: Workload) -> None:
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
            ips = np.array(self._agent_ips(User(-1, "", "", "", "", 0.0)), dtype=np.int32)
        ip_run = ips[self.rng.integers(len(ips), size=len(runs))]
        fail = self.rng.random(len(runs)) < (0.01 if wl.kind == "service_principal" else 0.0)
        first = self.wl_signins.add(len(runs), ts=runs, wl=wl.idx, res=RES_ARM, ip=ip_run, fail=fail)
        # other resources now and then
        extra = np.flatnonzero(self.rng.random(len(runs)) < 0.3)
        self.wl_signins.add(
            len(extra),
            ts=runs[extra] + 40 * US,
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
            amr=CLAIM_NONE,
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
