"""Result digests: the same answer from KQL-on-DuckDB, hand-written SQL and pandas, checked cheaply.

A digest is the row count, a hash of the sorted group keys, the sum of every numeric and boolean
column, the sum of every datetime column (as epoch microseconds) and, for set columns, the summed
set sizes plus a hash of the sets' contents. Two things are left out on purpose, because the
engines may legitimately differ there:

* ``take_any`` columns (any row's value will do);
* the *contents* of a capped set once it reached its cap: ``make_set(x, N)`` keeps an arbitrary N.
  Sizes are compared as ``min(size, N)`` because duckdb-kql 1.1.2 ignores the cap (it returns the
  whole set), which is itself one of the findings in results.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Spec:
    """What a query's result looks like, so its digest compares only what is deterministic."""

    keys: tuple[str, ...]
    sets: Mapping[str, int] = field(default_factory=dict)  # column -> make_set cap
    any_value: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()  # make_list columns: compared as sorted multisets (no element order)


SPECS: dict[str, Spec] = {
    "arm_operations": Spec(
        keys=(
            "Facet",
            "Identity",
            "Principal",
            "AppId",
            "Kind",
            "TokenHasMfa",
            "Outcome",
            "Day",
            "Caller",
            "OperationNameValue",
            "SubscriptionId",
        ),
        sets={"AmrValues": 5, "OperationNames": 10, "CallerIps": 20, "Identities": 10},
        lists=("Minutes", "OperationsPerMinute"),
    ),
    "arm_writes_by_identity": Spec(
        keys=("Identity", "AppId", "Kind", "TokenHasMfa"),
        sets={"AmrValues": 5, "OperationNames": 10, "CallerIps": 20},
    ),
}


def _as_list(value: Any) -> list[Any]:
    """A set cell as a list, whichever engine produced it (JSON text, list, numpy array, None)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        parsed = json.loads(value)
        return list(parsed) if isinstance(parsed, list) else [parsed]
    return list(value)


def _key_text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return (
            pd.Timestamp(value).tz_localize(None).isoformat()
            if pd.Timestamp(value).tzinfo
            else pd.Timestamp(value).isoformat()
        )
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value)


def _sha(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()[:16]


def digest(frame: pd.DataFrame, spec: Spec) -> dict[str, Any]:
    """The digest of one result frame (see the module docstring for what is compared)."""
    out: dict[str, Any] = {"rows": len(frame)}
    keys = [tuple(_key_text(v) for v in row) for row in frame[list(spec.keys)].itertuples(index=False)]
    out["keys"] = _sha("\x1e".join(k) for k in sorted(keys))
    skip = set(spec.keys) | set(spec.sets) | set(spec.any_value) | set(spec.lists)
    for column in frame.columns:
        if column in skip:
            continue
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            micros = pd.to_datetime(series.dropna(), utc=True).astype("datetime64[us, UTC]").astype("int64")
            out[f"sum({column})"] = int(micros.sum())
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
            out[f"sum({column})"] = int(series.dropna().astype("int64").sum())
        elif pd.api.types.is_float_dtype(series):
            out[f"sum({column})"] = round(float(series.sum()), 6)
        else:
            out[f"distinct({column})"] = _sha(sorted({_key_text(v) for v in series}))
    for column in spec.lists:
        cells = [sorted(_key_text(x) for x in _as_list(v)) for v in frame[column]]
        pairs = sorted("\x1e".join(k) + "\x1d" + "\x1e".join(c) for k, c in zip(keys, cells, strict=True))
        out[f"lists({column})"] = _sha(pairs)
    for column, cap in spec.sets.items():
        cells = [_as_list(v) for v in frame[column]]
        out[f"size({column})"] = sum(min(len(set(map(str, c))), cap) for c in cells)
        under_cap = sorted(
            "\x1e".join(k) + "\x1d" + "\x1e".join(sorted(set(map(str, c))))
            for k, c in zip(keys, cells, strict=True)
            if len(set(map(str, c))) < cap
        )
        out[f"sets({column})"] = _sha(under_cap)
    return out


def differences(reference: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Digest entries that disagree, as readable ``name: a != b`` strings (empty when equal)."""
    names = sorted(set(reference) | set(other))
    return [f"{n}: {reference.get(n)!r} != {other.get(n)!r}" for n in names if reference.get(n) != other.get(n)]
