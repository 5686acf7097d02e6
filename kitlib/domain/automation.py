"""How likely a user account is automation wearing a user account: a 0-100 score with reasons.

Automation cannot "just do MFA"; it has to move to a workload identity. Nothing in Entra marks a
user object as a service account, so the score is built from behaviour in the logs, each
feature explainable in plain words and each weight in :data:`WEIGHTS` (the only place to tune).

Score = 100 * sum(weight * value) / sum(weight) over the features that could be measured for
the account (a feature without data, e.g. cadence with fewer than ``MIN_RUNS`` write runs, is
left out of both sums rather than counted as "human"). ROPC sign-ins are hard evidence: a
password typed into a script is what the protocol exists for, and it can never satisfy MFA, so
the score is raised to at least ``ROPC_FLOOR``. Bands: ``likely_automation`` >= 70, ``review``
40-70, ``human`` < 40.

Guards against known false positives (from the domain reference, heuristics section):
Cloud Shell and proxy/GSA egress look like cloud IPs, so the cloud-network feature is dropped
when the account also signs in through Global Secure Access, has MFA'd interactive sessions,
or uses a browser; a human's refresh tokens renew about hourly, so cadence is measured on ARM
*writes*, not sign-ins; a guest's devices and Office sign-ins live in its home tenant, so "no
device" and "no browser/Office" are not measured for guests; Az PowerShell's own token requests
carry an SDK user agent, so only other clients' agents count as scripts; naming is a weak hint
because people have admin-style names too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Band = Literal["likely_automation", "review", "human"]

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
MIN_RUNS = 8  # fewer write runs than this: cadence is not measured
RUN_GAP_MINUTES = 10  # writes closer than this belong to one run (a burst)

#: Autonomous systems of large cloud providers (Microsoft, Amazon, Google, Oracle, Alibaba).
CLOUD_ASNS = frozenset({"8075", "8068", "16509", "14618", "15169", "396982", "19527", "31898", "45102"})

_SERVICE_NAME = re.compile(
    r"^(svc|sa|srv|app|sys|bot|auto|automation|pipeline|deploy|build|ci|cd|devops|terraform|tf|ansible|jenkins|"
    r"ado|gh|runner|batch|sched|noreply|integration)[-_.0-9]|service|automation",
    re.IGNORECASE,
)
_SCRIPT_AGENT = re.compile(r"^(azsdk-|python-requests|go-http-client|curl/|okhttp|node-fetch|axios)", re.IGNORECASE)


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


def _runs(minutes: Sequence[pd.Timestamp]) -> list[pd.Timestamp]:
    """Start of each run of writes (writes within RUN_GAP_MINUTES of the previous one join it)."""
    ordered = sorted(minutes)
    starts: list[pd.Timestamp] = []
    last: pd.Timestamp | None = None
    for m in ordered:
        if last is None or (m - last) > pd.Timedelta(minutes=RUN_GAP_MINUTES):
            starts.append(m)
        last = m
    return starts


def cadence(minutes: Sequence[pd.Timestamp]) -> tuple[float, str] | None:
    """Regularity of write runs in 0..1 with a reason, or None with too few runs.

    Three clocks are checked and the strongest wins: equal gaps (coefficient of variation of
    the gaps between runs, robust to the odd missed run by using the median absolute deviation),
    the same minute of the hour (+-1 min), and the same time of day (+-3 min).
    """
    runs = _runs(minutes)
    if len(runs) < MIN_RUNS:
        return None
    gaps = np.diff([r.value for r in runs]) / 60e9  # minutes
    median = float(np.median(gaps))
    mad = float(np.median(np.abs(gaps - median)))
    cv = (1.4826 * mad / median) if median > 0 else 1.0
    gap_regular = float(np.clip(1.0 - cv / 0.5, 0.0, 1.0))
    mod = np.array([r.minute for r in runs])
    best_minute = max(range(60), key=lambda m: int(np.sum(np.minimum(np.abs(mod - m), 60 - np.abs(mod - m)) <= 1)))
    minute_share = float(np.mean(np.minimum(np.abs(mod - best_minute), 60 - np.abs(mod - best_minute)) <= 1))
    tod = np.array([r.hour * 60 + r.minute for r in runs])
    best_tod = max(tod.tolist(), key=lambda t: int(np.sum(np.minimum(np.abs(tod - t), 1440 - np.abs(tod - t)) <= 3)))
    tod_share = float(np.mean(np.minimum(np.abs(tod - best_tod), 1440 - np.abs(tod - best_tod)) <= 3))
    # Humans hit the same minute of the hour by chance about 3/60 of the time: rescale.
    minute_value = float(np.clip((minute_share - 0.15) / 0.6, 0.0, 1.0))
    tod_value = float(np.clip((tod_share - 0.1) / 0.6, 0.0, 1.0))
    value = max(gap_regular, minute_value, tod_value)
    if value == gap_regular:
        reason = f"writes every {_duration(median)} with little variation ({len(runs)} runs)"
    elif value == tod_value:
        reason = (
            f"writes at {best_tod // 60:02d}:{best_tod % 60:02d} UTC +-3 min in {tod_share:.0%} of {len(runs)} runs"
        )
    else:
        reason = f"writes at minute :{best_minute:02d} of the hour in {minute_share:.0%} of {len(runs)} runs"
    return value, reason


def _duration(minutes: float) -> str:
    if minutes >= 1440 and abs(minutes / 1440 - round(minutes / 1440)) < 0.05:
        return f"{round(minutes / 1440)} day(s)"
    if minutes >= 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes:.0f} min"


def _hour_spread(f: Features) -> tuple[float, str] | None:
    hours = dict(f.hour_counts)
    total = sum(hours.values())
    if total < 10:
        return None
    probs = np.array([hours.get(h, 0) / total for h in range(24)])
    nz = probs[probs > 0]
    entropy = float(-(nz * np.log(nz)).sum() / math.log(24))
    weekend_share = f.weekend_events / f.total_events if f.total_events else 0.0
    # A 9-to-5 person: entropy ~0.55-0.7, ~5 % weekend, no hour above ~25 % of the activity.
    # A job: near-uniform hours including weekends, or nearly everything in one hour.
    spread = float(np.clip((entropy - 0.7) / 0.25, 0.0, 1.0))
    weekend = float(np.clip(weekend_share / (2 / 7), 0.0, 1.0))
    top_hour = int(np.argmax(probs))
    concentration = float(np.clip((probs[top_hour] - 0.5) / 0.4, 0.0, 1.0))
    around = 0.6 * spread + 0.4 * weekend
    active_hours = int((probs > 0).sum())
    if concentration > around:
        return concentration, f"{probs[top_hour]:.0%} of ARM activity in one hour of the day ({top_hour:02d}:00 UTC)"
    return around, f"active in {active_hours} of 24 hours (UTC), {weekend_share:.0%} of activity on weekends"


def features_to_contributions(f: Features) -> list[Contribution]:
    """Each measurable feature's value in 0..1 with its reason."""
    out: list[Contribution] = []

    def add(name: str, value: float, reason: str) -> None:
        out.append(Contribution(name, float(np.clip(value, 0.0, 1.0)), WEIGHTS[name][0], reason))

    if f.arm_writes > 0 or f.signins > 0:
        never = f.arm_writes_with_mfa == 0 and f.mfa_signins == 0
        add(
            "never_mfa",
            1.0 if never else 0.0,
            f"never MFA: 0 of {f.arm_writes} ARM writes and 0 of {f.signins} sign-ins carried MFA",
        )
    measured = cadence(f.write_minutes)
    if measured is not None:
        add("cadence", measured[0], measured[1])
    if f.arm_signins > 0 and not f.guest:
        share = 1.0 - f.arm_signins_with_device / f.arm_signins
        add("no_device", share, f"no device identity on {share:.0%} of {f.arm_signins} ARM token requests")
    if f.signins > 0 and not f.guest:
        add(
            "no_browser_office",
            1.0 if f.browser_or_office_signins == 0 else 0.0,
            f"no browser, portal or Office sign-in among {f.signins} sign-ins",
        )
    spread = _hour_spread(f)
    if spread is not None:
        add("clock_pattern", spread[0], spread[1])
    if f.distinct_ips > 0 and f.active_days >= 5:
        value = float(np.clip((4 - f.distinct_ips) / 3, 0.0, 1.0))
        add("fixed_network", value, f"only {f.distinct_ips} IP address(es) over {f.active_days} active days")
    if f.asns:
        cloud = [a for a in f.asns if str(a) in CLOUD_ASNS]
        guarded = f.through_gsa > 0 or f.interactive_mfa_signins > 0 or f.browser_or_office_signins > 0
        if not guarded:
            add(
                "cloud_network",
                len(cloud) / len(f.asns),
                f"token requests from cloud networks (AS{', AS'.join(sorted(set(cloud)))})"
                if cloud
                else "no cloud network",
            )
    if f.write_minutes:
        bursts = sum(1 for n in f.operations_per_minute if n >= 5)
        value = 1.0 if f.deployment_minutes > 0 or bursts >= 3 else 0.0
        add(
            "deployment_bursts",
            value,
            f"{f.deployment_minutes} minute(s) with ARM template deployments, {bursts} minute(s) with 5+ writes",
        )
    if f.user_agents:
        scripted = [
            a for a in f.user_agents if a and _SCRIPT_AGENT.match(a) and not a.lower().startswith("python-requests")
        ]
        add("script_client", 1.0 if scripted else 0.0, f"SDK/script user agent ({scripted[0]})" if scripted else "")
    # The reason must not quote the name: reasons reach pseudonymised reports, where the local
    # part of a UPN would identify the person as surely as the UPN itself.
    if _SERVICE_NAME.search(f.identity.split("@")[0]):
        add("naming", 1.0, WEIGHTS["naming"][1])
    return out


def score(f: Features) -> Score:
    """Score one identity; see the module docstring for the rules."""
    parts = features_to_contributions(f)
    weight = sum(c.weight for c in parts)
    value = 100.0 * sum(c.points for c in parts) / weight if weight else 0.0
    reasons = [c.reason for c in sorted(parts, key=lambda c: -c.points) if c.points > 0][:3]
    if f.ropc_signins > 0:
        value = max(value, ROPC_FLOOR)
        ropc = f"signs in with username and password (ROPC, {f.ropc_signins} times): a script, and it can never do MFA"
        reasons = [ropc, *reasons[:2]]
    final = round(value)
    return Score(final, band_for(final), tuple(reasons), tuple(parts))
