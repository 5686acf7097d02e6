"""Plotly figure builders: a picture wherever a person would rather look than read.

Each builder takes a small frame the queries or the analysis produced and returns a
``plotly.graph_objects.Figure``; none of them queries or computes verdicts. Text that came from
the logs (identities, operation names, user agents) is passed through :func:`safe_text`:
plotly.js interprets a subset of HTML in labels, so ``<``, ``>`` and ``&`` become entities,
which plotly shows as the literal characters.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kitlib.domain.versions import is_version, parse_version
from kitlib.render.html import visible_controls
from kitlib.render.labels import VALUE_LABELS, VERSION_OK_LABELS, label, tool_label, version_label

MFA_COLOR = "#1a7f37"
NO_MFA_COLOR = "#cf222e"
NEUTRAL_COLOR = "#0969da"
#: One fixed colour per meaning on every page: red breaks, amber is at risk, green is fine, grey unknown.
VERDICT_COLORS: Mapping[str, str] = {
    "will_break": "#cf222e",
    "at_risk": "#bf8700",
    "not_affected": "#1a7f37",
    "unknown": "#8c959f",
}
BAND_COLORS: Mapping[str, str] = {
    "likely_automation": "#8250df",
    "review": "#bf3989",
    "human": "#54aeff",
    "insufficient_evidence": "#d0d7de",
}
VERSION_COLORS: Mapping[str, str] = {"yes": "#1a7f37", "no": "#cf222e", "unknown": "#8c959f", "n/a": "#d0d7de"}
WRITES_COLOR = "#6e7781"


def _by_label(colors: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, str]:
    return {**colors, **{labels[k]: v for k, v in colors.items() if k in labels}}


#: The same colours keyed by the words the reports show.
LABEL_COLORS: Mapping[str, str] = {
    **_by_label(VERDICT_COLORS, VALUE_LABELS),
    **_by_label(BAND_COLORS, VALUE_LABELS),
    **_by_label(VERSION_COLORS, VERSION_OK_LABELS),
}
_TEMPLATE = "plotly_white"


def safe_text(value: Any) -> str:
    """A label plotly.js shows literally: HTML-special characters as entities."""
    return html.escape(visible_controls("" if value is None else str(value)), quote=False)


def _safe_series(series: pd.Series) -> pd.Series:
    return series.map(safe_text)


def _layout(fig: go.Figure, title: str, *, height: int = 420, **extra: Any) -> go.Figure:
    fig.update_layout(
        template=_TEMPLATE,
        title={"text": safe_text(title), "x": 0.01},
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        **extra,
    )
    return fig


def _count_axis(fig: go.Figure, top: float, *, axis: str = "y", title: str = "") -> None:
    """A count axis with whole-number ticks (no 0.5 identities), starting at zero."""
    settings: dict[str, Any] = {"tickformat": ",d", "rangemode": "tozero"}
    if top <= 8:
        settings["dtick"] = 1
    if title:
        settings["title_text"] = title
    (fig.update_yaxes if axis == "y" else fig.update_xaxes)(**settings)


def empty(title: str, message: str = "No data in this window.") -> go.Figure:
    """A figure that says there was nothing to draw (better than a silent gap)."""
    fig = go.Figure()
    fig.add_annotation(
        text=safe_text(message), showarrow=False, font={"size": 16}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=220)


def writes_by_day(daily: pd.DataFrame, *, title: str = "ARM writes by user identities per day") -> go.Figure:
    """Stacked bars: writes whose token carried MFA and writes without, per day.

    ``daily`` has ``Day``, ``TokenHasMfa`` and ``Operations`` (query ``arm_writes_mfa_daily``).
    """
    if daily.empty:
        return empty(title)
    per_day = daily.pivot_table(index="Day", columns="TokenHasMfa", values="Operations", aggfunc="sum", fill_value=0)
    per_day = per_day.sort_index()
    fig = go.Figure()
    for flag, name, color in ((False, "without MFA", NO_MFA_COLOR), (True, "with MFA", MFA_COLOR)):
        if flag in per_day.columns:
            fig.add_bar(x=per_day.index, y=per_day[flag], name=name, marker_color=color)
    fig.update_layout(barmode="stack")
    _count_axis(fig, float(per_day.sum(axis=1).max()), title="write operations")
    fig.update_xaxes(tickformat="%b %d")
    return _layout(fig, title)


def mfa_share_by_day(daily: pd.DataFrame, *, title: str = "Share of ARM writes made with MFA") -> go.Figure:
    """A line of the daily share of writes whose token carried MFA (100% = nothing breaks)."""
    if daily.empty:
        return empty(title)
    total = daily.groupby("Day")["Operations"].sum()
    with_mfa = (
        daily[daily["TokenHasMfa"].astype(bool)].groupby("Day")["Operations"].sum().reindex(total.index, fill_value=0)
    )
    share = (100 * with_mfa / total.where(total > 0)).round(1)
    fig = go.Figure(
        go.Scatter(x=share.index, y=share.values, mode="lines+markers", line={"color": MFA_COLOR}, name="with MFA")
    )
    fig.update_yaxes(title_text="% of writes with MFA", range=[0, 100])
    return _layout(fig, title, height=320)


def top_bar(
    frame: pd.DataFrame,
    label: str,
    value: str,
    *,
    title: str,
    n: int = 15,
    color: str | None = None,
    color_by: str | None = None,
    colors: Mapping[str, str] | None = None,
    value_title: str = "",
    labels: Any = None,
) -> go.Figure:
    """Horizontal bars of the ``n`` largest ``value`` per ``label`` (largest on top).

    ``labels`` maps each ``label`` value to what the reader sees (e.g. a short subscription ID).
    """
    if frame.empty:
        return empty(title)
    top = frame.nlargest(n, value).iloc[::-1]
    shown = top[label].map(labels) if labels is not None else top[label]
    names = _safe_series(shown)
    fig = go.Figure()
    if color_by and color_by in top.columns:
        for key, part in top.assign(_shown=names).groupby(color_by, sort=False):
            fig.add_bar(
                y=part["_shown"],
                x=part[value],
                orientation="h",
                name=safe_text(VALUE_LABELS.get(str(key), str(key))),
                marker_color=(colors or {}).get(str(key), NEUTRAL_COLOR),
                hovertext=_safe_series(part[label]),
            )
        fig.update_layout(barmode="stack")
        fig.update_yaxes(categoryorder="array", categoryarray=list(names))
    else:
        fig.add_bar(
            y=names,
            x=top[value],
            orientation="h",
            marker_color=color or NEUTRAL_COLOR,
            name=safe_text(value_title or value),
            hovertext=_safe_series(top[label]),
        )
    _count_axis(fig, float(top[value].max()), axis="x", title=value_title or value.replace("_", " "))
    fig.update_yaxes(automargin=True)
    return _layout(fig, title, height=max(260, 26 * len(top) + 120), showlegend=bool(color_by))


def callers_without_mfa(daily: pd.DataFrame, *, n: int = 15, title: str = "Who writes without MFA") -> go.Figure:
    """The callers with the most writes without MFA over the window."""
    no_mfa = daily[~daily["TokenHasMfa"].astype(bool)]
    per_caller = no_mfa.groupby("Caller", as_index=False)["Operations"].sum()
    return top_bar(
        per_caller, "Caller", "Operations", title=title, n=n, color=NO_MFA_COLOR, value_title="writes without MFA"
    )


def verdict_counts(identities: pd.DataFrame, *, title: str = "Identities by verdict") -> go.Figure:
    """One bar per verdict, coloured by severity."""
    if identities.empty or "verdict" not in identities.columns:
        return empty(title, "No user identities to count.")
    order = [v for v in VERDICT_COLORS if v in set(identities["verdict"])]
    counts = identities["verdict"].value_counts().reindex(order, fill_value=0)
    fig = go.Figure(
        go.Bar(
            x=[label(v) for v in counts.index],
            y=counts.values,
            marker_color=[VERDICT_COLORS[v] for v in counts.index],
            text=counts.values,
            textposition="outside",
        )
    )
    _count_axis(fig, float(counts.max()) * 1.1, title="identities")
    return _layout(fig, title, height=340, showlegend=False)


def stacked_counts(
    frame: pd.DataFrame,
    category: str,
    stack: str,
    value: str | None = None,
    *,
    title: str,
    colors: Mapping[str, str] | None = None,
    value_title: str = "identities",
    horizontal: bool = True,
) -> go.Figure:
    """Counts (or sums of ``value``) per ``category``, stacked by ``stack`` (both shown in words).

    A ``version_ok`` stack uses the kit's version vocabulary (the portal's is 'not applicable').
    """
    if frame.empty:
        return empty(title)
    keyed = frame.copy()
    if stack == "version_ok":
        tools = keyed["tool"] if "tool" in keyed.columns else pd.Series("", index=keyed.index)
        keyed[stack] = [version_label(ok, t) for ok, t in zip(keyed[stack], tools, strict=True)]
    else:
        keyed[stack] = keyed[stack].map(label)
    keyed[category] = keyed[category].map(tool_label if category == "tool" else label)
    agg = keyed.groupby([category, stack]).size() if value is None else keyed.groupby([category, stack])[value].sum()
    table = agg.unstack(stack, fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values(ascending=horizontal).index]
    palette = {**LABEL_COLORS, **_by_label(dict(colors or {}), {**VALUE_LABELS, **VERSION_OK_LABELS})}
    order = [c for c in palette if c in table.columns] + [c for c in table.columns if c not in palette]
    fig = go.Figure()
    for key in order:
        labels = [safe_text(c) for c in table.index]
        kwargs = {"y": labels, "x": table[key], "orientation": "h"} if horizontal else {"x": labels, "y": table[key]}
        fig.add_bar(name=safe_text(key), marker_color=palette.get(str(key)), **kwargs)
    fig.update_layout(barmode="stack")
    _count_axis(fig, float(table.sum(axis=1).max()), axis="x" if horizontal else "y", title=value_title)
    height = max(280, 28 * len(table) + 140) if horizontal else 420
    return _layout(fig, title, height=height)


def score_histogram(identities: pd.DataFrame, *, title: str = "Automation score of identities that write") -> go.Figure:
    """Distribution of automation scores (0-100) with the band thresholds marked."""
    if identities.empty or "automation_score" not in identities.columns:
        return empty(title)
    fig = go.Figure()
    for band, color in BAND_COLORS.items():
        part = identities[identities.get("automation_band", pd.Series(dtype=object)) == band]
        if len(part):
            fig.add_histogram(
                x=part["automation_score"],
                name=label(band),
                marker_color=color,
                xbins={"start": 0, "end": 101, "size": 5},
            )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="automation score", range=[0, 100])
    _count_axis(fig, 10, title="identities")
    return _layout(fig, title, height=340)


def score_scatter(
    identities: pd.DataFrame, *, x: str = "arm_writes", title: str = "Automation score against write volume"
) -> go.Figure:
    """Each identity as a dot: writes (log scale) against automation score, coloured by band."""
    if identities.empty:
        return empty(title)
    fig = go.Figure()
    for band, color in BAND_COLORS.items():
        part = identities[identities["automation_band"] == band]
        if len(part):
            fig.add_scatter(
                x=part[x].clip(lower=1),
                y=part["automation_score"],
                mode="markers",
                name=label(band),
                marker={"color": color, "size": 9, "opacity": 0.8},
                text=_safe_series(part["identity"]),
                hovertemplate="%{text}<br>score %{y}<br>writes %{x}<extra></extra>",
            )
    fig.update_xaxes(type="log", title_text=x.replace("arm_", "").replace("_", " ") + " (log scale)")
    fig.update_yaxes(title_text="automation score", range=[-2, 102])
    return _layout(fig, title)


def _hour_heatmap(grid: pd.DataFrame, counted: str) -> go.Figure:
    """Heatmap of ``grid`` (one row per identity, columns 0-23 = UTC hour), colour = ``counted``."""
    fig = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=list(range(24)),
            y=[safe_text(i) for i in grid.index],
            colorscale="Blues",
            colorbar={"title": counted},
        )
    )
    fig.update_xaxes(title_text="hour of day (UTC)", dtick=2)
    return fig


def hour_heatmap(
    events: pd.DataFrame, *, time: str = "TimeGenerated", by: str = "identity", title: str = "When they act (UTC hour)"
) -> go.Figure:
    """Rows = identities, columns = hour of day, colour = events: machines don't sleep."""
    if events.empty:
        return empty(title)
    hours = pd.to_datetime(events[time], utc=True).dt.hour
    grid = pd.crosstab(events[by], hours).reindex(columns=range(24), fill_value=0)
    fig = _hour_heatmap(grid, "events")
    return _layout(fig, title, height=max(300, 22 * len(grid) + 140))


