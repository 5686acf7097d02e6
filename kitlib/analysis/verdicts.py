"""Verdicts and their reasons in plain words, for every identity at once.

Each verdict is one row of :data:`VERDICT_RULES` (the first that applies wins) and each reason one
row of :data:`REASONS`; both read the per-identity facts frame (one row per identity, the columns
of :mod:`kitlib.analysis.evidence` and the tools/versions/direction columns
:mod:`kitlib.analysis.impact` adds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd

from kitlib.domain.apps import TOOL_ORDER, TOOL_PROSE, tool_families
from kitlib.domain.phase2 import RULES

Frame: TypeAlias = pd.DataFrame


@dataclass(frozen=True)
class Evidence:
    """Which sources the verdicts could rely on (a missing table makes some verdicts unknown)."""

    activity: bool
    signins: bool


ACTIVITY_MISSING = "AzureActivity is not in the workspace, so ARM writes and their MFA state cannot be seen"
SIGNINS_MISSING = "the user sign-in tables are missing, so single-factor ARM tokens cannot be seen"

#: (verdict, why, when) in order: the first that applies decides.
VERDICT_RULES: tuple[tuple[str, str, Callable[[Frame, Evidence], pd.Series]], ...] = (
    (
        "will_break",
        "a create/update or delete without MFA reached the MFA check, or the MFA policies audited or denied one",
        lambda f, e: (f["writes_no_mfa"] > 0) | (f["policy_events"] > 0) | (f["writes_denied_mfa"] > 0),
    ),
    ("unknown", ACTIVITY_MISSING, lambda f, e: pd.Series(not e.activity, index=f.index)),
    ("at_risk", RULES["at_risk"], lambda f, e: f["single_factor_at_risk"] > 0),
    ("unknown", SIGNINS_MISSING, lambda f, e: pd.Series(not e.signins, index=f.index)),
    (
        "not_affected",
        "touched ARM, and every write that reached the MFA check carried MFA",
        lambda f, e: pd.Series(True, index=f.index),
    ),
)


def verdicts(f: Frame, evidence: Evidence) -> Frame:
    """``verdict`` and ``unknown_reason`` per identity, by :data:`VERDICT_RULES`."""
    masks = [rule(f, evidence).fillna(False).astype(bool).to_numpy() for _, _, rule in VERDICT_RULES]
    verdict = np.select(masks, [name for name, _, _ in VERDICT_RULES], default="not_affected")
    why = np.select(masks, [reason if name == "unknown" else "" for name, reason, _ in VERDICT_RULES], default="")
    out = pd.DataFrame({"verdict": verdict, "unknown_reason": why}, index=f.index)
    floor = (out["verdict"] == "unknown") & (f["single_factor_at_risk"] > 0)
    out["unknown_reason"] = out["unknown_reason"].where(
        ~floor,
        out["unknown_reason"] + " (at least at_risk: " + _n(f["single_factor_at_risk"]) + " single-factor ARM tokens)",
    )
    return out


def _n(values: pd.Series) -> pd.Series:
    return values.fillna(0).astype("int64").astype(str)


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.strftime("%Y-%m-%d").fillna("")


def family_counts(tokens: Frame, column: str, keep: pd.Series | None = None) -> pd.Series:
    """Per identity, ``"3 from Azure CLI, 1 from Az PowerShell"`` for a count column of the token rows."""
    if tokens.empty:
        return pd.Series(dtype=object)
    values = tokens[column].fillna(0).astype("int64")
    if keep is not None:
        values = values.where(keep, 0)
    per = values.groupby([tokens["Identity"], tokens["Family"]]).sum()
    per = per[per > 0].reset_index()
    if per.empty:
        return pd.Series(dtype=object)
    per["_order"] = per["Family"].map(TOOL_ORDER.index)
    per = per.sort_values(["Identity", "_order"], kind="stable")
    words = per[column].astype(str) + " from " + per["Family"].map(TOOL_PROSE) + ", "
    return words.groupby(per["Identity"].values).sum().str.slice(stop=-2)


def app_words(write_apps: Frame) -> pd.Series:
    """Per identity, the client apps of its writes without MFA, most writes first ("Azure CLI, app x")."""
    part = write_apps[write_apps["writes_no_mfa"] > 0]
    if part.empty:
        return pd.Series(dtype=object)
    family = tool_families(part["app"], pd.Series("", index=part.index), pd.Series("", index=part.index))
    name = family.map(TOOL_PROSE).where(family != "other", "app " + part["app"].where(part["app"] != "", "unknown"))
    ranked = pd.DataFrame({"identity": part["identity"], "name": name, "n": part["writes_no_mfa"]})
    ranked = ranked.groupby(["identity", "name"], as_index=False)["n"].sum()
    ranked = ranked.sort_values(["identity", "n", "name"], ascending=[True, False, True], kind="stable")
    return (ranked["name"] + ", ").groupby(ranked["identity"].values).sum().str.slice(stop=-2)


Reason: TypeAlias = "Callable[[Frame], tuple[pd.Series, pd.Series | str]]"

#: Each reason: (when it applies, its words), in the order reasons are listed.
REASONS: tuple[tuple[str, Reason], ...] = (
    (
        "breakglass",
        lambda f: (
            f["breakglass"],
            "break-glass account (from the exclusion list): kept for the record, left out of counts",
        ),
    ),
    ("unknown", lambda f: (f["unknown_reason"] != "", f["unknown_reason"])),
    (
        "writes_without_mfa",
        lambda f: (
            f["writes_no_mfa"] > 0,
            _n(f["writes_no_mfa"])
            + " write(s) without MFA (amr="
            + f["amr_no_mfa"].where(f["amr_no_mfa"] != "", "no amr")
            + ") via "
            + f["apps_no_mfa"].where(f["apps_no_mfa"] != "", "an unknown client")
            + " between "
            + _day(f["no_mfa_first"])
            + " and "
            + _day(f["no_mfa_last"])
            + np.where(f["ops_no_mfa"] != "", "; e.g. " + f["ops_no_mfa"], ""),
        ),
    ),
    (
        "mfa_since",
        lambda f: (
            f["mfa_since_last_write_without_mfa"] == "yes",
            "every write after the last one without MFA ("
            + _day(f["no_mfa_last"])
            + ") carried MFA, the last on "
            + _day(f["mfa_write_last"]),
        ),
    ),
    ("writes_with_mfa", lambda f: (f["writes_mfa"] > 0, _n(f["writes_mfa"]) + " write(s) with MFA")),
    (
        "refused_rbac",
        lambda f: (
            f["writes_refused_rbac"] > 0,
            _n(f["writes_refused_rbac"]) + " write(s) refused by RBAC (AuthorizationFailed): refused before the "
            "MFA check, so they do not count as breaking",
        ),
    ),
    (
        "enforcement",
        lambda f: (
            f["enforcement_visible"] > 0,
            _n(f["enforcement_visible"]) + " write(s) already denied by the MFA policies (enforcement visible)",
        ),
    ),
    (
        "policy_events",
        lambda f: (
            f["policy_events"] > 0,
            _n(f["policy_events"])
            + " Azure Policy MFA event(s) ("
            + f["policy_effects"]
            + ") between "
            + _day(f["policy_first"])
            + " and "
            + _day(f["policy_last"]),
        ),
    ),
    (
        "actions_without_mfa",
        lambda f: (
            f["actions_no_mfa"] > 0,
            _n(f["actions_no_mfa"])
            + " /action operation(s) without MFA"
            + np.where(f["action_ops_no_mfa"] != "", " (e.g. " + f["action_ops_no_mfa"] + ")", "")
            + ": POST actions are not evaluated by Phase 2, reported apart",
        ),
    ),
    (
        "single_factor",
        lambda f: (
            f["single_factor_at_risk"] > 0,
            _n(f["single_factor_at_risk"])
            + " single-factor ARM token(s) without MFA ("
            + f["single_factor_by_tool"]
            + ")",
        ),
    ),
    (
        "single_factor_shown_mfa",
        lambda f: (
            f["single_factor_shown_mfa"] > 0,
            _n(f["single_factor_shown_mfa"]) + " sign-in(s) labelled single-factor through an app whose activity-log "
            "claims show MFA (the token carried an earlier MFA)",
        ),
    ),
    ("token_mfa", lambda f: (f["token_mfa"] > 0, _n(f["token_mfa"]) + " ARM token(s) with MFA")),
    (
        "ropc",
        lambda f: (
            f["ropc"] > 0,
            "signs in with a password from a script (ROPC, " + _n(f["ropc"]) + " sign-in(s) for ARM), which can never "
            "satisfy MFA: any write it makes will be refused",
        ),
    ),
    ("device_code", lambda f: (f["device_code"] > 0, "device-code sign-in(s): " + _n(f["device_code"]))),
    ("versions", lambda f: (f["version_evidence"] != "", f["version_evidence"])),
    ("guest", lambda f: (f["guest"], "guest (B2B) account")),
    (
        "inbound",
        lambda f: (
            f["guest_direction"] == "inbound",
            "inbound: its home tenant is another one"
            + np.where(f["home_tenant"] != "", " (" + f["home_tenant"] + ")", ""),
        ),
    ),
    (
        "outbound",
        lambda f: (
            f["guest_direction"] == "outbound",
            "outbound: takes ARM tokens from another tenant"
            + np.where(f["other_tenant"] != "", " (" + f["other_tenant"] + ")", ""),
        ),
    ),
)


def reasons_column(f: Frame) -> pd.Series:
    """The ``reasons`` text of every identity: the applicable :data:`REASONS`, joined by ' | '."""
    text = pd.Series("", index=f.index, dtype=object)
    for _name, reason in REASONS:
        applies, words = reason(f)
        mask = pd.Series(applies, index=f.index).fillna(False).astype(bool)
        item = words if isinstance(words, pd.Series) else pd.Series(words, index=f.index, dtype=object)
        item = item.astype(str)
        text = text.mask(mask & (text != ""), text + " | " + item).mask(mask & (text == ""), item)
    quiet = (f["verdict"] == "not_affected") & (text == "")
    return text.mask(quiet, "touched ARM only with MFA or read-only tokens")
