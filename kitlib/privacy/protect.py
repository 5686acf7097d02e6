"""Pseudonymising what the analysis hands on: its frames, its exports and its free text.

Which columns hold personal data comes from two places: :data:`ANALYSIS_ROLES` for the analysis'
own frames, and each catalog query's ``// pii:`` header for the query frames it keeps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import pandas as pd

from kitlib.analysis.model import Analysis
from kitlib.privacy.pseudonyms import Pseudonymizer
from kitlib.query.catalog import load_catalog

#: Personal-data columns of the analysis frames (identities.csv, tools.csv, evidence frames).
ANALYSIS_ROLES: Mapping[str, str] = {
    "identity": "user",
    "user_id": "id",
    "Caller": "user",
    "UserPrincipalName": "user",
    "UserId": "id",
    "UserDisplayName": "name",
    "IPAddress": "ip",
    "CallerIpAddress": "ip",
    "ips": "ip",
    "ip": "ip",
    "display_name": "name",
}
#: Free-text columns that may quote an identity: originals are replaced by their pseudonyms.
ANALYSIS_TEXT_COLUMNS = ("reasons", "remediation", "automation_reasons", "evidence", "note")


def protect_frame(
    pseudonymizer: Pseudonymizer | None,
    frame: pd.DataFrame,
    roles: Mapping[str, str] | None = None,
    text_columns: Iterable[str] = ANALYSIS_TEXT_COLUMNS,
) -> pd.DataFrame:
    """``frame`` with identities pseudonymised (unchanged without a pseudonymiser)."""
    if pseudonymizer is None:
        return frame
    merged = ANALYSIS_ROLES if roles is None else {**ANALYSIS_ROLES, **roles}
    return pseudonymizer.frame(frame, merged, text_columns)


def protect_analysis(
    pseudonymizer: Pseudonymizer | None, analysis: Analysis, *, breakglass: Iterable[str] = (), source: str = ""
) -> Analysis:
    """A copy of ``analysis`` with every frame pseudonymised (query frames by their pii header).

    ``breakglass`` are further UPNs to register first (so free text naming them is scrubbed);
    ``source`` replaces the analysis' own description of the workspace, which may hold a path.
    """
    if pseudonymizer is None:
        return analysis
    catalog = load_catalog()
    out = copy.copy(analysis)
    for upn in [*analysis.breakglass, *breakglass]:
        pseudonymizer.pseudonym(upn, "user")
    out.frames = {
        name: protect_frame(pseudonymizer, frame, dict(catalog[name].pii) if name in catalog else {})
        for name, frame in analysis.frames.items()
    }
    out.identities = protect_frame(pseudonymizer, analysis.identities)
    out.tools = protect_frame(pseudonymizer, analysis.tools)
    out.breakglass = [pseudonymizer.pseudonym(b, "user") for b in analysis.breakglass]
    out.source = source
    out.warnings = [pseudonymizer.scrub_text(w) for w in analysis.warnings]
    return out
