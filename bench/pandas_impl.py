"""pandas implementations of the heavy catalog queries, for the KQL / SQL / pandas comparison.

Written the way a pandas user would answer the same question from the workspace's Parquet files:
read only the needed columns with the time filter pushed into the Parquet reader, parse each JSON
cell once with ``json.loads``, vectorised string methods for the rest, one ``groupby`` at the end.
Each function returns the same columns as its ``queries/<name>.kql`` (checked by digest).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from kitlib.backends.local import find_table

ARM = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
AMR_CLAIM = "http://schemas.microsoft.com/claims/authnmethodsreferences"
OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
IDP_CLAIM = "http://schemas.microsoft.com/identity/claims/identityprovider"
# KQL `has_any`: whole terms, any case; a term boundary is anything but a letter or digit.
OFFICE = re.compile(
    r"(?:^|[\W_])(?:Office|Outlook|Teams|SharePoint|OneDrive|Exchange|Word|Excel|PowerPoint)(?:$|[\W_])", re.IGNORECASE
)
LIBRARY = r'Azure AD App Authentication Library"\s*,\s*"value"\s*:\s*"([^"]*)"'


def read_table(workspace: Path, table: str, columns: list[str], start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Rows of ``table`` with ``start <= TimeGenerated <= end``, only ``columns`` (Parquet workspaces)."""
    source = find_table(Path(workspace), table)
    if source is None or source.fmt != "parquet":
        raise ValueError(f"the pandas implementations read Parquet workspaces; {table} is not Parquet in {workspace}")
    filters = [("TimeGenerated", ">=", pd.Timestamp(start)), ("TimeGenerated", "<=", pd.Timestamp(end))]
    frames = [pq.read_table(p, columns=columns, filters=filters).to_pandas() for p in source.files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _text(value: Any) -> str:
    """KQL ``tostring`` of a dynamic value: null -> "", strings as they are, the rest as JSON text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


def _field(docs: pd.Series, *path: str) -> pd.Series:
    def get(doc: Any) -> str:
        for key in path:
            if not isinstance(doc, dict):
                return ""
            doc = doc.get(key)
        return _text(doc)

    return docs.map(get)


def _icontains(series: pd.Series, needle: str) -> pd.Series:
    return series.fillna("").str.lower().str.contains(needle.lower(), regex=False)


def _distinct_where(frame: pd.DataFrame, column: str, mask: pd.Series) -> pd.Series:
    return frame[column].where(mask)


def _capped_sets(frame: pd.DataFrame, keys: list[str], column: str, cap: int) -> pd.Series:
    """``make_set(column, cap)`` per group: distinct non-null values, at most ``cap`` of them."""
    values = frame[[*keys, column]].dropna(subset=[column]).drop_duplicates()
    return values.groupby(keys, sort=False, dropna=False).head(cap).groupby(keys, dropna=False)[column].agg(list)


def _summarize(
    frame: pd.DataFrame,
    keys: list[str],
    aggregations: dict[str, Any],
    sets: dict[str, tuple[str, int]],
    order: list[str],
) -> pd.DataFrame:
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(**aggregations)
    for name, (column, cap) in sets.items():
        out[name] = _capped_sets(frame, keys, column, cap).reindex(out.index)
        out[name] = out[name].map(lambda v: v if isinstance(v, list) else [])
    out = out.reset_index()
    return out[order].sort_values(keys, kind="stable").reset_index(drop=True)


def arm_writes_by_identity(workspace: Path, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """queries/arm_writes_by_identity.kql in pandas."""
    columns = [
        "TimeGenerated", "CategoryValue", "OperationNameValue", "Authorization_d", "Claims_d", "Caller",
        "CorrelationId", "ActivityStatusValue", "SubscriptionId", "CallerIpAddress",
    ]  # fmt: skip
    df = read_table(workspace, "AzureActivity", columns, start, end)
    df = df[df["CategoryValue"] == "Administrative"]
    op = df["OperationNameValue"].fillna("").str.lower()
    df = df[op.str.endswith(("/write", "/delete", "/action"))].copy()
    op = df["OperationNameValue"].fillna("").str.lower()
    claims = df["Claims_d"].map(_loads)
    principal = _field(df["Authorization_d"].map(_loads), "evidence", "principalType")
    upn = _field(claims, UPN_CLAIM)
    caller = df["Caller"].fillna("")
    caller_upn = caller.str.contains("@", regex=False)
    user = (principal == "User") | ((principal == "") & (caller_upn | upn.str.contains("@", regex=False)))
    df["Amr"] = _field(claims, AMR_CLAIM)
    df["AppId"] = _field(claims, "appid")
    df["ObjectIdClaim"] = _field(claims, OID_CLAIM)
    df["IdpClaim"] = _field(claims, IDP_CLAIM)
    df["TokenHasMfa"] = df["Amr"].str.lower().str.contains("mfa", regex=False)
    df["Kind"] = "action"
    df.loc[op.str.endswith("/delete"), "Kind"] = "delete"
    df.loc[op.str.endswith("/write"), "Kind"] = "write"
    df["Identity"] = caller.where(caller_upn | (upn == ""), upn).str.lower()
    df = df[user].copy()
    failed = df["ActivityStatusValue"].fillna("").str.lower().isin(["failure", "failed"])
    df["Failed"] = _distinct_where(df, "CorrelationId", failed)
    df["Deployment"] = _distinct_where(df, "CorrelationId", op[user] == "microsoft.resources/deployments/write")
    df["Day"] = df["TimeGenerated"].dt.floor("D")
    keys = ["Identity", "AppId", "Kind", "TokenHasMfa"]
    return _summarize(
        df,
        keys,
        {
            "Operations": ("CorrelationId", "nunique"),
            "Events": ("CorrelationId", "size"),
            "FailedOperations": ("Failed", "nunique"),
            "Deployments": ("Deployment", "nunique"),
            "FirstSeen": ("TimeGenerated", "min"),
            "LastSeen": ("TimeGenerated", "max"),
            "ActiveDays": ("Day", "nunique"),
            "DistinctOperationNames": ("OperationNameValue", "nunique"),
            "DistinctSubscriptions": ("SubscriptionId", "nunique"),
            "DistinctCallerIps": ("CallerIpAddress", "nunique"),
            "ObjectId": ("ObjectIdClaim", "first"),
        },
        {
            "AmrValues": ("Amr", 5),
            "OperationNames": ("OperationNameValue", 10),
            "Subscriptions": ("SubscriptionId", 10),
            "CallerIps": ("CallerIpAddress", 20),
            "IdentityProviders": ("IdpClaim", 5),
        },
        [
            *keys,
            "Operations",
            "Events",
            "FailedOperations",
            "Deployments",
            "FirstSeen",
            "LastSeen",
            "ActiveDays",
            "AmrValues",
            "DistinctOperationNames",
            "OperationNames",
            "DistinctSubscriptions",
            "Subscriptions",
            "DistinctCallerIps",
            "CallerIps",
            "ObjectId",
            "IdentityProviders",
        ],
    )


def _user_signins(
    workspace: Path, columns: list[str], start: dt.datetime, end: dt.datetime, arm_only: bool
) -> pd.DataFrame:
    """Both user sign-in tables stacked with a ``Table`` column, the parsed ``Device`` and the MFA flags."""
    parts = []
    for table, label in (("SigninLogs", "interactive"), ("AADNonInteractiveUserSignInLogs", "noninteractive")):
        part = read_table(workspace, table, columns, start, end)
        if arm_only:
            part = part[part["ResourceIdentity"] == ARM]
        part = part.assign(Table=label)
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    df["Device"] = df["DeviceDetail"].map(_loads)
    # Only searched for a phrase, so the JSON text as stored serves for tostring(Status).
    df["StatusText"] = df["Status"].fillna("")
    df["IsOk"] = df["ResultType"].fillna("") == "0"
    df["MfaByClaim"] = (
        _icontains(df["AuthenticationDetails"], "MFA requirement satisfied by claim")
        | _icontains(df["AuthenticationDetails"], "MFA successfully completed")
        | _icontains(df["StatusText"], "MFA requirement satisfied by claim")
    )
    required = df["AuthenticationRequirement"].fillna("") == "multiFactorAuthentication"
    df["TokenMfa"] = df["IsOk"] & (required | df["MfaByClaim"])
    df["DeviceId"] = _field(df["Device"], "deviceId")
    home, resource = df["HomeTenantId"].fillna(""), df["ResourceTenantId"].fillna("")
    df["CrossTenant"] = (home != "") & (resource != "") & (home != resource)
    df["Gsa"] = df["IsThroughGlobalSecureAccess"].fillna(False).astype(bool)
    df["Day"] = df["TimeGenerated"].dt.floor("D")
    df["Identity"] = df["UserPrincipalName"].fillna("").str.lower()
    return df


_SIGNIN_COLUMNS = [
    "TimeGenerated", "UserPrincipalName", "ResultType", "AuthenticationRequirement", "AuthenticationDetails",
    "Status", "ResourceIdentity", "AppDisplayName", "AppId", "DeviceDetail", "HomeTenantId", "ResourceTenantId",
    "IsThroughGlobalSecureAccess", "IPAddress", "AutonomousSystemNumber", "UserId", "UserType", "UserDisplayName",
]  # fmt: skip


def user_signin_context(workspace: Path, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """queries/user_signin_context.kql in pandas."""
    df = _user_signins(workspace, [*_SIGNIN_COLUMNS, "ClientAppUsed"], start, end, arm_only=False)
    df["IsArm"] = df["ResourceIdentity"] == ARM
    df["NotArm"] = ~df["IsArm"]
    df["IsInteractive"] = df["Table"] == "interactive"
    df["IsBrowser"] = df["ClientAppUsed"] == "Browser"
    df["IsOffice"] = df["AppDisplayName"].fillna("").str.contains(OFFICE)
    df["InteractiveMfa"] = df["TokenMfa"] & df["IsInteractive"]
    df["MfaRequired"] = df["ResultType"].isin(["50074", "50076", "50079"])
    df["Failed"] = ~df["IsOk"]
    df["WithDevice"] = df["DeviceId"] != ""
    managed = _field(df["Device"], "isManaged").str.lower().eq("true")
    compliant = _field(df["Device"], "isCompliant").str.lower().eq("true")
    df["Managed"] = managed | compliant | (_field(df["Device"], "trustType") != "")
    counts = {
        "ArmSignIns": "IsArm", "OtherSignIns": "NotArm", "InteractiveSignIns": "IsInteractive",
        "BrowserSignIns": "IsBrowser", "OfficeSignIns": "IsOffice", "MfaSignIns": "TokenMfa",
        "InteractiveMfaSignIns": "InteractiveMfa", "MfaRequiredFailures": "MfaRequired", "FailedSignIns": "Failed",
        "WithDevice": "WithDevice", "ManagedDevice": "Managed", "ThroughGsa": "Gsa",
        "CrossTenantSignIns": "CrossTenant",
    }  # fmt: skip
    aggregations: dict[str, Any] = {"SignIns": ("Identity", "size")}
    aggregations |= {name: (column, "sum") for name, column in counts.items()}
    aggregations |= {
        "DistinctApps": ("AppId", "nunique"),
        "DistinctIps": ("IPAddress", "nunique"),
        "DistinctAsns": ("AutonomousSystemNumber", "nunique"),
        "ActiveDays": ("Day", "nunique"),
        "FirstSeen": ("TimeGenerated", "min"),
        "LastSeen": ("TimeGenerated", "max"),
        "UserId": ("UserId", "first"),
        "UserType": ("UserType", "first"),
        "DisplayName": ("UserDisplayName", "first"),
    }
    order = [
        "Identity", "SignIns", *counts, "HomeTenants", "DistinctApps", "Apps", "DistinctIps", "DistinctAsns", "Asns",
        "ActiveDays", "FirstSeen", "LastSeen", "UserId", "UserType", "DisplayName",
    ]  # fmt: skip
    sets = {"HomeTenants": ("HomeTenantId", 5), "Apps": ("AppDisplayName", 15), "Asns": ("AutonomousSystemNumber", 10)}
    return _summarize(df, ["Identity"], aggregations, sets, order)


def arm_token_signins(workspace: Path, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """queries/arm_token_signins.kql in pandas."""
    extra = ["AuthenticationProtocol", "UserAgent", "AuthenticationProcessingDetails", "IncomingTokenType",
             "CrossTenantAccessType", "SessionId"]  # fmt: skip
    df = _user_signins(workspace, [*_SIGNIN_COLUMNS, *extra], start, end, arm_only=True)
    df["Library"] = df["AuthenticationProcessingDetails"].fillna("").str.extract(LIBRARY, expand=False).fillna("")
    df["Protocol"] = df["AuthenticationProtocol"].fillna("").str.lower()
    df["SingleFactor"] = df["IsOk"] & ~df["TokenMfa"]
    df["MfaRequired"] = df["ResultType"].isin(["50074", "50076", "50079"])
    df["IsInteractive"] = df["Table"] == "interactive"
    df["IsNonInteractive"] = df["Table"] == "noninteractive"
    df["Ropc"] = df["Protocol"] == "ropc"
    df["DeviceCode"] = df["Protocol"] == "devicecode"
    df["Refresh"] = df["IncomingTokenType"] == "refreshToken"
    df["WithDevice"] = df["DeviceId"] != ""
    keys = ["Identity", "AppId", "Protocol", "Library", "UserAgent"]
    counts = {
        "Succeeded": "IsOk", "SingleFactor": "SingleFactor", "MfaSatisfied": "TokenMfa",
        "MfaRequiredFailures": "MfaRequired", "Interactive": "IsInteractive", "NonInteractive": "IsNonInteractive",
        "Ropc": "Ropc", "DeviceCode": "DeviceCode", "RefreshToken": "Refresh", "WithDevice": "WithDevice",
    }  # fmt: skip
    aggregations: dict[str, Any] = {"SignIns": ("Identity", "size")}
    aggregations |= {name: (column, "sum") for name, column in counts.items()}
    aggregations |= {
        "Devices": ("DeviceId", "nunique"),
        "ThroughGsa": ("Gsa", "sum"),
        "CrossTenantSignIns": ("CrossTenant", "sum"),
        "DistinctIps": ("IPAddress", "nunique"),
        "DistinctAsns": ("AutonomousSystemNumber", "nunique"),
        "Sessions": ("SessionId", "nunique"),
        "ActiveDays": ("Day", "nunique"),
        "FirstSeen": ("TimeGenerated", "min"),
        "LastSeen": ("TimeGenerated", "max"),
        "UserId": ("UserId", "first"),
        "UserType": ("UserType", "first"),
        "DisplayName": ("UserDisplayName", "first"),
        "AppDisplayName": ("AppDisplayName", "first"),
    }
    sets = {
        "CrossTenantTypes": ("CrossTenantAccessType", 5),
        "HomeTenants": ("HomeTenantId", 5),
        "Ips": ("IPAddress", 20),
        "Asns": ("AutonomousSystemNumber", 10),
    }
    order = [
        *keys, "SignIns", *counts, "Devices", "ThroughGsa", "CrossTenantSignIns", "CrossTenantTypes",
        "HomeTenants", "DistinctIps", "Ips", "DistinctAsns", "Asns", "Sessions", "ActiveDays", "FirstSeen", "LastSeen",
        "UserId", "UserType", "DisplayName", "AppDisplayName",
    ]  # fmt: skip
    return _summarize(df, keys, aggregations, sets, order)


IMPLEMENTATIONS: dict[str, Callable[[Path, dt.datetime, dt.datetime], pd.DataFrame]] = {
    "arm_writes_by_identity": arm_writes_by_identity,
    "user_signin_context": user_signin_context,
    "arm_token_signins": arm_token_signins,
}
