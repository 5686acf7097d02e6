"""Gathering the evidence: run the analysis' queries, then fold their rows into per-identity facts.

The queries aggregate in the engine (one row per identity and facet); everything here works on
whole columns: a ``groupby`` per fact, never a loop over identities or a slice per identity. UPNs
are compared lower-cased (the queries fold them). The activity log is read once
(``arm_operations``), and its facets also give the frames the notebooks read by the names of the
catalog queries that compute them alone (``arm_writes_by_identity``, ``arm_write_minutes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.core.groupby import SeriesGroupBy

from kitlib.backends.base import Backend
from kitlib.domain.apps import tool_families
from kitlib.domain.phase2 import DENIED_MFA, EVALUATED_KINDS, REFUSED_RBAC, USER, WORKLOAD
from kitlib.errors import KitError, UsageError
from kitlib.query.catalog import get_query

#: The analysis' queries: the activity log once, the policy events, the sign-ins three ways.
QUERY_NAMES: tuple[str, ...] = (
    "arm_operations",
    "arm_policy_mfa_events",
    "arm_token_signins",
    "arm_activity_hours",
    "user_signin_context",
    "workload_signins",
)


Progress = Callable[[str, float], None]


#: Query columns filled by ``make_set``/``make_list``: the service returns their elements in no
#: fixed order, so they are sorted on arrival and every reason, CSV and page built from them is
#: reproducible.
SET_COLUMNS = frozenset(
    {
        "AmrValues",
        "Apps",
        "Asns",
        "CallerIps",
        "Effects",
        "Identities",
        "Ips",
        "OperationNames",
        "Resources",
        "Subscriptions",
    }
)


#: Frames whose sets pages list as they come (the others' sets are only counted, or exploded and
#: sorted where the analysis words them), so sorting every cell of the large ones would be waste.
SORTED_FRAMES = frozenset({"arm_policy_mfa_events"})


@dataclass
class QueryRun:
    """What running the analysis' queries gave: frames, and every gap in them."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)
    #: False when any query came back partial (truncated, or a part of it failed).
    complete: bool = True


def run_queries(backend: Backend, start: dt.datetime, end: dt.datetime, progress: Progress | None) -> QueryRun:
    """Run every query it can; a query whose tables are absent or that fails is a warning, not an error."""
    available = backend.available_tables()
    run = QueryRun()
    frames, missing, warnings, ran = run.frames, run.missing_tables, run.warnings, run.ran
    for i, name in enumerate(QUERY_NAMES):
        if progress:
            progress(f"query {name}", i / len(QUERY_NAMES))
        query = get_query(name)
        absent = [t for t in query.tables if t not in available]
        if absent:
            for t in absent:
                if t not in missing:
                    missing.append(t)
            warnings.append(f"{name} not run: table(s) {', '.join(absent)} not in the workspace")
            frames[name] = pd.DataFrame()
            continue
        try:
            result = backend.run(query, {"start": start, "end": end})
        except UsageError:
            raise
        except KitError as exc:
            warnings.append(f"{name} failed: {exc}")
            frames[name] = pd.DataFrame()
            continue
        for t in result.missing_tables:
            if t not in missing:
                missing.append(t)
        warnings.extend(f"{name}: {w}" for w in result.warnings)
        if not result.complete:
            run.complete = False
            warnings.append(f"{name}: the service returned a partial result; counts are lower bounds")
        frames[name] = sorted_sets(result.frame) if name in SORTED_FRAMES else result.frame
        ran.add(name)
    if progress:
        progress("joining evidence", 1.0)
    return run


