"""Every catalog query runs on the local engine against the demo tenant and stays small.

The frames the analysis derives from its one pass over the activity log must equal what the
catalog queries of the same names compute alone (the notebooks read them by those names).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kitlib.analysis.impact import analyze
from kitlib.backends.local import LocalBackend
from kitlib.query.catalog import load_catalog
from kitlib.query.run import run_query

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def backend(demo_workspace: Path) -> LocalBackend:
    return LocalBackend(demo_workspace, now=NOW)


@pytest.fixture(scope="module")
def ground_truth(demo_workspace: Path) -> dict[str, object]:
    return json.loads((demo_workspace / "ground_truth.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(load_catalog()))
def test_query_answers_on_the_demo_tenant_with_per_identity_sized_results(
    backend: LocalBackend, ground_truth: dict[str, list[dict[str, str]]], name: str
) -> None:
    extra = {}
    if "identity" in {p.name for p in load_catalog()[name].parameters}:
        breaking = [i["identity"] for i in ground_truth["identities"] if i["expected_verdict"] == "will_break"]
        extra["identity"] = breaking[0]
    result = run_query(backend, name, now=NOW, lookback=dt.timedelta(days=30), **extra)
    assert result.complete and result.rows > 0, f"{name} returned nothing on the demo tenant"
    # Aggregated in the engine: per identity, per hour of day (24 x weekday/weekend at most) or per
    # day, never raw rows (the demo tables hold over 60,000 rows here).
    identities = len(ground_truth["identities"]) + len(ground_truth["workload_identities"])
    assert result.rows <= 50 * identities, f"{name} returned {result.rows} rows: aggregate in KQL"


@pytest.fixture(scope="module")
def analysis(backend: LocalBackend) -> Any:
    return analyze(backend, now=NOW)


def _comparable(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Scalar columns as plain values, list columns as sorted tuples, rows in key order."""
    out = frame.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, (list, tuple)) or hasattr(v, "tolist")).any():
            out[column] = out[column].map(lambda v: tuple(sorted(str(x) for x in (list(v) if v is not None else []))))
        elif pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = pd.to_datetime(out[column], utc=True)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("arm_writes_by_identity", ["Identity", "AppId", "Kind", "TokenHasMfa"]),
        ("arm_write_minutes", ["Identity"]),
        ("arm_writes_mfa_daily", ["Day", "Caller", "TokenHasMfa"]),
        ("arm_write_targets", ["OperationNameValue", "SubscriptionId", "TokenHasMfa"]),
    ],
)
def test_the_frames_the_analysis_derives_equal_the_catalog_queries(
    backend: LocalBackend, analysis: Any, name: str, keys: list[str]
) -> None:
    """The analysis reads the activity log once; the notebooks' frames must be what each query computes alone."""
    alone = run_query(backend, name, now=NOW, lookback=dt.timedelta(days=30)).frame
    derived = analysis.frames[name]
    shared = [c for c in derived.columns if c in alone.columns]
    assert set(keys) <= set(shared) and len(shared) >= len(keys) + 1
    assert len(derived) == len(alone) > 0
    pd.testing.assert_frame_equal(
        _comparable(derived[shared], keys), _comparable(alone[shared], keys), check_dtype=False
    )
