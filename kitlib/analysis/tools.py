"""Tool families and version bands per identity, and tools.csv.

A family comes from the client app id of a token or write (and the user agent, for the SDKs and
Ansible that borrow the Azure CLI's app id); a version band from the MSAL library string of the
identity's sign-ins (:mod:`kitlib.domain.versions`). Terraform and Bicep are inferred from write
patterns and say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kitlib.analysis.evidence import Evidence, as_list
from kitlib.analysis.model import TOOL_COLUMNS
from kitlib.domain.apps import (
    AZURE_CLI,
    AZURE_POWERSHELL,
    TOOL_ORDER,
    tool_family,
)
from kitlib.domain.versions import ToolBand, tool_band_for_library

#: Families whose single-factor ARM tokens make an identity at_risk (interactive tooling and scripts).
TOKEN_RISK_FAMILIES = frozenset({"azure-cli", "azure-powershell", "azure-sdk", "ansible"})


CLI_CAVEAT = (
    "Terraform, azd and AzureCliCredential use the Azure CLI login and cannot be told apart from it in the logs"
)


def ordered_tools(tools: Iterable[str]) -> list[str]:
    present = set(tools)
    return [t for t in TOOL_ORDER if t in present]


@dataclass
class ToolUse:
    family: str
    band: ToolBand | None
    library: str
    note: str = ""


def tool_uses(ev: Evidence) -> list[ToolUse]:
    """One entry per tool family the identity used, with the band of its latest library."""
    uses: dict[str, ToolUse] = {}
    rows = ev.token_rows
    if len(rows):
        for family, group in rows.groupby("Family", sort=False):
            with_lib = group[group["Library"].astype(str).str.strip() != ""]
            if len(with_lib):
                latest = with_lib.sort_values(["LastSeen", "Library"], kind="stable").iloc[-1]
                library = str(latest["Library"])
                tool = (
                    AZURE_CLI if family == "azure-cli" else AZURE_POWERSHELL if family == "azure-powershell" else "none"
                )
                band = tool_band_for_library(library, "", tool=tool)
                earlier = sorted(set(with_lib["Library"].astype(str)) - {library})
                note = f"; earlier also {', '.join(short_library(e) for e in earlier)}" if earlier else ""
                uses[str(family)] = ToolUse(str(family), band, library, note)
            else:
                uses[str(family)] = ToolUse(str(family), None, "")
    for app in ev.write_apps:
        family = tool_family(app)
        if family == "azure-cli" and any(f in uses for f in ("ansible", "azure-sdk")) and "azure-cli" not in uses:
            continue  # the CLI app id of an SDK/Ansible login, already listed
        uses.setdefault(family, ToolUse(family, None, ""))
    return list(uses.values())


def short_library(library: str) -> str:
    text = library.replace("Family: ", "").replace("Library: ", "")
    return (
        text.split(" Platform:")[0].replace("MSAL ", "", 1) if text.startswith("MSAL ") else text.split(" Platform:")[0]
    )


def inferred_iac(ev: Evidence, minutes: pd.Series | None) -> list[str]:
    """Bicep/ARM templates from deployments, Terraform from write bursts; both labelled inferred."""
    found: list[str] = []
    if ev.deployments > 0:
        found.append("bicep")
    if minutes is not None and ev.deployments == 0:
        per_minute = [int(n) for n in as_list(minutes.get("OperationsPerMinute"))]
        if sum(1 for n in per_minute if n >= 5) >= 3:
            found.append("terraform")
    return found


def version_ok_for(uses: list[ToolUse], family: str) -> str:
    relevant = [u for u in uses if u.family == family]
    if not relevant:
        return ""
    band = relevant[0].band
    return band.version_ok if band else "unknown"


def combined_version_ok(uses: list[ToolUse]) -> str:
    values = [version_ok_for(uses, f) for f in (AZURE_CLI, AZURE_POWERSHELL)]
    values = [v for v in values if v]
    if not values:
        return "unknown"
    if "no" in values:
        return "no"
    if "unknown" in values:
        return "unknown"
    return "yes"


def tool_versions_text(uses: list[ToolUse], iac: list[str]) -> str:
    parts: list[str] = []
    for use in sorted(uses, key=lambda u: TOOL_ORDER.index(u.family)):
        if use.band and use.band.tool:
            library = short_library(use.library)
            text = f"{use.family} {use.band.label} ({library}, {use.band.confidence} confidence{use.note})"
        elif use.library:
            text = f"{use.family} version unknown ({short_library(use.library)}{use.note})"
        elif use.family == "portal":
            text = "portal (browser; no client version)"
        else:
            text = f"{use.family} version unknown (no library string)"
        if use.family == "azure-cli":
            text += f"; {CLI_CAVEAT}"
        if use.family == "ansible":
            text += "; inferred from azure-identity ROPC with the Azure CLI app id"
        parts.append(text)
    for tool in iac:
        if tool == "bicep":
            parts.append("bicep inferred from Microsoft.Resources/deployments/write (any ARM template deployment)")
        else:
            parts.append("terraform inferred from bursts of many writes in one minute")
    return " | ".join(parts)


def tools_frame(facts: list[tuple[str, list[ToolUse], dict[str, int], dict[str, int], bool]]) -> pd.DataFrame:
    """tools.csv: one row per tool family and version band (break-glass accounts left out)."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for verdict, uses, write_apps, write_apps_no_mfa, is_glass in facts:
        if is_glass:
            continue
        for use in uses:
            band = use.band.label if use.band and use.band.tool else "unknown"
            key = (use.family, band)
            entry = table.setdefault(
                key,
                {
                    "tool": use.family,
                    "version_band": band,
                    "version_ok": use.band.version_ok if use.band and use.band.tool else "unknown",
                    "confidence": use.band.confidence if use.band and use.band.tool else "none",
                    "identities": 0,
                    "identities_will_break": 0,
                    "arm_writes": 0,
                    "arm_writes_without_mfa": 0,
                    "evidence": (use.band.evidence if use.band and use.band.tool else no_band_words(use)),
                },
            )
            entry["identities"] += 1
            entry["identities_will_break"] += int(verdict == "will_break")
            entry["arm_writes"] += sum(n for app, n in write_apps.items() if app_matches(app, use.family, uses))
            entry["arm_writes_without_mfa"] += sum(
                n for app, n in write_apps_no_mfa.items() if app_matches(app, use.family, uses)
            )
    frame = pd.DataFrame(list(table.values()), columns=list(TOOL_COLUMNS))
    if len(frame):
        frame["_order"] = frame["tool"].map(TOOL_ORDER.index)
        frame = frame.sort_values(["_order", "version_band"]).drop(columns="_order").reset_index(drop=True)
    return frame


def no_band_words(use: ToolUse) -> str:
    if use.family == "portal":
        return "browser sign-ins; the portal needs no client upgrade"
    if use.library:
        return f"{short_library(use.library)} maps to no Azure CLI / Az PowerShell release"
    return "no library string in the sign-in logs"


def app_matches(app: str, family: str, uses: list[ToolUse]) -> bool:
    """Does a write made with client ``app`` belong to ``family`` for this identity?"""
    app_family = tool_family(app)
    if app_family == family:
        return True
    families = {u.family for u in uses}
    # An SDK/Ansible login borrows the Azure CLI app id; its writes belong to it when no CLI is seen.
    return app_family == "azure-cli" and family in ("ansible", "azure-sdk") and "azure-cli" not in families
