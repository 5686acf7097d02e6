"""The runner computes the analysis once per batch and hands it to every kernel through a private file.

A kernel uses it only when its key (the exact parameters the analysis depends on) matches.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kitlib.environment import ANALYSIS_CACHE_ENV

log = logging.getLogger(__name__)

#: Frames no notebook reads, left out of the kernels' copy as zero-row frames with their columns
#: (so a query that ran still reads as answered). ``arm_operations`` is the activity log's one
#: pass: the notebooks read the frames derived from it, and its 175,000 rows on a 20,000-user
#: tenant were half the pickle and 0.7 s of every kernel's start. A test checks no notebook reads it.
KERNEL_UNUSED_FRAMES = ("arm_operations",)


def analysis_key(workspace: str, now: dt.datetime, lookback: dt.timedelta, breakglass: Iterable[str]) -> dict[str, Any]:
    """The parameters an analysis depends on, in a form that compares exactly across processes."""
    return {
        "workspace": str(workspace),
        "now": now.astimezone(dt.UTC).isoformat(),
        "lookback_seconds": lookback.total_seconds(),
        "breakglass": sorted(b.strip().lower() for b in breakglass),
    }


def cached_analysis(key: Mapping[str, Any]) -> Any:
    """The runner's pickled Analysis when its key matches ``key`` exactly, else None."""

    path = os.environ.get(ANALYSIS_CACHE_ENV, "")
    if not path or not Path(path).is_file():
        return None
    try:
        with open(path, "rb") as handle:
            stored_key, analysis = pickle.load(handle)
    except Exception as exc:  # a stale or foreign cache is ignored, never trusted
        log.info("analysis cache %s not used: %s", path, exc)
        return None
    return analysis if stored_key == dict(key) else None


def write_cached_analysis(path: Path, key: Mapping[str, Any], analysis: Any) -> Path:
    """Pickle ``(key, analysis)`` to ``path``, readable by its owner only (it holds original identities)."""
    frames = getattr(analysis, "frames", None)
    if isinstance(frames, dict) and any(name in frames for name in KERNEL_UNUSED_FRAMES):
        analysis = copy.copy(analysis)  # the runner's own analysis keeps every frame
        analysis.frames = {
            name: frame.iloc[0:0] if name in KERNEL_UNUSED_FRAMES else frame for name, frame in frames.items()
        }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        pickle.dump((dict(key), analysis), handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path
