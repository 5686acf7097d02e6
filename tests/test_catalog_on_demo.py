"""Every catalog query runs on the local engine against the demo tenant and stays small."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

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
