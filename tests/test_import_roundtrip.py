"""Round trip: the demo tenant written out in each export shape and imported back analyses the same.

A small tenant keeps this fast (60 users x 10 days, about 9,000 rows). ``tests/exporters.py``
writes each shape from the format description, not from the importer's tables. Where a shape
cannot carry a column, the test says so and asserts the import is honest about it (empty, not
invented); identities.csv must still come out byte for byte the same, since the analysis reads
nothing those shapes lose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import exporters
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from kitlib.analysis.exports import write_exports
from kitlib.analysis.impact import analyze
from kitlib.backends.local import LocalBackend
from kitlib.demo import generate
from kitlib.ingest.importer import ImportReport, import_paths, part_files

# One module fixture builds the tenant and its imports: keep the module on one xdist worker
# (``pytest -n 2 --dist loadgroup``) so they are built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("import-roundtrip")]

USERS, DAYS = 60, 10
SHAPE_SETS = {
    "portal-csv": ("la-csv",),
    "query-api": ("la-json",),
    "diagnostic-settings": ("diagnostic",),
    "graph+activity-rest": ("graph", "activity-rest"),
}
Tenant = tuple[Path, dict[str, int], bytes]
Imported = Callable[[str], tuple[ImportReport, Path]]


def identities_csv(workspace: Path, out: Path, now: dt.datetime) -> bytes:
    backend = LocalBackend(workspace, now=now)
    try:
        analysis = analyze(backend, now=now, lookback=dt.timedelta(days=DAYS))
    finally:
        backend.close()
    paths = write_exports(analysis, out)
    return next(p for p in paths if p.name == "identities.csv").read_bytes()


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory, now: dt.datetime) -> Tenant:
    """The small demo tenant, its row counts, and its identities.csv."""
    root = tmp_path_factory.mktemp("roundtrip-tenant")
    summary = generate(root / "tenant", users=USERS, days=DAYS, seed=11, now=now)
    return root / "tenant", dict(summary.rows), identities_csv(root / "tenant", root / "out", now)


@pytest.fixture(scope="module")
def imported(tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Imported:
    """The tenant exported in a set of shapes and imported into a fresh workspace (once per set)."""
    done: dict[str, tuple[ImportReport, Path]] = {}

    def get(name: str) -> tuple[ImportReport, Path]:
        if name not in done:
            root = tmp_path_factory.mktemp(f"roundtrip-{name}")
            for shape in SHAPE_SETS[name]:
                if shape == "diagnostic":
                    exporters.export_diagnostic(tenant[0], root / "export" / shape, per_hour=False)
                else:
                    exporters.EXPORTERS[shape](tenant[0], root / "export" / shape)
            done[name] = (import_paths([root / "export"], root / "ws"), root / "ws")
        return done[name]

    return get


@pytest.mark.parametrize("name", list(SHAPE_SETS))
def test_demo_tenant_exported_and_imported_gives_the_same_identities(
    name: str, tenant: Tenant, imported: Imported, tmp_path: Path, now: dt.datetime
) -> None:
    _, rows, original = tenant
    assert original.count(b"\n") > 20  # a tenant with something to say
    report, workspace = imported(name)
    assert report.ok, report.to_text()
    assert {f.shape for f in report.files} == set(SHAPE_SETS[name])
    assert {t: (c.read, c.written, c.rejected, c.duplicates) for t, c in report.totals().items()} == {
        t: (n, n, 0, 0) for t, n in rows.items()
    }
    assert identities_csv(workspace, tmp_path / "out", now) == original


def column_values(workspace: Path, table: str, column: str) -> set[object]:
    values: set[object] = set()
    for part in part_files(workspace, table):
        values |= set(pc.unique(pq.read_table(part, columns=[column]).column(column)).to_pylist())
    return values


def test_what_diagnostic_records_and_graph_cannot_carry_stays_empty(imported: Imported) -> None:
    _, diag = imported("diagnostic-settings")
    # diagnostic activity records have no event id and no friendly operation name ...
    assert column_values(diag, "AzureActivity", "EventDataId") == {""}
    assert column_values(diag, "AzureActivity", "OperationName") == {""}
    # ... and say who called only through the token: Caller is rebuilt from the claims
    assert "" not in column_values(diag, "AzureActivity", "Caller")
    _, graph = imported("graph+activity-rest")
    # Graph has no ingestion time or Log Analytics bookkeeping: TimeGenerated is the creation time
    assert column_values(graph, "SigninLogs", "TenantId") == {""}
    for part in part_files(graph, "SigninLogs"):
        table = pq.read_table(part, columns=["TimeGenerated", "CreatedDateTime"])
        assert table.column("TimeGenerated").equals(table.column("CreatedDateTime"))
