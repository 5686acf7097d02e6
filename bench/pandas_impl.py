"""pandas implementations of the heavy catalog queries, for the KQL / SQL / pandas comparison.

Written the way a pandas user would answer the same question from the workspace's Parquet files:
read only the needed columns with the time filter pushed into the Parquet reader, parse each JSON
cell once with ``json.loads``, vectorised string methods for the rest, one ``groupby`` at the end.
Each function returns the same columns as its ``queries/<name>.kql`` (checked by digest).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from kitlib.backends.local import find_table

ARM = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
AMR_CLAIM = "http://schemas.microsoft.com/claims/authnmethodsreferences"
OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
SCOPE_CLAIM = "http://schemas.microsoft.com/identity/claims/scope"
MFA_POLICIES = ("4e6c27d5-a6ee-49cf-b2b4-d8fe90fa2b8b", "db4a9d17-db75-4f46-9fcb-9f9526604417", "sys.mfa-write",
                "sys.mfa-delete")  # fmt: skip


def read_table(workspace: Path, table: str, columns: list[str], start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Rows of ``table`` with ``start <= TimeGenerated < end``, only ``columns`` (Parquet workspaces)."""
    source = find_table(Path(workspace), table)
    if source is None or source.fmt != "parquet":
        raise ValueError(f"the pandas implementations read Parquet workspaces; {table} is not Parquet in {workspace}")
    filters = [("TimeGenerated", ">=", pd.Timestamp(start)), ("TimeGenerated", "<", pd.Timestamp(end))]
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