def timeline(
    events: pd.DataFrame,
    *,
    time: str = "TimeGenerated",
    lane: str = "kind",
    color: str = "mfa",
    text: str | None = None,
    title: str = "Timeline",
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Events as dots on lanes (sign-ins, writes), coloured by MFA state; hover shows details."""
    if events.empty:
        return empty(title)
    fig = go.Figure()
    for key, part in events.groupby(color, sort=True):
        fig.add_scatter(
            x=part[time],
            y=_safe_series(part[lane]),
            mode="markers",
            name=safe_text(key),
            marker={"size": 8, "opacity": 0.75, "color": (colors or {}).get(str(key))},
            text=_safe_series(part[text]) if text and text in part.columns else None,
            hovertemplate="%{x}<br>%{text}<extra></extra>" if text else None,
        )
    return _layout(fig, title, height=360)


TREND_STARTS = "The trend starts with the next scheduled run: it needs at least two runs."


def burn_down(history: pd.DataFrame, *, title: str = "Identities that would break, run over run") -> go.Figure:
    """Two panels over scheduled runs: identities (would break, at risk) above, writes without MFA below.

    Identities number in the hundreds and writes in the tens of thousands: on one axis the
    identity lines would sit on zero. Needs at least two runs (``run_at`` plus the series).
    """
    if history.empty or len(history) < 2:
        return empty(title, TREND_STARTS)

    when = pd.to_datetime(history["run_at"], utc=True)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=("identities", "writes without MFA"),
    )
    for column in ("will_break", "at_risk"):
        if column in history.columns:
            fig.add_scatter(
                x=when,
                y=history[column],
                mode="lines+markers",
                name=label(column),
                line={"color": VERDICT_COLORS[column]},
                row=1,
                col=1,
            )
    if "writes_without_mfa" in history.columns:
        fig.add_scatter(
            x=when,
            y=history["writes_without_mfa"],
            mode="lines+markers",
            name="writes without MFA",
            line={"color": WRITES_COLOR},
            row=2,
            col=1,
        )
    identities_top = float(history[[c for c in ("will_break", "at_risk") if c in history.columns]].max().max())
    fig.update_yaxes(tickformat=",d", rangemode="tozero", row=1, col=1, dtick=1 if identities_top <= 8 else None)
    fig.update_yaxes(tickformat=",d", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(type="date", tickformat="%b %d, %Y")
    return _layout(fig, title, height=480)


def pie(
    labels: Iterable[Any], values: Iterable[float], *, title: str, colors: Mapping[str, str] | None = None
) -> go.Figure:
    """A donut for a share that adds to a whole (e.g. writes with and without MFA)."""
    labels = [str(label) for label in labels]
    fig = go.Figure(
        go.Pie(
            labels=[safe_text(label) for label in labels],
            values=list(values),
            hole=0.55,
            marker={"colors": [(colors or {}).get(label) for label in labels]},
            sort=False,
        )
    )
    return _layout(fig, title, height=320)


def _top_identities(identities: pd.DataFrame, n: int) -> list[str]:
    ranked = identities.sort_values("automation_score", ascending=False, kind="stable")["identity"].head(n)
    return [str(i) for i in ranked]


def hour_grid(
    hours: pd.DataFrame,
    identities: pd.DataFrame,
    *,
    n: int = 20,
    title: str = "When they fetch ARM tokens (UTC hour of day)",
) -> go.Figure:
    """Rows = the ``n`` most automation-like identities, columns = hour, colour = token requests.

    ``hours`` is query ``arm_activity_hours`` (Identity, Hour, Weekend, Events): machines
    don't sleep, people do.
    """
    wanted = _top_identities(identities, n)
    part = hours[hours["Identity"].isin(wanted)]
    if part.empty:
        return empty(title)
    grid = part.pivot_table(index="Identity", columns="Hour", values="Events", aggfunc="sum", fill_value=0)
    grid = grid.reindex(index=[w for w in wanted if w in grid.index], columns=range(24), fill_value=0)
    fig = _hour_heatmap(grid, "requests")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(300, 24 * len(grid) + 140))


def write_minutes_strip(
    minutes: pd.DataFrame,
    identities: pd.DataFrame,
    *,
    n: int = 12,
    title: str = "Write moments of the most automation-like identities",
) -> go.Figure:
    """One dot per minute with writes, one row per identity: a schedule shows as a regular comb.

    ``minutes`` is query ``arm_write_minutes`` (Identity, Minutes list).
    """
    wanted = _top_identities(identities, n)
    rows = minutes[minutes["Identity"].isin(wanted)]
    points = [
        (identity, moment)
        for identity, values in zip(rows["Identity"], rows["Minutes"], strict=True)
        for moment in list(values)
    ]
    if not points:
        return empty(title)
    frame = pd.DataFrame(points, columns=["identity", "minute"])
    frame["minute"] = pd.to_datetime(frame["minute"], utc=True)
    order = [w for w in wanted if w in set(frame["identity"])]
    fig = go.Figure(
        go.Scatter(
            x=frame["minute"],
            y=_safe_series(frame["identity"]),
            mode="markers",
            marker={"size": 5, "color": BAND_COLORS["likely_automation"], "opacity": 0.6},
            hovertemplate="%{y}<br>%{x}<extra></extra>",
        )
    )
    fig.update_yaxes(categoryorder="array", categoryarray=[safe_text(o) for o in reversed(order)])
    return _layout(fig, title, height=max(300, 30 * len(order) + 140), showlegend=False)


def ip_spread(
    tokens: pd.DataFrame,
    identities: pd.DataFrame,
    *,
    n: int = 20,
    title: str = "Distinct IP addresses and networks (ASNs) behind each identity's ARM tokens",
) -> go.Figure:
    """Grouped bars: distinct IPs and ASNs per identity; few and fixed suggests a build agent.

    ``tokens`` is query ``arm_token_signins`` (Identity, Ips list, Asns list).
    """
    wanted = _top_identities(identities, n)
    part = tokens[tokens["Identity"].isin(wanted)]
    if part.empty:
        return empty(title)
    spread = part.groupby("Identity").agg(
        ips=("Ips", lambda s: len({ip for v in s for ip in (list(v) if v is not None else [])})),
        asns=("Asns", lambda s: len({a for v in s for a in (list(v) if v is not None else [])})),
    )
    spread = spread.reindex([w for w in wanted if w in spread.index])
    labels = [safe_text(i) for i in spread.index]
    fig = go.Figure()
    fig.add_bar(y=labels, x=spread["ips"], orientation="h", name="distinct IPs", marker_color=NEUTRAL_COLOR)
    fig.add_bar(y=labels, x=spread["asns"], orientation="h", name="distinct networks (ASN)", marker_color="#8c959f")
    fig.update_layout(barmode="group")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="count")
    return _layout(fig, title, height=max(300, 34 * len(spread) + 140))


def band_order(band: Any) -> tuple[int, Any, int]:
    """Sort key of a version band: by version (``<=2.29.2`` first, ``>=2.91.0`` last), unknown at the end."""
    text = str(band).strip()
    edge = 0
    if text.startswith("<="):
        text, edge = text[2:], -1
    elif text.startswith(">="):
        text, edge = text[2:], 1
    low = text.split("-", 1)[0].strip()
    if not is_version(low):
        return (1, None, 0)
    return (0, parse_version(low), edge)


def sort_bands(tools: pd.DataFrame) -> pd.DataFrame:
    """``tools`` ordered by tool, then by version band as versions (oldest first, unknown last)."""
    if tools.empty:
        return tools

    def key(position: int) -> tuple[str, int, Any, int]:
        known, version, edge = band_order(tools["version_band"].iloc[position])
        return (str(tools["tool"].iloc[position]), known, version if known == 0 else (), edge)

    return tools.iloc[sorted(range(len(tools)), key=key)]


def version_bands(tools: pd.DataFrame, tool: str, *, title: str | None = None) -> go.Figure:
    """Identities per version band of one tool (oldest left), coloured by whether it handles the claims challenge."""
    heading = title or f"{tool_label(tool)}: identities per version band"
    part = tools[tools["tool"] == tool]
    if part.empty:
        return empty(heading, f"No {tool_label(tool)} use seen in this window.")
    keys = {band: band_order(band) for band in part["version_band"]}
    known = sorted((b for b in keys if keys[b][0] == 0), key=lambda b: (keys[b][1], keys[b][2]))
    order = known + sorted(b for b in keys if keys[b][0] != 0)
    fig = go.Figure()
    for ok in ("no", "unknown", "yes"):
        rows = part[part["version_ok"] == ok]
        if len(rows):
            fig.add_bar(
                x=_safe_series(rows["version_band"]),
                y=rows["identities"],
                name=version_label(ok, tool),
                marker_color=VERSION_COLORS[ok],
            )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(
        categoryorder="array",
        categoryarray=[safe_text(b) for b in order],
        title_text="version band (oldest left)",
        tickangle=-35,
        automargin=True,
    )
    _count_axis(fig, float(part.groupby("version_band")["identities"].sum().max()), title="identities")
    fig = _layout(fig, heading, height=440)
    fig.update_layout(margin={"b": 120}, legend={"y": -0.45})
    return fig
