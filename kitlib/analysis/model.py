"""What the analysis hands on: the Analysis record, and the columns and dtypes of its two exports.

``identities`` and ``tools`` are the frames behind identities.csv and tools.csv (the design
brief's contract columns first, extras after). A frame keeps its dtypes even with no rows (an
empty window), so a page can filter on ``verdict`` or sum ``arm_writes`` without special cases.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Joins the items of the free-text columns (reasons, remediation).
ITEM_SEPARATOR = " | "


#: The identities.csv contract (design brief), in order; extra columns follow these.
IDENTITY_COLUMNS: tuple[str, ...] = (
    "identity",
    "user_id",
    "verdict",
    "arm_writes",
    "arm_writes_without_mfa",
    "automation_score",
    "automation_band",
    "tools",
    "tool_versions",
    "version_ok",
    "ropc",
    "guest",
    "reasons",
    "remediation",
)


#: Further identities.csv columns, after the contract ones. The last six follow Microsoft's rule:
#: POST actions without MFA (not evaluated by Phase 2), writes RBAC refused before the MFA check,
#: writes the MFA policies already denied, the day of the last write without MFA and whether
#: every write since carried MFA (``yes``/``no``, empty without such a write), and whether a
#: guest comes in from another home tenant (``inbound``) or a member takes tokens from another
#: tenant (``outbound``).
EXTRA_COLUMNS: tuple[str, ...] = (
    "breakglass",
    "cross_tenant",
    "arm_actions",
    "policy_mfa_events",
    "arm_signins",
    "arm_signins_single_factor",
    "arm_signins_mfa",
    "azure_cli_version_ok",
    "azure_powershell_version_ok",
    "automation_reasons",
    "display_name",
    "first_seen",
    "last_seen",
    "actions_without_mfa",
    "writes_refused_rbac",
    "enforcement_visible",
    "last_write_without_mfa",
    "mfa_since_last_write_without_mfa",
    "guest_direction",
)


TOOL_COLUMNS: tuple[str, ...] = (
    "tool",
    "version_band",
    "version_ok",
    "confidence",
    "identities",
    "identities_will_break",
    "arm_writes",
    "arm_writes_without_mfa",
    "evidence",
)


#: Column dtypes of both exports: a frame keeps them even with no rows (an empty window), so a
#: page can filter on ``verdict`` or sum ``arm_writes`` without special cases. Others are str.
INT_COLUMNS = frozenset(
    {
        "arm_writes",
        "arm_writes_without_mfa",
        "automation_score",
        "arm_actions",
        "actions_without_mfa",
        "writes_refused_rbac",
        "enforcement_visible",
        "policy_mfa_events",
        "arm_signins",
        "arm_signins_single_factor",
        "arm_signins_mfa",
        "identities",
        "identities_will_break",
    }
)


BOOL_COLUMNS = frozenset({"ropc", "guest", "breakglass", "cross_tenant"})


VERDICTS = ("will_break", "at_risk", "not_affected", "unknown")
AUTOMATION_BANDS = ("likely_automation", "review", "human", "insufficient_evidence")


@dataclass
class Analysis:
    """The result of :func:`analyze`: exports, evidence gaps and the raw query frames."""

    identities: pd.DataFrame
    tools: pd.DataFrame
    missing_tables: list[str]
    warnings: list[str]
    window: tuple[dt.datetime, dt.datetime]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    workload_identities: pd.DataFrame = field(default_factory=pd.DataFrame)
    breakglass: list[str] = field(default_factory=list)
    source: str = ""
    #: False when a query came back partial: the counts are then lower bounds.
    complete: bool = True

    def summary(self) -> dict[str, Any]:
        """The headline numbers, the one source every page and the manifest should use.

        Break-glass rows are left out of every count except ``identities`` and ``breakglass``.
        ``arm_writes`` / ``arm_writes_without_mfa`` are sums of the per-identity exact distinct
        operation counts (an operation is "without MFA" when any of its events lacked MFA), so
        they equal the identities.csv columns summed over the counted rows, and the days of
        ``arm_writes_mfa_daily`` add up to them.
        """
        ids = self.identities
        counted = ids[~ids["breakglass"].astype(bool)]
        breaking = counted[counted["verdict"] == "will_break"]
        automation = counted["automation_band"] == "likely_automation"
        writes = int(counted["arm_writes"].sum())
        without = int(counted["arm_writes_without_mfa"].sum())
        return {
            "identities": len(ids),
            "breakglass": int(ids["breakglass"].astype(bool).sum()),
            "verdicts": {v: int((counted["verdict"] == v).sum()) for v in VERDICTS},
            "arm_writes": writes,
            "arm_writes_without_mfa": without,
            "arm_writes_with_mfa": writes - without,
            "share_with_mfa": round(100 * (writes - without) / writes, 1) if writes else None,
            "likely_automation": int(automation.sum()),
            "ropc": int(counted["ropc"].astype(bool).sum()),
            "guests": int(counted["guest"].astype(bool).sum()),
            "will_break_automation": int((breaking["automation_band"] == "likely_automation").sum()),
            "will_break_ropc": int(breaking["ropc"].astype(bool).sum()),
            "will_break_guests": int(breaking["guest"].astype(bool).sum()),
            "workload_identities": len(self.workload_identities),
            "missing_tables": list(self.missing_tables),
            "warnings": len(self.warnings),
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
        }


def typed_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the export dtypes (int64, bool, object) whether or not it has rows."""
    types = {c: "int64" if c in INT_COLUMNS else "bool" if c in BOOL_COLUMNS else "object" for c in frame.columns}
    return frame.astype(types)


def identities_of(analysis: Any) -> pd.DataFrame:
    """The analysis' identities with every identities.csv column, even when no identity was seen."""

    frame: pd.DataFrame = analysis.identities
    missing = [c for c in IDENTITY_COLUMNS + EXTRA_COLUMNS if c not in frame.columns]
    if missing:
        frame = pd.concat([frame, empty_frame(*missing)], axis=1)
    if frame.empty:
        frame = frame.astype({c: "int64" for c in ("arm_writes", "arm_writes_without_mfa") if c in frame})
    frame["breakglass"] = frame["breakglass"].fillna(False).astype(bool)
    for flag in ("ropc", "guest"):
        frame[flag] = frame[flag].fillna(False).astype(bool)
    return frame


def tools_of(analysis: Any) -> pd.DataFrame:
    """The analysis' tool bands with every tools.csv column, even when no tool was seen."""

    frame: pd.DataFrame = analysis.tools
    missing = [c for c in TOOL_COLUMNS if c not in frame.columns]
    return pd.concat([frame, empty_frame(*missing)], axis=1) if missing else frame


def empty_frame(*columns: str) -> pd.DataFrame:
    """A frame with these columns and no rows: what a notebook shows when a source is absent."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def empty_timeline() -> pd.DataFrame:
    """An empty ``identity_timeline`` result with its column types (no identity to examine)."""
    frame = empty_frame("Kind", "Source", "App", "Resource", "Ip", "Detail", "UserAgent")
    frame["Hour"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["First"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["Last"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["Mfa"] = pd.Series(dtype=bool)
    frame["Events"] = pd.Series(dtype="int64")
    frame["Operations"] = pd.Series(dtype="int64")
    return frame


def split_items(text: Any, sep: str = ITEM_SEPARATOR) -> list[str]:
    """The separate items of a joined text column (reasons, remediation)."""
    if not isinstance(text, str):
        if text is None or text is pd.NA or (isinstance(text, float) and math.isnan(text)):
            return []
        text = str(text)
    return [part.strip() for part in text.split(sep) if part.strip()]
