"""Tool families and version bands per identity, set-wise, and tools.csv.

A family comes from the client app id of a token or write (and the user agent, for the SDKs and
Ansible that borrow the Azure CLI's app id); a version band from the MSAL library string of the
identity's sign-ins (:mod:`kitlib.domain.versions`). Terraform and Bicep are inferred from write
patterns and say so.

The version rule: ``version_ok`` describes the clients *still in use at the end of the window*.
A library (one client release) is **superseded** when it was last seen before a newer library of
the same tool first appeared (an upgrade); every other library is in use, so a laptop on an old
Azure CLI beside Cloud Shell keeps the old one in use. Per tool, ``yes`` needs every in-use
library to map to releases at or above the claims-challenge threshold, ``no`` means one maps
below it, and anything else (a band straddling the threshold, a string that maps to no release,
no string at all) is ``unknown``: never ``yes`` on ambiguous evidence. Token requests with an
empty library value say nothing about the version and are not counted as evidence either way.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from kitlib.analysis.evidence import numbers, text, times
from kitlib.analysis.model import TOOL_COLUMNS
from kitlib.domain.apps import AZURE_CLI, AZURE_POWERSHELL, TOOL_ORDER, tool_families
from kitlib.domain.versions import is_version, parse_library_string, parse_version, tool_band_for_library

#: Families whose version the claims-challenge thresholds are about.
VERSIONED_FAMILIES = (AZURE_CLI, AZURE_POWERSHELL)

CLI_CAVEAT = (
    "Terraform, azd and AzureCliCredential use the Azure CLI login and cannot be told apart from it in the logs"
)

#: What a family says when there is no band to show, by family.
NO_BAND_WORDS = {
    "portal": "browser sign-ins; the portal needs no client upgrade",
}


def ordered_tools(tools: Iterable[str]) -> list[str]:
    present = set(tools)
    return [t for t in TOOL_ORDER if t in present]


def short_library(library: str) -> str:
    """``Family: MSAL Library: MSAL.Python 1.31.0 Platform: Python`` -> ``MSAL.Python 1.31.0``."""
    body = library.replace("Family: ", "").replace("Library: ", "").split(" Platform:")[0]
    return body.replace("MSAL ", "", 1) if body.startswith("MSAL ") else body


# --- the library table: one row per distinct (library, tool), mapped once -----------------------


def library_bands(pairs: pd.DataFrame) -> pd.DataFrame:
    """Band facts for each distinct (Library, Family) pair: label, readiness, confidence, order.

    ``rank`` orders the libraries of one tool oldest first (ADAL before any MSAL; NaN when the
    value carries no comparable version, so it neither supersedes nor is superseded).
    """
    rows = []
    for library, family in pairs[["Library", "Family"]].drop_duplicates().itertuples(index=False):
        tool = family if family in VERSIONED_FAMILIES else "none"
        band = tool_band_for_library(str(library), "", tool=tool)
        parsed = parse_library_string(str(library))
        if parsed is not None and parsed.is_adal:
            order: tuple[int, object] | None = (0, None)
        elif parsed is not None and is_version(parsed.version):
            order = (1, parse_version(parsed.version))
        else:
            order = None
        mapped = bool(band.tool)
        rows.append(
            {
                "Library": library,
                "Family": family,
                "band": band.label if mapped else "unknown",
                "band_ok": band.version_ok if mapped else "unknown",
                "confidence": band.confidence if mapped else "none",
                "band_evidence": band.evidence,
                "mapped": mapped,
                "_order": order,
            }
        )
    table = pd.DataFrame(
        rows, columns=[*("Library", "Family", "band", "band_ok", "confidence"), "band_evidence", "mapped", "_order"]
    )
    comparable = table[table["_order"].notna()]
    ranks = {key: float(i) for i, key in enumerate(sorted({o for o in comparable["_order"]}, key=_order_key))}
    table["rank"] = [ranks.get(o, np.nan) if o is not None else np.nan for o in table["_order"]]
    return table.drop(columns="_order")


def _order_key(order: tuple[int, object]) -> tuple[int, object]:
    era, version = order
    return (era, version if version is not None else parse_version("0"))


def library_uses(tokens: pd.DataFrame) -> pd.DataFrame:
    """One row per (identity, family, library) with its band, dates and whether it is still in use."""
    columns = ["identity", "Family", "Library", "first", "last", "signins", "band", "band_ok", "confidence",
               "band_evidence", "mapped", "rank", "in_use"]  # fmt: skip
    if tokens.empty:
        return pd.DataFrame(columns=columns)
    with_library = tokens[text(tokens, "Library").str.strip() != ""]
    if with_library.empty:
        return pd.DataFrame(columns=columns)
    grouped = (
        pd.DataFrame(
            {
                "identity": with_library["Identity"].astype(str),
                "Family": with_library["Family"],
                "Library": text(with_library, "Library").str.strip(),
                "first": times(with_library, "FirstSeen"),
                "last": times(with_library, "LastSeen"),
                "signins": numbers(with_library, "SignIns"),
            }
        )
        .groupby(["identity", "Family", "Library"], as_index=False, sort=True)
        .agg(first=("first", "min"), last=("last", "max"), signins=("signins", "sum"))
    )
    uses = grouped.merge(library_bands(grouped), on=["Library", "Family"], how="left")
    uses["in_use"] = ~superseded(uses)
    return uses[columns]


def superseded(uses: pd.DataFrame) -> pd.Series:
    """A library is superseded when it was last seen before a newer one of the same tool first appeared."""
    keyed = uses.reset_index().rename(columns={"index": "_row"})
    newer_side = keyed[["identity", "Family", "rank", "first"]].rename(
        columns={"rank": "rank_newer", "first": "first_newer"}
    )
    pairs = keyed[["_row", "identity", "Family", "rank", "last"]].merge(newer_side, on=["identity", "Family"])
    newer = pairs[(pairs["rank_newer"] > pairs["rank"]) & (pairs["first_newer"] > pairs["last"])]
    return pd.Series(uses.index.isin(newer["_row"]), index=uses.index)


def family_versions(uses: pd.DataFrame, families: pd.DataFrame) -> pd.DataFrame:
    """Per (identity, family): readiness over the in-use libraries, the oldest in-use band, the text.

    ``families`` lists every (identity, Family) the identity used, so a family with no library
    string still gets its ``unknown`` row.
    """
    in_use = uses[uses["in_use"].astype(bool)].sort_values(
        ["identity", "Family", "rank", "Library"], na_position="last"
    )
    keys = ["identity", "Family"]
    ok = _readiness(in_use, keys)
    oldest = in_use.drop_duplicates(keys)[[*keys, "band", "confidence"]].set_index(keys) if len(in_use) else None
    out = families[keys].drop_duplicates().set_index(keys)
    out["version_ok"] = ok.reindex(out.index).fillna("unknown")
    out["band"] = oldest["band"].reindex(out.index).fillna("") if oldest is not None else ""
    out["confidence"] = oldest["confidence"].reindex(out.index).fillna("none") if oldest is not None else "none"
    mapped = in_use[in_use["mapped"].astype(bool)]
    earlier = uses[~uses["in_use"].astype(bool)].sort_values(["identity", "Family", "rank", "Library"])
    joined = {
        "libraries": _joined(in_use, keys, in_use["Library"].map(short_library) if len(in_use) else None, ", "),
        "bands": _joined(mapped, keys, None, " + ", column="band"),
        "superseded": _joined(earlier, keys, earlier["Library"].map(short_library) if len(earlier) else None, ", "),
        "evidence": _joined(mapped, keys, None, " | ", column="band_evidence"),
    }
    for column, values in joined.items():
        out[column] = values.reindex(out.index).fillna("") if len(values) else ""
    out["mapped"] = out["bands"] != ""
    return out.reset_index()


def _readiness(in_use: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per tool over its in-use libraries: any ``no`` is no, all ``yes`` is yes, else unknown."""
    if in_use.empty:
        return pd.Series(dtype=object)
    ok = in_use["band_ok"]
    by = [in_use[k] for k in keys]
    any_no = (ok == "no").groupby(by).any()
    all_yes = (ok == "yes").groupby(by).all()
    return pd.Series(np.select([any_no, all_yes], ["no", "yes"], default="unknown"), index=any_no.index)


