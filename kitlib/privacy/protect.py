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


def text_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that can hold text from the logs: every column that is not numeric, boolean or a date.

    Any of them may carry an identity (an operation name, a resource id, a user agent can all be
    chosen by the tenant), so a pseudonymised run scrubs them all.
    """
    return [
        str(c)
        for c in frame.columns
        if not (
            pd.api.types.is_numeric_dtype(frame[c])
            or pd.api.types.is_bool_dtype(frame[c])
            or pd.api.types.is_datetime64_any_dtype(frame[c])
            or isinstance(frame[c].dtype, pd.DatetimeTZDtype)
        )
    ]


def protect_frame(
    pseudonymizer: Pseudonymizer | None,
    frame: pd.DataFrame,
    roles: Mapping[str, str] | None = None,
    scrub: Iterable[str] | None = None,
) -> pd.DataFrame:
    """``frame`` with identities pseudonymised and scrubbed from every text column (unchanged without one).

    ``scrub`` narrows the columns whose free text is scrubbed (default: every text column).
    """
    if pseudonymizer is None:
        return frame
    merged = ANALYSIS_ROLES if roles is None else {**ANALYSIS_ROLES, **roles}
    return pseudonymizer.frame(frame, merged, text_columns(frame) if scrub is None else scrub)


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
    # Everyone the analysis saw first, so free text in any frame is scrubbed of all of them.
    for column, kind in (("identity", "user"), ("user_id", "id"), ("display_name", "name")):
        if column in analysis.identities.columns:
            pseudonymizer.series(analysis.identities[column], kind)
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
