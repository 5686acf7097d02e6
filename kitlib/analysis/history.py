"""The trend: one small snapshot per scheduled run, and what changed since the previous one.

Snapshots hold original identities: they are kept beside, never inside, a report folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from kitlib.timeparse import format_timespan

log = logging.getLogger(__name__)


#: Snapshot files: ``snapshot-<run time>.json`` in the history folder (default: ``<out>/../history``).
SNAPSHOT_GLOB = "snapshot-*.json"


_VERDICTS_TRACKED = ("will_break", "at_risk")


def snapshot(identities: Any, *, workspace: str, now: dt.datetime, lookback: dt.timedelta) -> dict[str, Any]:
    """What a later run compares against: verdict counts and who would break or is at risk.

    Holds original identities: it is kept beside, never inside, a report folder.
    """
    ids = identities[~identities["breakglass"].astype(bool)] if "breakglass" in identities else identities
    tracked = ids[ids["verdict"].isin(_VERDICTS_TRACKED)]
    return {
        "version": 1,
        "run_at": now.astimezone(dt.UTC).isoformat(),
        "workspace": workspace,
        "lookback": format_timespan(lookback),
        "counts": {
            **{v: int((ids["verdict"] == v).sum()) for v in ("will_break", "at_risk", "not_affected", "unknown")},
            "writes_without_mfa": int(ids["arm_writes_without_mfa"].sum()) if len(ids) else 0,
        },
        "identities": {str(i): str(v) for i, v in zip(tracked["identity"], tracked["verdict"], strict=True)},
    }


def write_snapshot(folder: Path, snap: Mapping[str, Any]) -> Path:
    """Write ``snap`` as ``snapshot-<run time>.json`` (a rerun for the same instant replaces it).

    Snapshots name real identities: the file is readable by its owner only (0600), and a history
    folder the kit creates is private (0700).
    """
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
    stamp = dt.datetime.fromisoformat(str(snap["run_at"])).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"snapshot-{stamp}.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(snap, indent=1, sort_keys=True))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def load_history(
    folder: Path, *, workspace: str | None = None, before: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Snapshots in ``folder`` (oldest first), for ``workspace`` and strictly before ``before``."""
    if not folder.is_dir():
        return []
    snaps = []
    for path in sorted(folder.glob(SNAPSHOT_GLOB)):
        try:
            snap = json.loads(path.read_text(encoding="utf-8"))
            run_at = dt.datetime.fromisoformat(str(snap["run_at"]))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("history: skipping unreadable snapshot %s (%s)", path.name, exc)
            continue
        if workspace is not None and snap.get("workspace") != workspace:
            continue
        if before is not None and run_at >= before:
            continue
        snaps.append(snap)
    return sorted(snaps, key=lambda s: str(s["run_at"]))


def history_frame(snapshots: Sequence[Mapping[str, Any]], current: Mapping[str, Any] | None = None) -> Any:
    """One row per run (earlier snapshots plus the current one): the burn-down's data."""
    rows = [
        {
            "run_at": pd.Timestamp(str(s["run_at"])),
            **{k: s["counts"].get(k, 0) for k in ("will_break", "at_risk", "writes_without_mfa")},
        }
        for s in [*snapshots, *([current] if current else [])]
    ]
    return pd.DataFrame(rows, columns=["run_at", "will_break", "at_risk", "writes_without_mfa"])


#: ``change`` values of :func:`changes`.
CHANGE_NEW, CHANGE_WORSE, CHANGE_BETTER = "new", "worse", "better"


CHANGE_REMEDIATED, CHANGE_NOT_SEEN = "remediated", "no longer seen"


def changes(previous: Mapping[str, Any] | None, identities: Any, rename: Any = None) -> Any:
    """Who is new at risk, who got worse or better, who was remediated since ``previous`` (a snapshot).

    ``remediated`` is a claim that needs evidence in the newer run: the identity now writes to
    ARM with MFA and makes no write without it, or it is ``not_affected`` with MFA'd ARM tokens
    and no single-factor ones. An identity that merely stopped appearing, or is seen without
    that evidence (no writes at all, or a verdict that is now ``unknown``), is ``no longer seen``
    (in the window, doing what put it at risk): absence is not a fix. ``rename`` maps the
    snapshot's original identities to what ``identities`` shows (pseudonyms in a pseudonymised run).
    """
    columns = ["identity", "before", "now", "change"]
    if previous is None:
        return pd.DataFrame(columns=columns)
    name = rename or (lambda v: v)
    before = {name(i): v for i, v in previous.get("identities", {}).items()}
    ids = identities[~identities["breakglass"].astype(bool)] if "breakglass" in identities else identities
    records = {str(r["identity"]): r for r in ids.to_dict("records")}
    rows = []
    for identity, record in sorted(records.items()):
        verdict, old = record["verdict"], before.get(identity)
        if verdict in _VERDICTS_TRACKED and old is None:
            rows.append((identity, "not at risk", verdict, CHANGE_NEW))
        elif verdict == "will_break" and old == "at_risk":
            rows.append((identity, old, verdict, CHANGE_WORSE))
    for identity, old in sorted(before.items()):
        found = records.get(identity)
        verdict = found["verdict"] if found is not None else None
        if verdict in _VERDICTS_TRACKED:
            if old == "will_break" and verdict == "at_risk":
                rows.append((identity, old, verdict, CHANGE_BETTER))
            continue
        fixed = found is not None and _remediated(found)
        rows.append((identity, old, verdict or "not seen", CHANGE_REMEDIATED if fixed else CHANGE_NOT_SEEN))
    return pd.DataFrame(rows, columns=columns)


def _remediated(record: Mapping[str, Any]) -> bool:
    """Evidence of a fix: MFA'd writes and none without, or only MFA'd ARM tokens (not_affected)."""

    def number(column: str) -> int:
        value = record.get(column)
        return int(value) if value is not None and value == value else 0

    if record.get("verdict") != "not_affected" or number("arm_writes_without_mfa") > 0:
        return False
    writes_with_mfa = number("arm_writes") - number("arm_writes_without_mfa")
    return writes_with_mfa > 0 or (number("arm_signins_mfa") > 0 and number("arm_signins_single_factor") == 0)
