"""Who must act on each finding: identities routed to the owners of the resources they wrote to.

The security team finds the identities; the teams that own the subscriptions fix them. An owners
file maps scopes to teams::

    scope,owner,contact
    11111111-2222-3333-4444-555555555555,Platform,platform@contoso.example
    /subscriptions/1111.../resourceGroups/rg-web,Web team,web@contoso.example

A scope is a subscription id or a resource id prefix; for each resource the longest matching scope
wins (whole path segments, any case). An identity with a finding (``will_break``, ``at_risk``,
``unknown``) lands with every owner of a resource it wrote to; one that wrote nowhere (at risk
from its tokens alone), or only to resources no scope covers, lands in :data:`UNASSIGNED`.
Without an owners file, each subscription is its own owner. Everything is done on whole columns:
the resources are matched once each, not once per identity.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kitlib.errors import UsageError

#: The verdicts someone has to act on.
FINDINGS = ("will_break", "at_risk", "unknown")
#: The owner of findings no scope covers.
UNASSIGNED = "unassigned"
OWNERS_HEADER = ("scope", "owner", "contact")
#: The columns of a routed finding: one row per (owner, identity).
ROUTE_COLUMNS = ("owner", "contact", "identity", "arm_writes_here", "arm_writes_without_mfa_here", "resources_here")


@dataclass(frozen=True)
class Owner:
    """One line of an owners file: a scope (normalised), the team, and how to reach it."""

    scope: str
    owner: str
    contact: str


def normalise_scope(scope: str) -> str:
    """A resource path lower-cased, with a leading and no trailing slash; a bare id is a subscription."""
    text = scope.strip().strip("/").lower()
    if not text:
        return ""
    return "/" + text if "/" in text else f"/subscriptions/{text}"


def read_owners(path: Path) -> list[Owner]:
    """The owners file at ``path``; a UsageError naming the line for anything it cannot use."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"owners file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"owners file {path} cannot be read as UTF-8 text ({type(exc).__name__})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(c.strip().lower() for c in rows[0]) != OWNERS_HEADER:
        raise UsageError(f"owners file {path}: the first line must be the header {','.join(OWNERS_HEADER)}")
    owners: list[Owner] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise UsageError(
                f"owners file {path}, line {number}: expected 3 fields (scope,owner,contact), got {len(row)}"
            )
        scope, owner, contact = (cell.strip() for cell in row)
        key = normalise_scope(scope)
        if not key or not owner:
            raise UsageError(f"owners file {path}, line {number}: scope and owner must not be empty")
        if owner.lower() == UNASSIGNED:
            raise UsageError(f"owners file {path}, line {number}: {UNASSIGNED!r} is reserved for what no scope covers")
        if key in seen:
            raise UsageError(f"owners file {path}, line {number}: scope {scope} is already given on line {seen[key]}")
        seen[key] = number
        owners.append(Owner(key, owner, contact))
    if not owners:
        raise UsageError(f"owners file {path} names no owner")
    return owners


def owner_of(resources: Iterable[str], owners: Iterable[Owner]) -> dict[str, Owner | None]:
    """Each resource id's owner: the longest scope that is a whole-segment prefix of it (or None)."""
    by_scope = {o.scope: o for o in owners}
    found: dict[str, Owner | None] = {}
    for resource in set(resources):
        segments = normalise_scope(resource).split("/")
        found[resource] = next(
            (by_scope[p] for p in ("/".join(segments[:n]) for n in range(len(segments), 1, -1)) if p in by_scope),
            None,
        )
    return found


def subscription_owners(resources: Iterable[str]) -> list[Owner]:
    """Without an owners file: every subscription written to is its own owner."""
    paths = (normalise_scope(r).split("/") for r in resources)
    subscriptions = {"/".join(p[:3]) for p in paths if len(p) >= 3 and p[1] == "subscriptions"}
    return [Owner(s, f"subscription {s.rsplit('/', 1)[-1]}", "") for s in sorted(subscriptions)]