def _joined(frame: pd.DataFrame, keys: list[str], values: pd.Series | None, sep: str, column: str = "") -> pd.Series:
    """Per key tuple, the distinct values (in frame order) joined by ``sep``; "" where none."""
    if frame.empty:
        return pd.Series("", dtype=object)
    items = values if values is not None else frame[column].astype(str)
    pairs = pd.DataFrame({**{k: frame[k].values for k in keys}, "v": items.values}).drop_duplicates()
    joined = (pairs["v"] + sep).groupby([pairs[k] for k in keys], sort=False).sum().str.slice(stop=-len(sep))
    return joined


def identity_tools(
    tokens: pd.DataFrame, write_apps: pd.DataFrame, deployments: pd.Series, burst_minutes: pd.Series
) -> pd.DataFrame:
    """(identity, Family, inferred) for every tool family an identity used, IaC inferred ones marked.

    A write through the Azure CLI app id is an SDK's or Ansible's when the identity's tokens show
    that family and no Azure CLI of its own (they borrow its app id).
    """
    seen = (
        pd.DataFrame({"identity": tokens["Identity"].astype(str), "Family": tokens["Family"]}) if len(tokens) else None
    )
    frames = [seen] if seen is not None else []
    if len(write_apps):
        families = tool_families(
            write_apps["app"], pd.Series("", index=write_apps.index), pd.Series("", index=write_apps.index)
        )
        writes = pd.DataFrame({"identity": write_apps["identity"].values, "Family": families.values})
        if seen is not None:
            token_families = seen.drop_duplicates()
            borrowers = set(token_families.loc[token_families["Family"].isin(["ansible", "azure-sdk"]), "identity"])
            own_cli = set(token_families.loc[token_families["Family"] == AZURE_CLI, "identity"])
            borrowed = (writes["Family"] == AZURE_CLI) & writes["identity"].isin(borrowers - own_cli)
            writes = writes[~borrowed]
        frames.append(writes)
    used = (
        pd.concat(frames, ignore_index=True).drop_duplicates()
        if frames
        else pd.DataFrame(columns=["identity", "Family"])
    )
    used["inferred"] = False
    bicep = deployments[deployments > 0].index
    terraform = burst_minutes[(burst_minutes >= 3)].index.difference(bicep)
    inferred = pd.concat(
        [
            pd.DataFrame({"identity": list(bicep), "Family": "bicep", "inferred": True}),
            pd.DataFrame({"identity": list(terraform), "Family": "terraform", "inferred": True}),
        ],
        ignore_index=True,
    )
    out = pd.concat([used, inferred], ignore_index=True).drop_duplicates(["identity", "Family"])
    out["_order"] = out["Family"].map(TOOL_ORDER.index)
    return out.sort_values(["identity", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)


def tool_texts(tools: pd.DataFrame, versions: pd.DataFrame) -> pd.DataFrame:
    """Per identity: ``tools`` (``azure-cli;bicep``), ``tool_versions`` text, per-tool readiness."""
    if tools.empty:
        return pd.DataFrame(columns=["tools", "tool_versions", "version_ok", "azure_cli_version_ok",
                                     "azure_powershell_version_ok"])  # fmt: skip
    merged = tools.merge(versions, on=["identity", "Family"], how="left")
    family = merged["Family"]
    mapped = merged["mapped"].astype("boolean").fillna(False).astype(bool)
    libraries = merged["libraries"].fillna("")
    earlier = merged["superseded"].fillna("")
    note = np.where(earlier != "", "; earlier, superseded: " + earlier, "")
    words = np.select(
        [
            merged["inferred"].astype(bool) & (family == "bicep"),
            merged["inferred"].astype(bool) & (family == "terraform"),
            mapped,
            libraries != "",
            family == "portal",
        ],
        [
            "bicep inferred from Microsoft.Resources/deployments/write (any ARM template deployment)",
            "terraform inferred from bursts of many writes in one minute",
            family
            + " "
            + merged["bands"].fillna("")
            + " ("
            + libraries
            + ", "
            + merged["confidence"].fillna("none")
            + " confidence"
            + note
            + ")",
            family + " version unknown (" + libraries + note + ")",
            "portal (browser; no client version)",
        ],
        default=family + " version unknown (no library string)",
    )
    words = pd.Series(words, index=merged.index)
    words = words.where(family != AZURE_CLI, words + "; " + CLI_CAVEAT)
    words = words.where(family != "ansible", words + "; inferred from azure-identity ROPC with the Azure CLI app id")
    who = merged["identity"]
    out = pd.DataFrame(
        {
            "tools": (family + ";").groupby(who, sort=False).sum().str.slice(stop=-1),
            "tool_versions": (words + " | ").groupby(who, sort=False).sum().str.slice(stop=-3),
        }
    )
    for tool, column in ((AZURE_CLI, "azure_cli_version_ok"), (AZURE_POWERSHELL, "azure_powershell_version_ok")):
        part = merged[family == tool]
        out[column] = part.set_index("identity")["version_ok"].fillna("unknown").reindex(out.index).fillna("")
    cli, ps = out["azure_cli_version_ok"], out["azure_powershell_version_ok"]
    out["version_ok"] = np.select(
        [(cli == "no") | (ps == "no"), (cli == "unknown") | (ps == "unknown"), (cli == "yes") | (ps == "yes")],
        ["no", "unknown", "yes"],
        default="unknown",
    )
    return out


def tools_frame(
    tools: pd.DataFrame,
    versions: pd.DataFrame,
    uses: pd.DataFrame,
    write_apps: pd.DataFrame,
    verdicts: pd.Series,
    counted: pd.Index,
) -> pd.DataFrame:
    """tools.csv: one row per tool family and in-use version band (break-glass accounts left out).

    An identity counts once in every band it still uses; a family without a mapped band counts in
    its ``unknown`` row. ``arm_writes`` are the writes of those identities through that family's
    client apps.
    """
    listed = tools[tools["identity"].isin(counted) & ~tools["inferred"].astype(bool)] if len(tools) else tools
    if listed.empty:
        return pd.DataFrame(columns=list(TOOL_COLUMNS))
    in_use = uses[uses["in_use"].astype(bool) & uses["mapped"].astype(bool)][
        ["identity", "Family", "band", "band_ok", "confidence", "band_evidence"]
    ].drop_duplicates(["identity", "Family", "band"])
    banded = listed.merge(in_use, on=["identity", "Family"], how="left")
    blank = banded["band"].isna()
    banded["band"] = banded["band"].fillna("unknown")
    banded["band_ok"] = banded["band_ok"].fillna("unknown")
    banded["confidence"] = banded["confidence"].fillna("none")
    no_band = versions.set_index(["identity", "Family"])["libraries"] if len(versions) else pd.Series(dtype=object)
    libraries = pd.Series(no_band.reindex(pd.MultiIndex.from_frame(banded[["identity", "Family"]])).values).fillna("")
    banded["band_evidence"] = banded["band_evidence"].where(
        ~blank,
        np.where(
            banded["Family"] == "portal",
            NO_BAND_WORDS["portal"],
            np.where(
                libraries != "",
                libraries + " maps to no Azure CLI / Az PowerShell release",
                "no library string in the sign-in logs",
            ),
        ),
    )
    apps = write_apps.assign(Family=tool_families(write_apps["app"], pd.Series("", index=write_apps.index),
                                                  pd.Series("", index=write_apps.index)))  # fmt: skip
    family_writes = apps.groupby(["identity", "Family"])[["writes", "writes_no_mfa"]].sum()
    # An SDK/Ansible login borrows the Azure CLI app id; its writes belong to it when no CLI is seen.
    cli_writes = apps[apps["Family"] == AZURE_CLI].groupby("identity")[["writes", "writes_no_mfa"]].sum()
    key = pd.MultiIndex.from_frame(banded[["identity", "Family"]])
    own = family_writes.reindex(key).fillna(0)
    has_cli = (banded["Family"] == AZURE_CLI).groupby(banded["identity"]).transform("any")
    borrow = banded["Family"].isin(["ansible", "azure-sdk"]) & ~has_cli
    borrowed = cli_writes.reindex(banded["identity"]).fillna(0)
    banded["arm_writes"] = own["writes"].values + np.where(borrow, borrowed["writes"].values, 0)
    banded["arm_writes_without_mfa"] = own["writes_no_mfa"].values + np.where(
        borrow, borrowed["writes_no_mfa"].values, 0
    )
    banded["will_break"] = banded["identity"].map(verdicts).eq("will_break")
    table = banded.groupby(["Family", "band"], as_index=False, sort=False).agg(
        version_ok=("band_ok", "first"),
        confidence=("confidence", "first"),
        identities=("identity", "nunique"),
        identities_will_break=("will_break", "sum"),
        arm_writes=("arm_writes", "sum"),
        arm_writes_without_mfa=("arm_writes_without_mfa", "sum"),
        evidence=("band_evidence", "first"),
    )
    table = table.rename(columns={"Family": "tool", "band": "version_band"})
    table["_order"] = table["tool"].map(TOOL_ORDER.index)
    table = table.sort_values(["_order", "version_band"]).drop(columns="_order").reset_index(drop=True)
    for column in ("identities", "identities_will_break", "arm_writes", "arm_writes_without_mfa"):
        table[column] = table[column].astype("int64")
    return table[list(TOOL_COLUMNS)]
