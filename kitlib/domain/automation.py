"""How likely a user account is automation wearing a user account: a 0-100 score with reasons.

Automation cannot "just do MFA"; it has to move to a workload identity. Nothing in Entra marks a
user object as a service account, so the score is built from behaviour in the logs, each
feature explainable in plain words and each weight in :data:`WEIGHTS` (the only place to tune).

Score = 100 * sum(weight * value) / sum(weight) over the features that could be measured for
the account (a feature without data, e.g. cadence with fewer than ``MIN_RUNS`` write runs, is
left out of both sums rather than counted as "human"). ROPC sign-ins are hard evidence: a
password typed into a script is what the protocol exists for, and it can never satisfy MFA, so
the score is raised to at least ``ROPC_FLOOR``. Bands: ``likely_automation`` >= 70, ``review``
40-70, ``human`` < 40; with fewer than ``MIN_MEASURED`` behavioural features measured (naming
is not behaviour) the band is ``insufficient_evidence`` whatever the score: one portal write
with no sign-ins says nothing about who is behind it.

Guards against known false positives (from the domain reference, heuristics section):
Cloud Shell and proxy/GSA egress look like cloud IPs, so the cloud-network feature is dropped
when the account also signs in through Global Secure Access, has MFA'd interactive sessions,
or uses a browser; a human's refresh tokens renew about hourly, so cadence is measured on ARM
*writes*, not sign-ins; a guest's devices and Office sign-ins live in its home tenant, so "no
device" and "no browser/Office" are not measured for guests; Az PowerShell's own token requests
carry an SDK user agent, so only other clients' agents count as scripts; naming is a weak hint
because people have admin-style names too.

Everything is computed for all identities at once (:func:`score_frame`: one column per feature,
one row per identity); :func:`score` is the same for one identity's :class:`Features`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Band = Literal["likely_automation", "review", "human", "insufficient_evidence"]

#: feature -> (weight, what it measures). Strong evidence 3, medium 2, weak 1.
WEIGHTS: dict[str, tuple[float, str]] = {
    "never_mfa": (3.0, "no ARM write and no sign-in in the window carried MFA"),
    "cadence": (3.0, "ARM writes recur on a clock: regular gaps, the same minute of the hour or time of day"),
    "no_device": (2.0, "no device identity on any ARM token request"),
    "no_browser_office": (3.0, "no browser, portal or Office sign-in at all"),
    "clock_pattern": (2.0, "activity spread around the clock and the weekend, or packed into one hour of the day"),
    "fixed_network": (2.0, "few source IP addresses over many active days"),
    "cloud_network": (1.0, "token requests from cloud-provider networks (with Cloud Shell / proxy guards)"),
    "deployment_bursts": (1.0, "ARM template deployments or bursts of many writes in one minute"),
    "script_client": (1.0, "token requests from an SDK or script user agent rather than an interactive tool"),
    "naming": (1.0, "the account name follows a service-account convention"),
}
ROPC_FLOOR = 90.0
BANDS: tuple[tuple[float, Band], ...] = ((70.0, "likely_automation"), (40.0, "review"), (0.0, "human"))
INSUFFICIENT: Band = "insufficient_evidence"
#: Fewer behavioural features than this measured: too little evidence to place the account.
MIN_MEASURED = 4
#: Features that describe the name, not behaviour (they do not count towards MIN_MEASURED).
NOT_BEHAVIOUR = frozenset({"naming"})
MIN_RUNS = 8  # fewer write runs than this: cadence is not measured
RUN_GAP_MINUTES = 10  # writes closer than this belong to one run (a burst)
HOURS = tuple(f"h{h:02d}" for h in range(24))

#: Autonomous systems of large cloud providers (Microsoft, Amazon, Google, Oracle, Alibaba).
CLOUD_ASNS = frozenset({"8075", "8068", "16509", "14618", "15169", "396982", "19527", "31898", "45102"})

SERVICE_NAME = re.compile(
    r"^(?:svc|sa|srv|app|sys|bot|auto|automation|pipeline|deploy|build|ci|cd|devops|terraform|tf|ansible|jenkins|"
    r"ado|gh|runner|batch|sched|noreply|integration)[-_.0-9]|service|automation",
    re.IGNORECASE,
)
#: User agents of scripts and SDKs (python-requests is the Azure CLI's own HTTP stack: not counted).
SCRIPT_AGENT = re.compile(r"^(?:azsdk-|go-http-client|curl/|okhttp|node-fetch|axios)", re.IGNORECASE)


@dataclass
class Features:
    """What the analysis measured for one identity (inputs to :func:`score`)."""

    identity: str
    ropc_signins: int = 0
    arm_writes: int = 0
    arm_writes_with_mfa: int = 0
    mfa_signins: int = 0  # any resource, any table
    signins: int = 0  # any resource
    arm_signins: int = 0
    arm_signins_with_device: int = 0
    browser_or_office_signins: int = 0
    interactive_mfa_signins: int = 0
    through_gsa: int = 0
    distinct_ips: int = 0
    active_days: int = 0
    asns: Sequence[str] = ()
    user_agents: Sequence[str] = ()  # of token requests NOT from Azure CLI / Az PowerShell / portal
    write_minutes: Sequence[pd.Timestamp] = ()
    operations_per_minute: Sequence[int] = ()
    deployment_minutes: int = 0
    hour_counts: dict[int, int] = field(default_factory=dict)  # UTC hour -> events
    weekend_events: int = 0
    total_events: int = 0
    guest: bool = False  # a guest's devices and Office use live in its home tenant, not here


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: float  # 0..1
    weight: float
    reason: str

    @property
    def points(self) -> float:
        return self.value * self.weight


@dataclass(frozen=True)
class Score:
    score: int
    band: Band
    reasons: tuple[str, ...]  # top three, plain words
    contributions: tuple[Contribution, ...]


def band_for(score: float) -> Band:
    for floor, band in BANDS:
        if score >= floor:
            return band
    return "human"


# --- the frame form: one row per identity -------------------------------------------------------

#: Numeric columns :func:`score_frame` reads (missing ones count as 0).
FRAME_COLUMNS: tuple[str, ...] = (
    "ropc_signins", "arm_writes", "arm_writes_with_mfa", "mfa_signins", "signins", "arm_signins",
    "arm_signins_with_device", "browser_or_office_signins", "interactive_mfa_signins", "through_gsa",
    "distinct_ips", "active_days", "asn_count", "cloud_asn_count", "deployment_minutes", "burst_minutes",
    "write_moments", "weekend_events", "total_events", *HOURS,
)  # fmt: skip


def _pct(share: pd.Series) -> pd.Series:
    """0.5 -> '50%' (rounded half to even, as Python's format does)."""
    return (np.round(share.astype(float) * 100)).astype("int64").astype(str) + "%"


def _two_digits(values: pd.Series) -> pd.Series:
    return values.astype("int64").astype(str).str.zfill(2)


def _count_text(values: pd.Series) -> pd.Series:
    return values.astype("int64").astype(str)


def _duration(minutes: pd.Series) -> pd.Series:
    """Gap lengths in words: whole days, hours with one decimal, or minutes."""
    days = minutes / 1440
    whole_days = (minutes >= 1440) & ((days - days.round()).abs() < 0.05)
    hours = (minutes / 60).round(1).astype(str)
    return pd.Series(
        np.where(
            whole_days,
            days.round().astype("int64").astype(str) + " day(s)",
            np.where(minutes >= 60, hours + " h", minutes.round().astype("int64").astype(str) + " min"),
        ),
        index=minutes.index,
    )


def _window_counts(ids: np.ndarray, values: np.ndarray, period: int, half: int) -> np.ndarray:
    """For each element: how many elements of the same id lie within ``half`` of it, circularly."""
    width = 4 * period
    shifted = np.concatenate([values - period, values, values + period])
    keys = np.sort(np.tile(ids, 3) * width + shifted + period)
    own = ids * width + values + period
    counts: np.ndarray = np.searchsorted(keys, own + half, side="right") - np.searchsorted(
        keys, own - half, side="left"
    )
    return counts


def cadence_frame(moments: pd.DataFrame) -> pd.DataFrame:
    """Regularity of write runs per identity: ``value`` in 0..1, ``reason``, ``runs`` (value NaN: too few runs).

    ``moments`` holds (identity, minute) rows. Runs are writes within ``RUN_GAP_MINUTES`` of the
    previous one. Three clocks are checked and the strongest wins: equal gaps (coefficient of
    variation of the gaps between runs, robust to the odd missed run by using the median absolute
    deviation), the same minute of the hour (+-1 min), and the same time of day (+-3 min).
    """
    columns = ["value", "reason", "runs"]
    if moments.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="identity"))
    ordered = moments.sort_values(["identity", "minute"], kind="stable")
    who = ordered["identity"].to_numpy()
    stamp = (pd.to_datetime(ordered["minute"], utc=True).astype("int64") // 60_000_000_000).to_numpy()
    new_identity = np.r_[True, who[1:] != who[:-1]]
    gap = np.r_[0, np.diff(stamp)]
    starts = new_identity | (gap > RUN_GAP_MINUTES)
    runs = pd.DataFrame({"identity": who[starts], "t": stamp[starts]})
    runs["n"] = runs.groupby("identity")["t"].transform("size")
    runs = runs[runs["n"] >= MIN_RUNS].reset_index(drop=True)
    if runs.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="identity"))
    codes, names = pd.factorize(runs["identity"], sort=True)
    by = pd.Series(codes)
    n_runs = by.value_counts().sort_index().to_numpy()
    # equal gaps
    gaps = pd.Series(runs["t"].diff().to_numpy(dtype=float)).where(by.eq(by.shift()))
    median = gaps.groupby(codes).median()
    mad = (gaps - median.reindex(codes).to_numpy()).abs().groupby(codes).median()
    cv = np.where(median > 0, 1.4826 * mad / median.where(median > 0, 1.0), 1.0)
    gap_regular = np.clip(1.0 - cv / 0.5, 0.0, 1.0)
    # the same minute of the hour: every minute 0..59 is a candidate
    minute = (runs["t"] % 60).to_numpy()
    hist = np.zeros((len(names), 60), dtype=np.int64)
    np.add.at(hist, (codes, minute), 1)
    window = hist + np.roll(hist, 1, axis=1) + np.roll(hist, -1, axis=1)
    best_minute = window.argmax(axis=1)
    minute_share = window.max(axis=1) / n_runs
    # the same time of day: every run's own time is a candidate
    tod = (runs["t"] % 1440).to_numpy()
    near = _window_counts(codes, tod, 1440, 3)
    pick = pd.DataFrame({"code": codes, "near": near, "tod": tod}).sort_values(
        ["code", "near", "tod"], ascending=[True, False, True], kind="stable"
    )
    pick = pick.drop_duplicates("code").set_index("code").reindex(range(len(names)))
    best_tod = pick["tod"].to_numpy()
    tod_share = pick["near"].to_numpy() / n_runs
    # Humans hit the same minute of the hour by chance about 3/60 of the time: rescale.
    minute_value = np.clip((minute_share - 0.15) / 0.6, 0.0, 1.0)
    tod_value = np.clip((tod_share - 0.1) / 0.6, 0.0, 1.0)
    value = np.maximum.reduce([gap_regular, minute_value, tod_value])
    runs_text = pd.Series(n_runs).astype(str)
    by_gap = (
        "writes every " + _duration(median.reset_index(drop=True)) + " with little variation (" + runs_text + " runs)"
    )
    clock = _two_digits(pd.Series(best_tod // 60)) + ":" + _two_digits(pd.Series(best_tod % 60))
    by_tod = "writes at " + clock + " UTC +-3 min in " + _pct(pd.Series(tod_share)) + " of " + runs_text + " runs"
    by_minute = (
        "writes at minute :" + _two_digits(pd.Series(best_minute)) + " of the hour in "
        + _pct(pd.Series(minute_share)) + " of " + runs_text + " runs"
    )  # fmt: skip
    reason = np.where(value == gap_regular, by_gap, np.where(value == tod_value, by_tod, by_minute))
    return pd.DataFrame({"value": value, "reason": reason, "runs": n_runs}, index=pd.Index(names, name="identity"))


def _hour_spread(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Clock-pattern value and reason per identity (NaN with fewer than 10 events)."""
    counts = f[list(HOURS)].to_numpy(dtype=float)
    total = counts.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    probs = counts / safe[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(probs > 0, probs * np.log(probs), 0.0).sum(axis=1) / math.log(24)
    events = f["total_events"].to_numpy(dtype=float)
    weekend_share = np.where(events > 0, f["weekend_events"].to_numpy(dtype=float) / np.where(events > 0, events, 1), 0)
    # A 9-to-5 person: entropy ~0.55-0.7, ~5 % weekend, no hour above ~25 % of the activity.
    # A job: near-uniform hours including weekends, or nearly everything in one hour.
    spread = np.clip((entropy - 0.7) / 0.25, 0.0, 1.0)
    weekend = np.clip(weekend_share / (2 / 7), 0.0, 1.0)
    top = probs.argmax(axis=1)
    top_share = probs.max(axis=1)
    concentration = np.clip((top_share - 0.5) / 0.4, 0.0, 1.0)
    around = 0.6 * spread + 0.4 * weekend
    active = (probs > 0).sum(axis=1)
    packed = concentration > around
    value = np.where(total >= 10, np.where(packed, concentration, around), np.nan)
    index = f.index
    in_one_hour = (
        _pct(pd.Series(top_share, index=index)) + " of ARM activity in one hour of the day ("
        + _two_digits(pd.Series(top, index=index)) + ":00 UTC)"
    )  # fmt: skip
    spread_words = (
        "active in " + pd.Series(active, index=index).astype(str) + " of 24 hours (UTC), "
        + _pct(pd.Series(weekend_share, index=index)) + " of activity on weekends"
    )  # fmt: skip
    return pd.Series(value, index=index), pd.Series(np.where(packed, in_one_hour, spread_words), index=index)


Feature = Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]


def _never_mfa(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    never = (f["arm_writes_with_mfa"] == 0) & (f["mfa_signins"] == 0)
    measured = (f["arm_writes"] > 0) | (f["signins"] > 0)
    reason = (
        "never MFA: 0 of " + _count_text(f["arm_writes"]) + " ARM writes and 0 of " + _count_text(f["signins"])
        + " sign-ins carried MFA"
    )  # fmt: skip
    return pd.Series(np.where(measured, never.astype(float), np.nan), index=f.index), reason


def _no_device(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    requests = f["arm_signins"].astype(float)
    share = 1.0 - f["arm_signins_with_device"] / requests.where(requests > 0, 1.0)
    measured = (requests > 0) & ~f["guest"].astype(bool)
    reason = (
        "no device identity on "
        + _pct(share.clip(0, 1))
        + " of "
        + _count_text(f["arm_signins"])
        + " ARM token requests"
    )
    return share.where(measured), reason


def _no_browser_office(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    measured = (f["signins"] > 0) & ~f["guest"].astype(bool)
    value = (f["browser_or_office_signins"] == 0).astype(float)
    reason = "no browser, portal or Office sign-in among " + _count_text(f["signins"]) + " sign-ins"
    return value.where(measured), reason


def _fixed_network(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    measured = (f["distinct_ips"] > 0) & (f["active_days"] >= 5)
    value = ((4 - f["distinct_ips"]) / 3).clip(0.0, 1.0)
    reason = (
        "only " + _count_text(f["distinct_ips"]) + " IP address(es) over " + _count_text(f["active_days"])
        + " active days"
    )  # fmt: skip
    return value.where(measured), reason


def _cloud_network(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    guarded = (f["through_gsa"] > 0) | (f["interactive_mfa_signins"] > 0) | (f["browser_or_office_signins"] > 0)
    measured = (f["asn_count"] > 0) & ~guarded
    value = f["cloud_asn_count"] / f["asn_count"].where(f["asn_count"] > 0, 1)
    cloud = f["cloud_asns"].fillna("").astype(str)
    reason = pd.Series(
        np.where(cloud != "", "token requests from cloud networks (AS" + cloud.str.replace(", ", ", AS") + ")",
                 "no cloud network"),
        index=f.index,
    )  # fmt: skip
    return value.astype(float).where(measured), reason


def _deployment_bursts(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    measured = f["write_moments"] > 0
    value = ((f["deployment_minutes"] > 0) | (f["burst_minutes"] >= 3)).astype(float)
    reason = (
        _count_text(f["deployment_minutes"]) + " minute(s) with ARM template deployments, "
        + _count_text(f["burst_minutes"]) + " minute(s) with 5+ writes"
    )  # fmt: skip
    return value.where(measured), reason


def _script_client(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    agent = f["script_agent"].fillna("").astype(str)
    measured = f["other_agents"].astype(bool)
    reason = pd.Series(np.where(agent != "", "SDK/script user agent (" + agent + ")", ""), index=f.index)
    return (agent != "").astype(float).where(measured), reason


def _naming(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    # The reason must not quote the name: reasons reach pseudonymised reports, where the local
    # part of a UPN would identify the person as surely as the UPN itself.
    local = f.index.to_series().astype(str).str.split("@").str[0]
    named = local.str.contains(SERVICE_NAME)
    return pd.Series(np.where(named, 1.0, np.nan), index=f.index), pd.Series(WEIGHTS["naming"][1], index=f.index)


def score_frame(features: pd.DataFrame, cadence: pd.DataFrame) -> pd.DataFrame:
    """Score every identity (the rows of ``features``, indexed by identity) at once.

    ``features`` holds :data:`FRAME_COLUMNS` plus ``guest``, ``cloud_asns`` (text), ``script_agent``
    (text) and ``other_agents`` (bool: token requests from clients other than the Azure CLI, Az
    PowerShell and the portal); ``cadence`` is :func:`cadence_frame` of the write minutes. Returns
    ``score``, ``band``, ``reasons`` (top three joined by "; "), ``measured`` (behavioural features
    measured) and one ``value:<feature>``/``reason:<feature>`` column per feature.
    """
    f = features.copy()
    for column in FRAME_COLUMNS:
        f[column] = pd.to_numeric(f[column], errors="coerce").fillna(0) if column in f else 0
    for column, default in (("guest", False), ("other_agents", False), ("cloud_asns", ""), ("script_agent", "")):
        if column not in f:
            f[column] = default
    measured_cadence = cadence.reindex(f.index)
    parts: dict[str, tuple[pd.Series, pd.Series]] = {
        "never_mfa": _never_mfa(f),
        "cadence": (measured_cadence["value"].astype(float), measured_cadence["reason"].fillna("").astype(str)),
        "no_device": _no_device(f),
        "no_browser_office": _no_browser_office(f),
        "clock_pattern": _hour_spread(f),
        "fixed_network": _fixed_network(f),
        "cloud_network": _cloud_network(f),
        "deployment_bursts": _deployment_bursts(f),
        "script_client": _script_client(f),
        "naming": _naming(f),
    }
    names = list(parts)
    values = np.column_stack([parts[n][0].to_numpy(dtype=float) for n in names]).clip(0.0, 1.0)
    reasons = np.column_stack([parts[n][1].astype(str).to_numpy(dtype=object) for n in names])
    weights = np.array([WEIGHTS[n][0] for n in names])
    measured = ~np.isnan(values)
    points = np.where(measured, values * weights, 0.0)
    total_weight = (measured * weights).sum(axis=1)
    raw = np.where(total_weight > 0, 100.0 * points.sum(axis=1) / np.where(total_weight > 0, total_weight, 1), 0.0)
    ropc = f["ropc_signins"].to_numpy() > 0
    raw = np.where(ropc, np.maximum(raw, ROPC_FLOOR), raw)
    final = np.round(raw).astype("int64")
    # Top reasons: highest points first (feature order breaks ties), only those that scored.
    order = np.argsort(-points, axis=1, kind="stable")
    ranked_points = np.take_along_axis(points, order, axis=1)
    ranked_reasons = np.take_along_axis(reasons, order, axis=1)
    ropc_words = (
        "signs in with username and password (ROPC, " + _count_text(f["ropc_signins"])
        + " times): a script, and it can never do MFA"
    ).to_numpy(dtype=object)  # fmt: skip
    top = [np.where(ranked_points[:, i] > 0, ranked_reasons[:, i], "") for i in range(3)]
    first = np.where(ropc, ropc_words, top[0])
    second = np.where(ropc, top[0], top[1])
    third = np.where(ropc, top[1], top[2])
    joined = pd.Series(first, index=f.index, dtype=object)
    for item in (second, third):
        joined = joined.where(item == "", joined + "; " + pd.Series(item, index=f.index, dtype=object))
    behaviour = measured[:, [i for i, n in enumerate(names) if n not in NOT_BEHAVIOUR]].sum(axis=1)
    # ROPC is hard evidence (the floor puts it in the top band); otherwise too few measured
    # behaviours leave the account unplaced whatever its score.
    band = np.select(
        [ropc, behaviour < MIN_MEASURED, final >= BANDS[0][0], final >= BANDS[1][0]],
        [band_for(ROPC_FLOOR), INSUFFICIENT, BANDS[0][1], BANDS[1][1]],
        default=BANDS[2][1],
    )
    out = pd.DataFrame(
        {"score": final, "band": band, "reasons": joined, "measured": behaviour, "top1": first, "top2": second,
         "top3": third},
        index=f.index,
    )  # fmt: skip
    for i, name in enumerate(names):
        out[f"value:{name}"] = values[:, i]
        out[f"reason:{name}"] = reasons[:, i]
    return out


# --- one identity -------------------------------------------------------------------------------


def features_row(f: Features) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One identity's :class:`Features` as a one-row frame and its write moments."""
    hours = {name: 0 for name in HOURS}
    for hour, count in f.hour_counts.items():
        hours[HOURS[int(hour)]] += int(count)
    minutes = [
        pd.Timestamp(m, tz="UTC") if pd.Timestamp(m).tzinfo is None else pd.Timestamp(m) for m in f.write_minutes
    ]
    weekend, total = f.weekend_events, f.total_events
    for m in minutes:
        hours[HOURS[m.hour]] += 1
        total += 1
        weekend += 1 if m.dayofweek >= 5 else 0
    cloud = sorted({str(a) for a in f.asns if str(a) in CLOUD_ASNS})
    scripted = [a for a in f.user_agents if a and SCRIPT_AGENT.match(a)]
    row = {
        "ropc_signins": f.ropc_signins,
        "arm_writes": f.arm_writes,
        "arm_writes_with_mfa": f.arm_writes_with_mfa,
        "mfa_signins": f.mfa_signins,
        "signins": f.signins,
        "arm_signins": f.arm_signins,
        "arm_signins_with_device": f.arm_signins_with_device,
        "browser_or_office_signins": f.browser_or_office_signins,
        "interactive_mfa_signins": f.interactive_mfa_signins,
        "through_gsa": f.through_gsa,
        "distinct_ips": f.distinct_ips,
        "active_days": f.active_days,
        "asn_count": len(set(map(str, f.asns))),
        "cloud_asn_count": len(cloud),
        "cloud_asns": ", ".join(cloud),
        "deployment_minutes": f.deployment_minutes,
        "burst_minutes": sum(1 for n in f.operations_per_minute if n >= 5),
        "write_moments": len(minutes),
        "weekend_events": weekend,
        "total_events": total,
        "guest": f.guest,
        "other_agents": bool(f.user_agents),
        "script_agent": sorted(scripted)[0] if scripted else "",
        **hours,
    }
    frame = pd.DataFrame([row], index=pd.Index([f.identity], name="identity"))
    return frame, pd.DataFrame({"identity": f.identity, "minute": minutes}, columns=["identity", "minute"])


def cadence(minutes: Sequence[pd.Timestamp]) -> tuple[float, str] | None:
    """Regularity of one identity's write runs in 0..1 with a reason, or None with too few runs."""
    stamps = [pd.Timestamp(m, tz="UTC") if pd.Timestamp(m).tzinfo is None else pd.Timestamp(m) for m in minutes]
    found = cadence_frame(pd.DataFrame({"identity": "x", "minute": stamps}, columns=["identity", "minute"]))
    if found.empty:
        return None
    return float(found["value"].iloc[0]), str(found["reason"].iloc[0])


def score(f: Features) -> Score:
    """Score one identity; see the module docstring for the rules."""
    frame, moments = features_row(f)
    row = score_frame(frame, cadence_frame(moments)).iloc[0]
    contributions = tuple(
        Contribution(name, float(row[f"value:{name}"]), WEIGHTS[name][0], str(row[f"reason:{name}"]))
        for name in WEIGHTS
        if not math.isnan(float(row[f"value:{name}"]))
    )
    reasons = tuple(str(row[k]) for k in ("top1", "top2", "top3") if row[k])
    return Score(int(row["score"]), row["band"], reasons, contributions)