def route(identities: pd.DataFrame, writes: pd.DataFrame, owners: list[Owner] | None) -> pd.DataFrame:
    """One row per (owner, identity with a finding): who must act on whom, and on how many writes.

    ``identities`` has identities.csv's columns; ``writes`` is the ``arm_write_resources`` query
    (``Identity``, ``Resource``, ``Operations``, ``OperationsWithoutMfa``). Every identity with
    a finding appears at least once (with :data:`UNASSIGNED` when no owner's scope covers a write).
    """
    findings = identities.loc[identities["verdict"].isin(FINDINGS), ["identity"]].drop_duplicates()
    mine = writes[writes["Identity"].str.lower().isin(set(findings["identity"].str.lower()))]
    mine = mine.assign(identity=mine["Identity"].str.lower(), resource=mine["Resource"].str.lower())
    table = owners if owners is not None else subscription_owners(mine["resource"])
    found = owner_of(mine["resource"], table)
    names = {r: o.owner if o else UNASSIGNED for r, o in found.items()}
    contacts = {r: o.contact if o else "" for r, o in found.items()}
    mine = mine.assign(owner=mine["resource"].map(names), contact=mine["resource"].map(contacts))
    routed = (
        mine.groupby(["owner", "contact", "identity"], as_index=False)
        .agg(
            arm_writes_here=("Operations", "sum"),
            arm_writes_without_mfa_here=("OperationsWithoutMfa", "sum"),
            resources_here=("resource", "nunique"),
        )
        .astype({"arm_writes_here": "int64", "arm_writes_without_mfa_here": "int64", "resources_here": "int64"})
    )
    # An identity is unassigned only for its uncovered writes: drop that row when it also has an owner.
    has_owner = set(routed.loc[routed["owner"] != UNASSIGNED, "identity"])
    routed = routed[(routed["owner"] != UNASSIGNED) | ~routed["identity"].isin(has_owner)]
    nowhere = findings[~findings["identity"].str.lower().isin(set(routed["identity"]))]
    lost = pd.DataFrame(
        {
            "owner": UNASSIGNED,
            "contact": "",
            "identity": nowhere["identity"].str.lower(),
            "arm_writes_here": 0,
            "arm_writes_without_mfa_here": 0,
            "resources_here": 0,
        }
    )
    routed = pd.concat([routed, lost], ignore_index=True) if len(lost) else routed
    # Back to the spelling identities.csv uses (routing compares case-insensitively).
    spelling = {i.lower(): i for i in findings["identity"]}
    routed = routed.assign(identity=routed["identity"].map(lambda i: spelling.get(i, i)))
    order = routed["owner"].eq(UNASSIGNED)
    return (
        routed.assign(_last=order)
        .sort_values(["_last", "owner", "identity"], kind="stable")
        .drop(columns="_last")
        .reset_index(drop=True)[list(ROUTE_COLUMNS)]
    )


def owner_counts(routed: pd.DataFrame, identities: pd.DataFrame) -> pd.DataFrame:
    """Per owner: how many identities it must act on, by verdict, most urgent owners first."""
    verdicts: Mapping[str, str] = dict(zip(identities["identity"], identities["verdict"], strict=True))
    frame = routed.assign(verdict=routed["identity"].map(verdicts))
    counts = frame.pivot_table(index="owner", columns="verdict", values="identity", aggfunc="nunique", fill_value=0)
    for verdict in FINDINGS:
        if verdict not in counts.columns:
            counts[verdict] = 0
    counts = counts[list(FINDINGS)].astype("int64").reset_index()
    counts["identities"] = counts[list(FINDINGS)].sum(axis=1)
    counts = counts.assign(_last=counts["owner"].eq(UNASSIGNED))
    return (
        counts.sort_values(["_last", "will_break", "identities", "owner"], ascending=[True, False, False, True])
        .drop(columns="_last")
        .reset_index(drop=True)
    )
