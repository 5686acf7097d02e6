"""Turning the plan into the five Parquet tables, a row group at a time.

Text is built per column, never per row: codes index short lists of distinct values and JSON is
assembled by concatenating columns, so time and memory stay flat as the tenant grows. Every
batch is checked against the registry columns (:data:`kitlib.domain.schema.TABLES`) as it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kitlib.demo.columns import Arr, dumps, fixed_width_strings, guid_array, int_text, join, uti_bytes
from kitlib.demo.facts import (
    APP_ACR,
    APPS,
    AUTHS,
    CITIES,
    CLAIMS,
    KIND_DELETE,
    KIND_WRITE,
    MIN,
    OP_KIND,
    OPS,
    PAT_OTHER_POLICY,
    PATTERN_ERRORS,
    PATTERNS,
    PROTOCOLS,
    RESOURCES,
    ROW_ADMIN,
    ROW_AUDIT,
    ROW_DENY,
    STATUS_VALUE,
    TOKEN_TYPES,
    US,
    Auth,
)
from kitlib.demo.planner import Tenant, User, Workload
from kitlib.domain.apps import (
    AMR_CLAIM,
    POLICY_DELETE_DEFINITION,
    POLICY_WRITE_DEFINITION,
    SYS_DELETE_ASSIGNMENT,
    SYS_DELETE_DEFINITION,
    SYS_WRITE_ASSIGNMENT,
    SYS_WRITE_DEFINITION,
)
from kitlib.domain.schema import TABLES

ROW_GROUP = 32_768
#: The built-in "Allowed locations" policy definition: a denial that has nothing to do with MFA.
ALLOWED_LOCATIONS = "e56962a6-4747-49cd-b67b-bf8b01975c4c"


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
    city, state, lat, lon = CITIES[city_key]
    return dumps(
        {
            "city": city,
            "state": state,
            "countryOrRegion": city_key[:2],
            "geoCoordinates": {"latitude": lat, "longitude": lon},
        }
    )


def _auth_details_parts(auth: Auth) -> tuple[str, str, str]:
    """AuthenticationDetails split around the step timestamps: part0 T part1 [T part2]."""
    pieces = []
    for i, (method, detail, ok, result, step) in enumerate(auth.steps):
        body = dumps(
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


def _ca_policies(auth: Auth) -> str:
    mfa_result = {"success": "success", "failure": "failure"}.get(auth.ca_status, "notApplied")
    return dumps(
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


def _status_message(code: str, pattern: int, delete: bool, tenant_id: str) -> str:
    """The statusMessage member for one failure: the error code and, for policy denials, which policy."""
    if not code:
        return ""
    error: dict[str, Any] = {"code": code}
    if code == "AuthorizationFailed":
        error["message"] = (
            "The client does not have authorization to perform this action over this scope or the scope is "
            "invalid. If access was recently granted, please refresh your credentials."
        )
    elif code == "Conflict":
        error["message"] = "Another operation is in progress on the resource."
    elif pattern == PAT_OTHER_POLICY:
        error["message"] = "Resource was disallowed by policy. Reasons: 'Allowed locations'."
        error["additionalInfo"] = [
            {
                "type": "PolicyViolation",
                "info": {
                    "policyDefinitionDisplayName": "Allowed locations",
                    "policyDefinitionId": f"/providers/Microsoft.Authorization/policyDefinitions/{ALLOWED_LOCATIONS}",
                    "policyAssignmentName": "allowed-locations",
                },
            }
        ]
    else:  # the MFA enforcement assignments
        name = SYS_DELETE_ASSIGNMENT if delete else SYS_WRITE_ASSIGNMENT
        definition = SYS_DELETE_DEFINITION if delete else SYS_WRITE_DEFINITION
        error["message"] = (
            "Resource was disallowed by policy. Reasons: 'Users must authenticate with multi-factor authentication "
            f"to {'delete' if delete else 'create or update'} resources'. See error details for policy resource IDs."
        )
        error["additionalInfo"] = [
            {
                "type": "PolicyViolation",
                "info": {
                    "policyDefinitionId": f"/providers/Microsoft.Authorization/policyDefinitions/{definition}",
                    "policyAssignmentName": name,
                    "policyAssignmentId": f"/providers/Microsoft.Management/managementGroups/{tenant_id}"
                    f"/providers/Microsoft.Authorization/policyAssignments/{name}",
                },
            }
        ]
    return ',"statusMessage":' + dumps(dumps({"error": error}))


def _take(values: list[str], codes: Arr) -> Any:
    return pc.take(pa.array(values, pa.string()), pa.array(codes, pa.int32()))


def _ts_text(ts: Any) -> Any:
    return pc.strftime(pc.cast(ts, pa.timestamp("s", tz="UTC"), safe=False), format="%Y-%m-%dT%H:%M:%SZ")


class Materialiser:
    """Turns the planned integers into the five Parquet tables."""

    def __init__(self, t: Tenant, out: Path) -> None:
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
        self.u_guest = np.array([u.guest for u in users], dtype=bool)
        self.ip_loc = [_location_json(c) for c in t.ip_city]
        self.ip_country = [c[:2] for c in t.ip_city]
        self.ip_named = [
            dumps([{"networkType": "trustedNamedLocation", "networkNames": [n]}]) if n else "[]" for n in t.ip_named
        ]
        self.auth_parts = [_auth_details_parts(a) for a in AUTHS]
        self.auth_two_step = np.array([len(a.steps) == 2 for a in AUTHS])
        self.rows: dict[str, int] = {}
        #: The ``,"statusMessage":"..."`` member of a failed operation's Properties, by pattern and
        #: (write, delete): the error ARM returned, as the activity log keeps it (JSON in a string).
        self.error_pieces = [
            _status_message(code, pattern, bool(delete), t.tenant_id)
            for pattern, code in enumerate(PATTERN_ERRORS)
            for delete in (0, 1)
        ]

    # --- user sign-ins ------------------------------------------------------------------------
    def user_signins(self, s: dict[str, Arr], uti: Arr) -> None:
        sessions = guid_array(self.rng, max(self.t.n_sessions, 1))
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
        ids = guid_array(self.rng, n) if n else pa.array([], pa.string())
        when = _ts_text(ts) if n else pa.array([], pa.string())
        p0 = _take([p[0] for p in self.auth_parts], auth)
        p1 = _take([p[1] for p in self.auth_parts], auth)
        p2 = _take([p[2] for p in self.auth_parts], auth)
        when2 = pc.if_else(pa.array(self.auth_two_step[auth]), when, "") if n else when
        processing = "ProcessingTimeInMilliseconds" if table == "SigninLogs" else "ProcessingTimeInMs"
        status = [dumps({"errorCode": int(a.result), **a.status_extra}) for a in AUTHS]
        return {
            "TenantId": self.t.tenant_id,
            "AADTenantId": self.t.tenant_id,
            "SourceSystem": "Azure AD",
            "TimeGenerated": ts,
            "OperationName": "Sign-in activity",
            "Category": "SignInLogs" if interactive else "NonInteractiveUserSignInLogs",
            "ResultType": _take([a.result for a in AUTHS], auth),
            "ResultSignature": "None",
            "ResultDescription": _take([a.description for a in AUTHS], auth),
            "DurationMs": np.zeros(n, dtype=np.int64),
            "CorrelationId": guid_array(self.rng, n) if n else ids,
            "Identity": _take(self.u_display, user),
            "Level": "4",
            "Location": _take(self.ip_country, ip),
            "AlternateSignInName": _take(self.upn_forms, user * 3 + g["form"]),
            "AppDisplayName": _take([a[1] for a in APPS], app),
            "AppId": _take([a[0] for a in APPS], app),
            "AuthenticationContextClassReferences": "[]",
            "AuthenticationDetails": join(p0, when, p1, when2, p2) if n else p0,
            "AuthenticationMethodsUsed": _take([a.methods_used for a in AUTHS], auth),
            "AuthenticationProcessingDetails": self.t.v_apd.take(g["apd"]),
            "AuthenticationProtocol": _take(list(PROTOCOLS), g["proto"].astype(np.int32)),
            "AuthenticationRequirement": _take([a.requirement for a in AUTHS], auth),
            "AuthenticationRequirementPolicies": _take(
                [
                    dumps([{"requirementProvider": "multiConditionalAccess", "detail": "Conditional Access"}])
                    if a.requirement == "multiFactorAuthentication"
                    else "[]"
                    for a in AUTHS
                ],
                auth,
            ),
            "AutonomousSystemNumber": _take(self.t.ip_asn, ip),
            "ClientAppUsed": _take([a[2] for a in APPS], app),
            "ClientCredentialType": "none",
            "ConditionalAccessPolicies": _take([_ca_policies(a) for a in AUTHS], auth),
            "ConditionalAccessStatus": _take([a.ca_status for a in AUTHS], auth),
            "CreatedDateTime": ts,
            "CrossTenantAccessType": _take(
                ["none", "b2bCollaboration"], (self.u_guest[user] | (g["rtenant"] == 1)).astype(np.int32)
            ),
            "DeviceDetail": self.t.v_dev.take(g["dev"]),
            "HomeTenantId": _take(self.u_home, user),
            "HomeTenantName": _take(self.u_home_name, user),
            "Id": ids,
            "IncomingTokenType": _take(list(TOKEN_TYPES), g["tok"].astype(np.int32)),
            "IPAddress": self.t.v_ip.take(ip),
            "IsInteractive": g["interactive"].astype(bool),
            "IsRisky": np.zeros(n, dtype=bool),
            "IsThroughGlobalSecureAccess": np.zeros(n, dtype=bool),
            "GlobalSecureAccessIpAddress": "",
            "LocationDetails": _take(self.ip_loc, ip),
            "MfaDetail": _take([dumps(a.mfa_detail) for a in AUTHS], auth),
            "NetworkLocationDetails": _take(self.ip_named, ip),
            "OriginalRequestId": ids,
            processing: int_text(self.rng.integers(40, 400, n)),
            "ResourceDisplayName": _take([r[1] for r in RESOURCES], res),
            "ResourceIdentity": _take([r[0] for r in RESOURCES], res),
            "ResourceTenantId": _take([self.t.tenant_id, self.t.partner_tenant], g["rtenant"].astype(np.int32)),
            "RiskDetail": "none",
            "RiskLevelAggregated": "none",
            "RiskLevelDuringSignIn": "none",
            "RiskState": "none",
            "SessionId": pc.take(sessions, pa.array(g["session"], pa.int32())),
            "SignInEventTypes": '["interactiveUser"]' if interactive else '["nonInteractiveUser"]',
            "Status": _take(status, auth),
            "TokenIssuerType": "AzureAD",
            "UniqueTokenIdentifier": fixed_width_strings(uti[rows]) if n else pa.array([], pa.string()),
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
            "CorrelationId": guid_array(self.rng, n) if n else pa.array([], pa.string()),
            "Id": guid_array(self.rng, n) if n else pa.array([], pa.string()),
            "AppId": _take([x.app_id for x in wls], wl),
            "ServicePrincipalId": _take([x.object_id for x in wls], wl),
            "ServicePrincipalName": _take([x.name for x in wls], wl),
            "ResourceDisplayName": _take([r[1] for r in RESOURCES], res),
            "ResourceIdentity": _take([r[0] for r in RESOURCES], res),
            "IPAddress": self.t.v_ip.take(ip),
            "LocationDetails": _take(self.ip_loc, ip),
            "ConditionalAccessPolicies": "[]",
            "FederatedCredentialId": _take([x.federated for x in wls], wl),
            "UniqueTokenIdentifier": fixed_width_strings(uti[rows]) if n else pa.array([], pa.string()),
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
        corr_ids = guid_array(self.rng, max(n_ops, 1))
        op_ids = guid_array(self.rng, max(n_ops, 1))
        request_ids = guid_array(self.rng, max(n_ops, 1))
        fresh = uti_bytes(self.rng, max(n_ops, 1))
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
        iat_us = o["ts"] - self.rng.integers(1, 50, n_ops) * MIN
        if len(s_ts):
            iat_us = np.where(user_tok, s_ts[np.minimum(safe, len(s_ts) - 1)], iat_us)
        if len(w_ts):
            iat_us = np.where(wl_tok, w_ts[np.minimum(safe, len(w_ts) - 1)], iat_us)
        iat = iat_us // US
        exp = iat + self.rng.integers(3900, 5400, n_ops)

        # expand operations into rows: the status rows, then a policy audit / deny row
        plen = np.array([len(p) for p in PATTERNS])
        counts = plen[o["pat"]] + o["audit"] + o["deny"]
        op_of_row = np.repeat(np.arange(n_ops), counts)
        starts = np.cumsum(counts) - counts
        seq = np.arange(len(op_of_row)) - np.repeat(starts, counts)
        r = seq - plen[o["pat"]][op_of_row]
        kind = np.where(r < 0, ROW_ADMIN, np.where((r == 0) & (o["audit"][op_of_row] == 1), ROW_AUDIT, ROW_DENY))
        seq = np.minimum(seq, plen.max() - 1)
        offsets = np.zeros((len(PATTERNS), plen.max()), dtype=np.int64)
        for i, pattern in enumerate(PATTERNS):
            for j, step in enumerate(pattern):
                offsets[i, j] = step[3] * US
        row_ts = o["ts"][op_of_row] + np.where(
            kind == ROW_ADMIN, offsets[o["pat"][op_of_row], seq], np.where(kind == ROW_AUDIT, 500_000, 400_000)
        )
        row_ts = row_ts + self.rng.integers(0, 900_000, len(row_ts)) * (seq > 0)
        upper = self.rng.random(len(row_ts)) < 0.12
        order = np.argsort(row_ts, kind="stable")

        # lookups shared by every slice
        callers = self.upn_forms + [x for wl in t.workloads for x in (wl.object_id,) * 3]
        n_apps = len(APPS)
        appids = [a[0] for a in APPS] + [wl.app_id for wl in t.workloads]
        appidacr = list(APP_ACR) + [wl.acr for wl in t.workloads]
        principal_claims = [self._user_claims(u) for u in t.users] + [self._workload_claims(wl) for wl in t.workloads]
        pair = o["prin"].astype(np.int64) * len(t.subs) + o["sub"]
        pairs, pair_code = np.unique(pair, return_inverse=True)
        evidence = [self._evidence(int(p) // len(t.subs), int(p) % len(t.subs)) for p in pairs]
        op_names = [op.name for op in OPS] + [op.name.upper() for op in OPS]
        providers = [op.provider for op in OPS] + [op.provider.upper() for op in OPS]
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
        for pattern in PATTERNS:
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
            opkind = OP_KIND[op]
            sub = o["sub"][oi].astype(np.int32)
            ip = o["ip"][oi].astype(np.int32)
            rid = t.v_rid.take(o["rid"][oi])
            admin = k == ROW_ADMIN
            ts = pa.array(row_ts[rows], pa.timestamp("us", tz="UTC"))
            app_code = np.where(user_row, o["app"][oi], n_apps + prin - n_users).astype(np.int32)
            claim_code = o["amr"][oi].astype(np.int32)
            amr_piece = _take([f'"{AMR_CLAIM}":"{amr}",' if amr else "" for amr, _, _ in CLAIMS], claim_code)
            acrs_piece = _take([f'"acrs":"{acrs}",' if acrs else "" for _, acrs, _ in CLAIMS], claim_code)
            ipaddr = t.v_ip.take(ip)
            claims = (
                join(
                    '{"aud":"',
                    _take(
                        ["https://management.core.windows.net/", "https://management.azure.com/"],
                        (~user_row).astype(np.int32),
                    ),
                    f'","iss":"https://sts.windows.net/{t.tenant_id}/","iat":"',
                    int_text(iat[oi]),
                    '","nbf":"',
                    int_text(iat[oi]),
                    '","exp":"',
                    int_text(exp[oi]),
                    '",',
                    amr_piece,
                    acrs_piece,
                    '"appid":"',
                    _take(appids, app_code),
                    '","appidacr":"',
                    _take(appidacr, app_code),
                    '",',
                    _take(principal_claims, prin.astype(np.int32)),
                    '"ipaddr":"',
                    ipaddr,
                    '","uti":"',
                    fixed_width_strings(uti[oi]),
                    f'","http://schemas.microsoft.com/identity/claims/tenantid":"{t.tenant_id}","ver":"1.0"}}',
                )
                if n
                else pa.array([], pa.string())
            )
            authorization = (
                join(
                    '{"action":"',
                    _take([x.name for x in OPS], op),
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
            name_code = op + len(OPS) * upper[rows]
            op_value = pc.if_else(pa.array(admin), _take(op_names, name_code), pa.array(policy_name, pa.string()))
            message = pc.if_else(pa.array(admin), _take([x.name for x in OPS], op), pa.array(policy_name, pa.string()))
            failed_row = admin & (status == "Failed")
            error_piece = _take(self.error_pieces, o["pat"][oi].astype(np.int32) * 2 + is_delete)
            status_piece = (
                join(
                    pc.if_else(
                        pa.array(substatus == ""), "", join(',"statusCode":"', pa.array(substatus, pa.string()), '"')
                    ),
                    pc.if_else(pa.array(failed_row), error_piece, ""),
                )
                if n
                else pa.array([], pa.string())
            )
            policies = _take(policy_piece, sub * 4 + is_delete * 2 + (k == ROW_DENY))
            properties = (
                join(
                    "{",
                    pc.if_else(
                        pa.array(admin),
                        "",
                        join('"isComplianceCheck":"False","resourceLocation":"westeurope",', policies),
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
                join(
                    '{"clientRequestId":"',
                    pc.take(request_ids, pa.array(oi)),
                    '","clientIpAddress":"',
                    ipaddr,
                    '","method":"',
                    _take([x.method for x in OPS], op),
                    '"}',
                )
                if n
                else pa.array([], pa.string())
            )
            localized = (
                pc.if_else(
                    pa.array(admin),
                    _take([x.localized for x in OPS], op),
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
                "EventDataId": guid_array(self.rng, n) if n else pa.array([], pa.string()),
                "EventSubmissionTimestamp": pa.array(
                    row_ts[rows] + self.rng.integers(5, 20, n) * US, pa.timestamp("us", tz="UTC")
                ),
                "HTTPRequest": http,
                "OperationId": pc.take(op_ids, pa.array(oi)),
                "ResourceGroup": _take(rg_upper, o["rg"][oi].astype(np.int32)),
                "ResourceProviderValue": provider,
                "ActivityStatusValue": pa.array([STATUS_VALUE[x] for x in status], pa.string()),
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

    def _user_claims(self, u: User) -> str:
        parts = {
            "name": u.display,
            "http://schemas.microsoft.com/identity/claims/objectidentifier": u.user_id,
            "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation",
            "idtyp": "user",
        }
        if u.idtyp_missing:  # a token from before the idtyp claim: the upn claim tells it is a user's
            del parts["idtyp"]
        if u.guest:
            parts["http://schemas.microsoft.com/identity/claims/identityprovider"] = (
                f"https://sts.windows.net/{u.home_tenant}/"
            )
            parts["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"] = u.upn
        else:
            parts["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = u.upn
            parts["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"] = u.upn
        return dumps(parts)[1:-1] + ","

    def _workload_claims(self, wl: Workload) -> str:
        parts = {"http://schemas.microsoft.com/identity/claims/objectidentifier": wl.object_id, "idtyp": "app"}
        if wl.mirid:
            parts["xms_mirid"] = wl.mirid
        return dumps(parts)[1:-1] + ","

    def _evidence(self, prin: int, sub: int) -> str:
        t = self.t
        user = prin < t.n_users
        oid = t.users[prin].user_id if user else t.workloads[prin - t.n_users].object_id
        role = "Contributor" if not user or self.rng.random() < 0.7 else "Owner"
        # The type of the role assignment that granted access: a group for group-assigned people.
        kind = "ServicePrincipal" if not user else "Group" if t.users[prin].group_assigned else "User"
        if kind == "Group":
            oid = t.group_id
        return dumps(
            {
                "role": role,
                "roleAssignmentScope": f"/subscriptions/{t.subs[sub][0]}",
                "roleAssignmentId": bytes(self.rng.bytes(16)).hex(),
                "roleDefinitionId": "b24988ac618042a0ab8820f7382dd24c"
                if role == "Contributor"
                else "8e3af657a8ff443ca75c2fe8c4bcb635",
                "principalId": oid.replace("-", ""),
                "principalType": kind,
            }
        )

    def _policies_piece(self, sub: int, delete: int, deny: int) -> str:
        """The ``"policies":"<JSON text>",`` member of a policy event's Properties."""
        sub_id = self.t.subs[sub][0]
        if deny:
            name = SYS_DELETE_ASSIGNMENT if delete else SYS_WRITE_ASSIGNMENT
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
        return '"policies":' + dumps(dumps(policies)) + ","