def sorted_sets(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every ``make_set`` cell (:data:`SET_COLUMNS`) as a sorted list."""
    columns = [c for c in frame.columns if c in SET_COLUMNS]
    if not columns or not len(frame):
        return frame
    out = frame.copy()
    for column in columns:
        out[column] = [sorted(as_list(v), key=lambda x: str(x).lower()) for v in out[column]]
    return out


def as_list(value: Any) -> list[Any]:
    """A set cell as a list without empty values, whatever the engine returned (list, array, None)."""
    if value is None:
        return []
    if isinstance(value, float) and pd.isna(value):
        return []
    if isinstance(value, (list, tuple, set)):
        return [v for v in value if v is not None and v != ""]
    if hasattr(value, "tolist"):
        return [v for v in value.tolist() if v is not None and v != ""]
    return [value] if value != "" else []


def numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as int64 (0 where absent or empty): counts from any engine compare alike."""
    if column not in frame.columns:
        return pd.Series(0, index=frame.index, dtype="int64")
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")


def text(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as str ("" where absent or empty)."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[column].fillna("").astype(str)


def flags(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as bool (False where absent or empty)."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index, dtype=bool)
    return frame[column].fillna(False).astype(bool)


def times(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as UTC timestamps (NaT where absent)."""
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], utc=True)


class ByIdentity:
    """Groups rows by identity once: every aggregate then works on integer codes, not strings."""

    def __init__(self, identities: pd.Series) -> None:
        """``identities`` must have a plain 0..n-1 index, as the value Series given to the groups will."""
        codes, names = pd.factorize(identities.astype(str), sort=True)
        self.codes = codes
        self.index = pd.Index(names, name="identity")

    def __call__(self, values: pd.Series) -> SeriesGroupBy:
        return values.groupby(self.codes)

    def frame(self, columns: dict[str, pd.Series]) -> pd.DataFrame:
        """Aggregates (indexed by code) as one frame indexed by identity."""
        out = pd.DataFrame(
            {name: values.reindex(range(len(self.index))).to_numpy() for name, values in columns.items()}
        )
        out.index = self.index
        return out


def nonempty(values: pd.Series) -> pd.Series:
    """Text with "" as missing, so a group's ``first()`` skips it (and never runs a Python loop)."""
    return values.where(values != "")


def day_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    return str(pd.Timestamp(value).strftime("%Y-%m-%d"))


def day_column(values: pd.Series) -> pd.Series:
    """Timestamps as ``YYYY-MM-DD`` text ("" for none), for the CSV and the reasons."""
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.strftime("%Y-%m-%d").fillna("").astype(object)


# --- the activity log's facets ----------------------------------------------------------------


#: The columns of each facet of ``arm_operations`` (the query's union gives every row all of them).
OPERATION_COLUMNS = (
    "Identity", "Principal", "AppId", "Kind", "TokenHasMfa", "Outcome", "Operations", "Deployments", "FirstSeen",
    "LastSeen", "ActiveDays", "ObjectId", "AmrValues", "OperationNames", "CallerIps",
)  # fmt: skip
MINUTE_COLUMNS = ("Identity", "WriteMinutes", "Minutes", "OperationsPerMinute", "DeploymentMinutes")
DAILY_COLUMNS = ("Day", "Caller", "TokenHasMfa", "Operations")
TARGET_COLUMNS = (
    "OperationNameValue", "SubscriptionId", "TokenHasMfa", "Operations", "DistinctIdentities", "Identities", "LastSeen",
)  # fmt: skip
FACETS = {"operations": OPERATION_COLUMNS, "minutes": MINUTE_COLUMNS, "daily": DAILY_COLUMNS, "targets": TARGET_COLUMNS}


def activity_facets(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``arm_operations`` split into its facets (:data:`FACETS`), each with its own columns.

    Every facet keeps its columns when empty (an empty window, or AzureActivity missing), so a
    page can select from it without special cases.
    """
    if "Facet" not in frame.columns:
        every = {c for columns in FACETS.values() for c in columns}
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in ("Facet", *sorted(every))})
    facet = frame["Facet"]
    return {
        name: frame.loc[facet == name, [c for c in columns if c in frame]].reset_index(drop=True)
        for name, columns in FACETS.items()
    }


def notebook_frames(facets: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The frames the notebooks read by catalog name, from the facets (no second pass over the log).

    ``arm_writes_by_identity``: user operations that reached the MFA check, per identity, client
    app, kind and MFA state; ``arm_write_minutes``, ``arm_writes_mfa_daily`` and
    ``arm_write_targets``: the facets of those names, in the catalog queries' row order. A test
    checks each equals what the catalog query of its name returns.
    """
    operations, minutes = facets["operations"], facets["minutes"]
    daily = facets["daily"].sort_values(["Day", "Caller"], kind="stable").reset_index(drop=True)
    targets = facets["targets"].sort_values(
        ["Operations", "OperationNameValue", "SubscriptionId"], ascending=[False, True, True], kind="stable"
    )
    shared = {
        "arm_write_minutes": minutes,
        "arm_writes_mfa_daily": daily,
        "arm_write_targets": targets.reset_index(drop=True),
    }
    if operations.empty:
        columns = ["Identity", "AppId", "Kind", "TokenHasMfa", "Operations", "Deployments", "FirstSeen", "LastSeen",
                   "ObjectId"]  # fmt: skip
        return {"arm_writes_by_identity": pd.DataFrame(columns=columns), **shared}
    reached = operations[(text(operations, "Principal") == USER) & (text(operations, "Outcome") != REFUSED_RBAC)]
    keys = ["Identity", "AppId", "Kind", "TokenHasMfa"]
    grouped = (
        reached.assign(ObjectId=nonempty(text(reached, "ObjectId")))
        .groupby(keys, as_index=False, sort=True)
        .agg(
            Operations=("Operations", "sum"),
            Deployments=("Deployments", "sum"),
            FirstSeen=("FirstSeen", "min"),
            LastSeen=("LastSeen", "max"),
            ObjectId=("ObjectId", "first"),
        )
    )
    grouped["ObjectId"] = grouped["ObjectId"].fillna("")
    return {"arm_writes_by_identity": grouped, **shared}


def exploded(frame: pd.DataFrame, key: str, column: str) -> pd.DataFrame:
    """(key, value) pairs of a list column, one per distinct non-empty value, sorted."""
    if frame.empty or column not in frame.columns:
        return pd.DataFrame({key: pd.Series(dtype=object), column: pd.Series(dtype=object)})
    pairs = frame[[key, column]].explode(column).dropna()
    pairs = pairs[pairs[column] != ""].astype({column: str})
    return pairs.drop_duplicates().sort_values([key, column], kind="stable").reset_index(drop=True)


def first_items(pairs: pd.DataFrame, key: str, column: str, limit: int, sep: str = ", ") -> pd.Series:
    """Per key, the first ``limit`` values of sorted (key, value) pairs joined by ``sep``."""
    if pairs.empty:
        return pd.Series(dtype=object)
    head = pairs[pairs.groupby(key).cumcount() < limit]
    return (head[column] + sep).groupby(head[key]).sum().str.slice(stop=-len(sep))


# --- per-identity facts -----------------------------------------------------------------------


def operation_facts(operations: pd.DataFrame) -> pd.DataFrame:
    """Per user identity: writes with and without MFA, refusals, actions, dates, apps and examples."""
    users = operations[text(operations, "Principal") == USER] if len(operations) else operations
    if users.empty:
        return pd.DataFrame(index=pd.Index([], name="identity"))
    users = users.reset_index(drop=True)
    per = ByIdentity(users["Identity"])
    count = numbers(users, "Operations")
    kind = text(users, "Kind")
    outcome = text(users, "Outcome")
    evaluated = kind.isin(EVALUATED_KINDS)
    reached = outcome != REFUSED_RBAC
    no_mfa = ~flags(users, "TokenHasMfa")
    first, last = times(users, "FirstSeen"), times(users, "LastSeen")

    def total(mask: pd.Series) -> pd.Series:
        return per(count.where(mask, 0)).sum()

    facts = per.frame(
        {
            "writes": total(evaluated & reached),
            "writes_no_mfa": total(evaluated & reached & no_mfa),
            "writes_refused_rbac": total(evaluated & ~reached),
            "writes_denied_mfa": total(evaluated & (outcome == DENIED_MFA)),
            "actions": total(~evaluated & reached),
            "actions_no_mfa": total(~evaluated & reached & no_mfa),
            "actions_refused_rbac": total(~evaluated & ~reached),
            "deployments": per(numbers(users, "Deployments").where(evaluated & reached, 0)).sum(),
            "ops_first": per(first).min(),
            "ops_last": per(last).max(),
            "no_mfa_first": per(first.where(evaluated & reached & no_mfa)).min(),
            "no_mfa_last": per(last.where(evaluated & reached & no_mfa)).max(),
            "mfa_write_last": per(last.where(evaluated & reached & ~no_mfa)).max(),
            "write_days": per(numbers(users, "ActiveDays").where(evaluated, 0)).max(),
            "object_id": per(nonempty(text(users, "ObjectId"))).first(),
        }
    )
    no_mfa_writes = users[evaluated & reached & no_mfa]
    facts["amr_no_mfa"] = first_items(exploded(no_mfa_writes, "Identity", "AmrValues"), "Identity", "AmrValues", 5, ",")
    facts["ops_no_mfa"] = first_items(
        _case_folded(exploded(no_mfa_writes, "Identity", "OperationNames")), "Identity", "OperationNames", 2
    )
    no_mfa_actions = users[~evaluated & reached & no_mfa]
    facts["action_ops_no_mfa"] = first_items(
        _case_folded(exploded(no_mfa_actions, "Identity", "OperationNames")), "Identity", "OperationNames", 1
    )
    for column in ("amr_no_mfa", "ops_no_mfa", "action_ops_no_mfa", "object_id"):
        facts[column] = facts[column].fillna("")
    return facts


def _case_folded(pairs: pd.DataFrame) -> pd.DataFrame:
    """Operation names once per identity however cased (exports upper-case some), preferring mixed case."""
    if pairs.empty:
        return pairs
    column = pairs.columns[1]
    folded = pairs.assign(_key=pairs[column].str.lower(), _upper=pairs[column].str.isupper())
    folded = folded.sort_values([pairs.columns[0], "_key", "_upper"], kind="stable")
    return folded.drop_duplicates([pairs.columns[0], "_key"])[[pairs.columns[0], column]]


def write_apps(operations: pd.DataFrame) -> pd.DataFrame:
    """(identity, app, writes, writes without MFA) for user writes that reached the MFA check."""
    if operations.empty:
        return pd.DataFrame(
            {"identity": pd.Series(dtype=object), "app": pd.Series(dtype=object),
             "writes": pd.Series(dtype="int64"), "writes_no_mfa": pd.Series(dtype="int64")}
        )  # fmt: skip
    users = operations[
        (text(operations, "Principal") == USER)
        & text(operations, "Kind").isin(EVALUATED_KINDS)
        & (text(operations, "Outcome") != REFUSED_RBAC)
    ]
    count = numbers(users, "Operations")
    frame = pd.DataFrame(
        {
            "identity": users["Identity"].astype(str),
            "app": text(users, "AppId").str.lower(),
            "writes": count,
            "writes_no_mfa": count.where(~flags(users, "TokenHasMfa"), 0),
        }
    )
    return frame.groupby(["identity", "app"], as_index=False, sort=True).sum()


def mfa_apps(operations: pd.DataFrame) -> pd.DataFrame:
    """(identity, app) pairs whose activity-log claims show MFA: their tokens carried it."""
    if operations.empty:
        return pd.DataFrame(columns=["identity", "app"])
    shown = operations[
        (text(operations, "Principal") == USER)
        & flags(operations, "TokenHasMfa")
        & (text(operations, "Outcome") != REFUSED_RBAC)
    ]
    pairs = pd.DataFrame({"identity": shown["Identity"].astype(str), "app": text(shown, "AppId").str.lower()})
    return pairs.drop_duplicates().reset_index(drop=True)


def workload_writes(operations: pd.DataFrame) -> pd.DataFrame:
    """Write operations per workload caller and app (service principals and managed identities)."""
    if operations.empty:
        return pd.DataFrame(
            {
                "Caller": pd.Series(dtype=object),
                "AppId": pd.Series(dtype=object),
                "Operations": pd.Series(dtype="int64"),
            }
        )
    workloads = operations[(text(operations, "Principal") == WORKLOAD) & text(operations, "Kind").isin(EVALUATED_KINDS)]
    frame = pd.DataFrame(
        {
            "Caller": workloads["Identity"].astype(str),
            "AppId": text(workloads, "AppId").str.lower(),
            "Operations": numbers(workloads, "Operations"),
        }
    )
    return frame.groupby(["Caller", "AppId"], as_index=False, sort=True).sum()


def token_rows(tokens: pd.DataFrame) -> pd.DataFrame:
    """``arm_token_signins`` with a tool family per row, for identities that ever held an ARM token.

    An identity whose every attempt failed never held a token: it is left out here (its failures
    stay in the sign-in context).
    """
    if tokens.empty:
        return tokens
    rows = tokens.copy()
    rows["Family"] = tool_families(text(rows, "AppId"), text(rows, "UserAgent"), text(rows, "Protocol"))
    held = numbers(rows, "Succeeded").groupby(rows["Identity"]).transform("sum") > 0
    return rows[held].reset_index(drop=True)


def mfa_shown_by_claims(rows: pd.DataFrame, shown_mfa: pd.DataFrame) -> pd.Series:
    """Token rows whose single-factor label the activity log contradicts (the at_risk exception).

    A sign-in labelled single-factor only says MFA was not *required* for that request; the token
    can still carry an earlier MFA. When the activity log's claims show MFA for the identity's
    writes through the same app, and the sign-in log never records MFA for that app, its
    single-factor labels are taken to mean exactly that. Where the sign-in log does record MFA for
    some of the app's tokens, it is believed for the others.
    """
    if rows.empty:
        return pd.Series(dtype=bool)
    who = rows["Identity"].astype(str)
    app = text(rows, "AppId").str.lower()
    known = (
        pd.MultiIndex.from_frame(shown_mfa[["identity", "app"]])
        if len(shown_mfa)
        else pd.MultiIndex.from_tuples([], names=["identity", "app"])
    )
    by_claims = pd.Series(pd.MultiIndex.from_arrays([who, app]).isin(known), index=rows.index)
    logged_mfa = numbers(rows, "MfaSatisfied").groupby([who, app]).transform("sum") > 0
    return by_claims & ~logged_mfa


def token_facts(rows: pd.DataFrame, shown_mfa: pd.DataFrame) -> pd.DataFrame:
    """Per identity: ARM tokens, single-factor ones (by app), MFA, ROPC, device code, devices."""
    if rows.empty:
        return pd.DataFrame(index=pd.Index([], name="identity"))
    rows = rows.reset_index(drop=True)
    per = ByIdentity(rows["Identity"])
    single = numbers(rows, "SingleFactor")
    mfa_by_claims = mfa_shown_by_claims(rows, shown_mfa)
    facts = per.frame(
        {
            "arm_signins": per(numbers(rows, "SignIns")).sum(),
            "single_factor": per(single).sum(),
            "single_factor_at_risk": per(single.where(~mfa_by_claims, 0)).sum(),
            "single_factor_shown_mfa": per(single.where(mfa_by_claims, 0)).sum(),
            "token_mfa": per(numbers(rows, "MfaSatisfied")).sum(),
            "ropc": per(numbers(rows, "Ropc")).sum(),
            "device_code": per(numbers(rows, "DeviceCode")).sum(),
            "with_device": per(numbers(rows, "WithDevice")).sum(),
            "token_gsa": per(numbers(rows, "ThroughGsa")).sum(),
            "token_cross_tenant": per(numbers(rows, "CrossTenantSignIns")).sum(),
            "token_days": per(numbers(rows, "ActiveDays")).max(),
            "token_first": per(times(rows, "FirstSeen")).min(),
            "token_last": per(times(rows, "LastSeen")).max(),
            "token_user_id": per(nonempty(text(rows, "UserId"))).first(),
            "token_user_type": per(nonempty(text(rows, "UserType"))).first(),
            "token_display_name": per(nonempty(text(rows, "DisplayName"))).first(),
            "portal_signins": per(numbers(rows, "SignIns").where(rows["Family"] == "portal", 0)).sum(),
        }
    )
    for column in ("token_user_id", "token_user_type", "token_display_name"):
        facts[column] = facts[column].fillna("")
    return facts


def context_facts(context: pd.DataFrame) -> pd.DataFrame:
    """Per identity, every sign-in: volume, MFA anywhere, browser and Office use, tenants."""
    if context.empty:
        return pd.DataFrame(index=pd.Index([], name="identity"))
    facts = pd.DataFrame(
        {
            "signins": numbers(context, "SignIns").values,
            "mfa_signins": numbers(context, "MfaSignIns").values,
            "browser_signins": numbers(context, "BrowserSignIns").values,
            "office_signins": numbers(context, "OfficeSignIns").values,
            "interactive_mfa_signins": numbers(context, "InteractiveMfaSignIns").values,
            "through_gsa": numbers(context, "ThroughGsa").values,
            "cross_tenant_signins": numbers(context, "CrossTenantSignIns").values,
            "same_tenant_signins": numbers(context, "SameTenantSignIns").values,
            "home_tenant": text(context, "HomeTenant").str.lower().values,
            "other_tenant": text(context, "OtherTenant").str.lower().values,
            "context_user_id": text(context, "UserId").values,
            "context_user_type": text(context, "UserType").values,
            "context_display_name": text(context, "DisplayName").values,
        },
        index=pd.Index(context["Identity"].astype(str).values, name="identity"),
    )
    return facts[~facts.index.duplicated()]


def policy_facts(policy: pd.DataFrame) -> pd.DataFrame:
    """Per identity: Azure Policy MFA audit and deny events, their effects and dates."""
    if policy.empty:
        return pd.DataFrame(index=pd.Index([], name="identity"))
    who = policy["Identity"].astype(str)
    events = numbers(policy, "Events")
    denied = text(policy, "Action").str.lower().str.startswith("deny")
    facts = pd.DataFrame(
        {
            "policy_events": events.groupby(who).sum(),
            "policy_denied_operations": numbers(policy, "Operations").where(denied, 0).groupby(who).sum(),
            "policy_first": times(policy, "FirstSeen").groupby(who).min(),
            "policy_last": times(policy, "LastSeen").groupby(who).max(),
        }
    )
    effects = policy[["Identity"]].assign(
        Effects=[as_list(v) for v in policy.get("Effects", pd.Series(index=policy.index, dtype=object))]
    )
    named = exploded(effects.assign(Identity=who), "Identity", "Effects")
    if not named.empty:
        named = named.assign(_key=named["Effects"].str.lower()).drop_duplicates(["Identity", "_key"])
        named = named.sort_values(["Identity", "_key"], kind="stable")[["Identity", "Effects"]]
    facts["policy_effects"] = first_items(named, "Identity", "Effects", 10).reindex(facts.index).fillna("")
    facts.index.name = "identity"
    return facts


def distinct_counts(*pairs: pd.DataFrame) -> pd.Series:
    """Per identity, how many distinct values the (identity, value) pair frames hold together."""
    frames = [p.set_axis(["identity", "value"], axis=1) for p in pairs if not p.empty]
    if not frames:
        return pd.Series(dtype="int64")
    both = pd.concat(frames, ignore_index=True).drop_duplicates()
    return both.groupby("identity").size()


def as_identity_index(values: pd.Series | np.ndarray | list[str]) -> pd.Index:
    """Identities as the facts frames index them (sorted, lower-case, unique)."""
    return pd.Index(sorted({str(v) for v in values}), name="identity")
