"""Readable names: one vocabulary for every page (verdicts, bands, versions, apps, tools, columns).

What a person reads instead of the analysis' internal values. Display only: the CSV exports keep
the internal values, which schedulers and other tools rely on.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from kitlib.domain.apps import APP_NAMES, TOOL_LABELS

#: What a person reads instead of the analysis' internal values (verdicts, bands, flags).
VALUE_LABELS: Mapping[str, str] = {
    "will_break": "would break",
    "at_risk": "at risk",
    "not_affected": "not affected",
    "unknown": "cannot tell",
    "likely_automation": "likely automation",
    "review": "to review",
    "human": "human",
    "insufficient_evidence": "too little evidence",
    "inbound": "inbound (guest from another tenant)",
    "outbound": "outbound (tokens from another tenant)",
}


#: ``version_ok`` in words; the portal needs no client upgrade, so its versions do not apply.
VERSION_OK_LABELS: Mapping[str, str] = {
    "yes": "handles the claims challenge",
    "no": "too old",
    "unknown": "cannot tell",
    "n/a": "not applicable",
}


NOT_APPLICABLE_TOOLS = frozenset({"portal"})


#: Column headers in words (a column not listed keeps its name with spaces for underscores).
COLUMN_LABELS: Mapping[str, str] = {
    "identity": "identity",
    "verdict": "verdict",
    "arm_writes": "writes",
    "arm_writes_without_mfa": "writes without MFA",
    "arm_actions": "actions",
    "actions_without_mfa": "POST actions without MFA",
    "writes_refused_rbac": "writes refused by RBAC",
    "enforcement_visible": "writes already denied (enforcement)",
    "last_write_without_mfa": "last write without MFA",
    "mfa_since_last_write_without_mfa": "MFA on every write since",
    "guest_direction": "guest direction",
    "automation_score": "automation score",
    "automation_band": "automation band",
    "automation_reasons": "why it looks automated",
    "tools": "tools",
    "tool_versions": "tool versions",
    "version_ok": "client version",
    "azure_cli_version_ok": "Azure CLI version",
    "azure_powershell_version_ok": "Az PowerShell version",
    "ropc": "password sign-in (ROPC)",
    "guest": "guest",
    "breakglass": "break-glass",
    "policy_mfa_events": "MFA policy events",
    "reasons": "why",
    "remediation": "what to do",
    "tool": "tool",
    "version_band": "version band",
    "confidence": "confidence",
    "identities": "identities",
    "identities_will_break": "identities that would break",
    "evidence": "evidence",
    "before": "before",
    "now": "now",
    "change": "change",
}


#: Columns holding verdicts/bands, version flags, identities, app IDs and subscriptions.
_VALUE_COLUMNS = frozenset({"verdict", "automation_band", "guest_direction", "before", "now"})


_VERSION_COLUMNS = frozenset({"version_ok", "azure_cli_version_ok", "azure_powershell_version_ok"})


_IDENTITY_COLUMNS = frozenset({"identity", "Caller", "Identity", "UserPrincipalName"})


_APP_COLUMNS = frozenset({"App", "AppId", "app"})


_SUBSCRIPTION_COLUMNS = frozenset({"SubscriptionId", "subscription"})


def label(value: Any) -> str:
    """An internal value (``will_break``, ``likely_automation``...) in words; others unchanged."""
    text = cell_text(value)
    return VALUE_LABELS.get(text, text)


def column_label(name: str) -> str:
    """A column header in words."""
    return COLUMN_LABELS.get(name, name.replace("_", " "))


def version_label(ok: Any, tool: Any = "") -> str:
    """``version_ok`` in the kit's one vocabulary; the portal's is 'not applicable'."""
    if str(tool) in NOT_APPLICABLE_TOOLS:
        return VERSION_OK_LABELS["n/a"]
    text = cell_text(ok)
    return VERSION_OK_LABELS.get(text, text)


def tool_label(tool: Any) -> str:
    """A tool family by its product name (``azure-cli`` -> Azure CLI); unknown ones unchanged."""
    return TOOL_LABELS.get(str(tool), cell_text(tool))


def app_label(app: Any) -> str:
    """A well-known first-party app ID by name; an unknown ID (or a name) is shown as it is."""
    text = cell_text(app)
    return APP_NAMES.get(text.strip().lower(), text)


def identity_label(upn: Any) -> str:
    """A guest's ``x_vendor.example#EXT#@tenant`` form as ``x@vendor.example (guest)``; others unchanged.

    Display only: pseudonyms never contain ``#EXT#``, so a pseudonymised run shows only pseudonyms.
    """
    text = cell_text(upn)
    marker = text.lower().find("#ext#")
    if marker <= 0:
        return text
    local = text[:marker]
    at = local.rfind("_")
    if at <= 0:
        return text
    return f"{local[:at]}@{local[at + 1 :]} (guest)"


def subscription_label(subscription: Any, names: Mapping[str, str] | None = None) -> str:
    """A subscription by its name when known, else its first 8 characters and an ellipsis."""
    text = cell_text(subscription)
    if names and text in names:
        return names[text]
    return text[:8] + "\u2026" if len(text) > 9 else text


def readable(frame: pd.DataFrame, *, subscriptions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` for display: values and column headers in words, apps and guests by name."""
    out = frame.copy()
    tool = out["tool"] if "tool" in out.columns else None
    for column in out.columns:
        if column in _VALUE_COLUMNS:
            out[column] = out[column].map(label)
        elif column in _VERSION_COLUMNS:
            tools = tool if tool is not None and column == "version_ok" else pd.Series("", index=out.index)
            out[column] = [version_label(ok, t) for ok, t in zip(out[column], tools, strict=True)]
        elif column in _IDENTITY_COLUMNS:
            out[column] = out[column].map(identity_label)
        elif column in _APP_COLUMNS:
            out[column] = out[column].map(app_label)
        elif column in _SUBSCRIPTION_COLUMNS:
            out[column] = out[column].map(lambda s: subscription_label(s, subscriptions))
        elif column in ("tools",):
            out[column] = out[column].map(lambda v: ", ".join(tool_label(t) for t in cell_text(v).split(";") if t))
        elif column == "tool":
            out[column] = out[column].map(tool_label)
    return out.rename(columns={c: column_label(str(c)) for c in out.columns})


def cell_text(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.1f}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    if value is None or value is pd.NaT:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)