def _operations(workspace: Path, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """The per-operation stage of arm_operations / arm_writes_by_identity: Microsoft's rule per event, then
    one row per (CorrelationId, identity, principal kind)."""
    columns = [
        "TimeGenerated", "CategoryValue", "OperationNameValue", "Claims", "Claims_d", "Properties_d", "Caller",
        "CorrelationId", "ActivityStatusValue", "SubscriptionId", "CallerIpAddress",
    ]  # fmt: skip
    df = read_table(workspace, "AzureActivity", columns, start, end)
    df = df[df["CategoryValue"] == "Administrative"].copy()
    op = df["OperationNameValue"].fillna("").str.lower()
    kind = np.select([op.str.endswith("/write"), op.str.endswith("/delete"), op.str.endswith("/action")],
                     ["write", "delete", "action"], default="")  # fmt: skip
    df = df[kind != ""].assign(Kind=kind[kind != ""], op=op[kind != ""])
    claims = df["Claims_d"].map(_loads)
    caller = df["Caller"].fillna("")
    caller_upn = caller.str.contains("@", regex=False)
    idtyp = _field(claims, "idtyp")
    upn = _field(claims, UPN_CLAIM).where((idtyp != "app") & ~caller_upn, "")
    scope = _field(claims, SCOPE_CLAIM).where((idtyp == "") & ~caller_upn & (upn == ""), "")
    amr = _field(claims, AMR_CLAIM)
    text = df["Claims"].fillna("")
    acrs = _field(claims, "acrs").where((text == "") | text.str.contains("acrs", regex=False), "")
    status = df["ActivityStatusValue"].fillna("").str.lower()
    failed = status.isin(["failure", "failed"])
    principal = np.select(
        [idtyp == "user", idtyp == "app", (upn != "") | (scope != "") | caller_upn],
        ["user", "workload", "user"],
        default="workload",
    )
    is_user = principal == "user"
    has_mfa = amr.str.split(",").map(lambda e: "mfa" in e) | acrs.str.split(",").map(lambda e: "p1" in e)
    message = _field(df["Properties_d"].map(_loads), "statusMessage").where(failed, "")
    code = message.map(lambda m: _text((_loads(m) or {}).get("error", {}).get("code")) if m else "").where(failed, "")
    mfa_policy = pd.concat([_icontains(message, p) for p in MFA_POLICIES], axis=1).any(axis=1)
    events = pd.DataFrame(
        {
            "CorrelationId": df["CorrelationId"],
            "Identity": caller.where(~(is_user & ~caller_upn & (upn != "")), upn).str.lower(),
            "Principal": principal,
            "TimeGenerated": df["TimeGenerated"],
            "write": df["Kind"] == "write",
            "delete": df["Kind"] == "delete",
            "no_mfa": ~has_mfa,
            "rbac": code == "AuthorizationFailed",
            "denied": (code == "RequestDisallowedByPolicy") & mfa_policy,
            "failed": failed,
            "deployment": df["op"] == "microsoft.resources/deployments/write",
            "AppId": _field(claims, "appid"),
            "ObjectId": _field(claims, OID_CLAIM).where(status.isin(["start", "started"]), ""),
            "OperationName": df["OperationNameValue"],
            "AmrWithoutMfa": amr.where(~has_mfa, ""),
            "CallerIp": df["CallerIpAddress"],
            "Subscription": df["SubscriptionId"].fillna("").str.lower(),
        }
    )
    per_op = (
        events.groupby(["CorrelationId", "Identity", "Principal"], sort=False)
        .agg(
            Started=("TimeGenerated", "min"),
            WriteEvents=("write", "sum"),
            DeleteEvents=("delete", "sum"),
            EventsWithoutMfa=("no_mfa", "sum"),
            RbacRefusals=("rbac", "sum"),
            MfaDenials=("denied", "sum"),
            Failures=("failed", "sum"),
            DeploymentEvents=("deployment", "sum"),
            AppId=("AppId", "max"),
            ObjectId=("ObjectId", "max"),
            OperationName=("OperationName", "max"),
            AmrWithoutMfa=("AmrWithoutMfa", "max"),
            CallerIp=("CallerIp", "max"),
            Subscription=("Subscription", "max"),
        )
        .reset_index()
    )
    per_op["Kind"] = np.select([per_op["WriteEvents"] > 0, per_op["DeleteEvents"] > 0], ["write", "delete"], "action")
    per_op["TokenHasMfa"] = per_op["EventsWithoutMfa"] == 0
    per_op["Outcome"] = np.select(
        [per_op["RbacRefusals"] > 0, per_op["MfaDenials"] > 0, per_op["Failures"] > 0],
        ["refused_rbac", "denied_mfa", "failed"],
        default="succeeded",
    )
    return per_op


def _per_group(ops: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The operations facet's aggregates per ``keys`` (shared by both queries)."""
    out = ops.groupby(keys, sort=False).agg(
        Operations=("CorrelationId", "size"),
        Deployments=("DeploymentEvents", lambda d: int((d > 0).sum())),
        FirstSeen=("Started", "min"),
        LastSeen=("Started", "max"),
        ActiveDays=("Started", lambda t: t.dt.floor("D").nunique()),
        ObjectId=("ObjectId", "max"),
    )
    sets = (("AmrValues", "AmrWithoutMfa"), ("OperationNames", "OperationName"), ("CallerIps", "CallerIp"))
    for name, column in sets:
        out[name] = ops.groupby(keys, sort=False)[column].agg(lambda v: sorted(set(v.dropna())))
    return out.reset_index()


def arm_operations(workspace: Path, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """queries/arm_operations.kql in pandas."""
    ops = _operations(workspace, start, end)
    facet = _per_group(ops, ["Identity", "Principal", "AppId", "Kind", "TokenHasMfa", "Outcome"]).assign(
        Facet="operations"
    )
    writes = ops[(ops["Principal"] == "user") & (ops["Kind"] != "action")].assign(
        Minute=lambda f: f["Started"].dt.floor("min")
    )
    per_minute = (
        writes.groupby(["Identity", "Minute"])
        .agg(Ops=("CorrelationId", "size"), Deploys=("DeploymentEvents", lambda d: int((d > 0).sum())))
        .reset_index()
    )
    minutes = (
        per_minute.groupby("Identity")
        .agg(
            WriteMinutes=("Minute", "size"),
            Minutes=("Minute", list),
            OperationsPerMinute=("Ops", list),
            DeploymentMinutes=("Deploys", lambda d: int((d > 0).sum())),
        )
        .reset_index()
        .assign(Facet="minutes")
    )
    reached = writes[writes["Outcome"] != "refused_rbac"]
    daily = (
        reached.assign(Day=reached["Started"].dt.floor("D"))
        .groupby(["Day", "Identity", "TokenHasMfa"])
        .size()
        .rename("Operations")
        .reset_index()
        .rename(columns={"Identity": "Caller"})
        .assign(Facet="daily")
    )
    targets = reached.assign(OperationNameValue=reached["OperationName"].str.lower())
    targets = (
        targets.groupby(["OperationNameValue", "Subscription", "TokenHasMfa"])
        .agg(
            Operations=("CorrelationId", "size"),
            DistinctIdentities=("Identity", "nunique"),
            Identities=("Identity", lambda v: sorted(set(v))),
            LastSeen=("Started", "max"),
        )
        .reset_index()
        .rename(columns={"Subscription": "SubscriptionId"})
        .assign(Facet="targets")
    )
    return pd.concat([facet, minutes, daily, targets], ignore_index=True)


def arm_writes_by_identity(workspace: Path, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """queries/arm_writes_by_identity.kql in pandas."""
    ops = _operations(workspace, start, end)
    reached = ops[(ops["Principal"] == "user") & (ops["Outcome"] != "refused_rbac")]
    out = _per_group(reached, ["Identity", "AppId", "Kind", "TokenHasMfa"]).drop(columns="ActiveDays")
    return out.sort_values(["Identity", "AppId", "Kind", "TokenHasMfa"], kind="stable").reset_index(drop=True)


IMPLEMENTATIONS: dict[str, Callable[[Path, dt.datetime, dt.datetime], pd.DataFrame]] = {
    "arm_operations": arm_operations,
    "arm_writes_by_identity": arm_writes_by_identity,
}
