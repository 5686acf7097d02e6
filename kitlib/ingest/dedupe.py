"""Row-level de-duplication between imports: overlapping exports never double a workspace's rows.

Exports overlap: last week's CSV and this week's both hold Wednesday; a storage folder is
downloaded again with a few new blobs. A row is a *duplicate* when a row identical in every
registry column was already imported from **another** input. Rows repeated inside one input are
kept: they are what the source holds.

Why whole rows and not ``Id`` (sign-ins) or ``CorrelationId`` + ``EventDataId`` (activity):
Log Analytics itself holds rows that share an ``Id`` and differ in content (a public query-API
sample has 41 of 86 SigninLogs rows twice under the same ``Id`` and time, once with
``AuthenticationRequirement`` empty and once filled). Keying on ``Id`` would keep one of the two
arbitrarily and drop the other silently; a whole-row key drops only true copies. The price: the
same event exported in two different shapes (a Graph dump and a portal CSV) differs in
precision and columns, so it is not recognised; the importer warns when one table receives
overlapping time ranges from different shapes.

Hashes are DuckDB's ``hash()`` over the typed row (computed in C++, 8 bytes per row); the index
of what is already in the workspace is rebuilt from the importer's own part files at every
import, so nothing depends on the hash being stable across versions.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from kitlib.domain.schema import TABLES

log = logging.getLogger(__name__)

PART_NAME = re.compile(r"^import-(?P<group>[0-9a-f]{16})-\d+\.parquet$")
_MERGE_EVERY = 16


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hash_sql(table: str, source: str) -> str:
    columns = ", ".join(_ident(c) for c in TABLES[table].column_names)
    return f"SELECT hash({columns}) AS h FROM {source}"


class RowHasher:
    """Hashes typed rows with DuckDB, the same way for an Arrow chunk and for Parquet on disk."""

    def __init__(self) -> None:
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")

    def chunk(self, table: str, rows: pa.Table) -> np.ndarray:
        # DuckDB reads the local Arrow table by its variable name (a replacement scan): cheaper
        # than registering a view for each of thousands of small hourly files.
        _chunk = rows
        return np.asarray(self._con.execute(_hash_sql(table, "_chunk")).fetchnumpy()["h"], dtype=np.uint64)

    def files(self, table: str, paths: list[Path]) -> tuple[np.ndarray, list[str]]:
        """Hashes of every row in ``paths`` and, per row, the import group (content hash) it came from."""
        listing = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
        columns = ", ".join(_ident(c) for c in TABLES[table].column_names)
        sql = (
            f"SELECT hash({columns}) AS h, regexp_extract(filename, 'import-([0-9a-f]{{16}})-', 1) AS g "
            f"FROM read_parquet({listing}, filename = true, union_by_name = true)"
        )
        result = self._con.execute(sql).fetchnumpy()
        return np.asarray(result["h"], dtype=np.uint64), [str(g) for g in result["g"]]

    def close(self) -> None:
        self._con.close()


class KeyIndex:
    """Row hashes already in one workspace table, tagged with the input (group) that wrote them."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._keys = np.empty(0, dtype=np.uint64)
        self._groups = np.empty(0, dtype=np.int32)
        self._pending: list[tuple[np.ndarray, int]] = []
        self._group_ids: dict[str, int] = {}

    def group_id(self, content_hash: str) -> int:
        """A small int naming one input by the first 16 hex digits of its content hash."""
        return self._group_ids.setdefault(content_hash[:16], len(self._group_ids) + 1)

    def load(self, folder: Path, hasher: RowHasher) -> None:
        """Index the importer's part files already in ``folder`` (other files are not indexed)."""
        if not folder.is_dir():
            return
        parts = sorted(p for p in folder.glob("import-*.parquet") if PART_NAME.match(p.name))
        if not parts:
            return
        try:
            keys, groups = hasher.files(self.table, parts)
        except duckdb.Error as exc:
            log.warning(
                "cannot index %s for de-duplication (%s); rows already there are not de-duplicated", folder, exc
            )
            return
        unique, inverse = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
        ids = np.array([self.group_id(str(g)) for g in unique], dtype=np.int32)
        self._merge(keys, ids[inverse] if len(ids) else np.empty(0, dtype=np.int32))

    def _merge(self, keys: np.ndarray, groups: np.ndarray) -> None:
        all_keys = np.concatenate([self._keys, keys])
        all_groups = np.concatenate([self._groups, groups.astype(np.int32)])
        order = np.argsort(all_keys, kind="stable")
        self._keys, self._groups = all_keys[order], all_groups[order]

    def duplicates(self, keys: np.ndarray, own_group: int) -> np.ndarray:
        """Mask of ``keys`` already written by another input (rows of ``own_group`` never count)."""
        dup = np.zeros(len(keys), dtype=bool)
        if not len(keys):
            return dup
        if len(self._keys):
            lo = np.searchsorted(self._keys, keys, "left")
            hi = np.searchsorted(self._keys, keys, "right")
            span = hi - lo
            single = np.flatnonzero(span == 1)
            dup[single[self._groups[lo[single]] != own_group]] = True
            for j in np.flatnonzero(span > 1):
                dup[j] = bool((self._groups[lo[j] : hi[j]] != own_group).any())
        for pending, group in self._pending:
            if group != own_group:
                dup |= np.isin(keys, pending)
        return dup

    def add(self, keys: np.ndarray, group: int) -> None:
        """Remember the hashes of rows just written by input ``group``."""
        if not len(keys):
            return
        self._pending.append((np.sort(keys), group))
        if len(self._pending) >= _MERGE_EVERY:
            merged_keys = np.concatenate([k for k, _ in self._pending])
            merged_groups = np.concatenate([np.full(len(k), g, dtype=np.int32) for k, g in self._pending])
            self._pending = []
            self._merge(merged_keys, merged_groups)

    def __len__(self) -> int:
        return len(self._keys) + sum(len(k) for k, _ in self._pending)
