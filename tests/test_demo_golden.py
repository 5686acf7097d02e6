"""The demo tenant's content, pinned: a hash per table for a fixed seed and size.

Refactoring the generator must not change one value it writes. When a change to the demo is
intended (a new persona, a corrected rule), regenerate the pins on purpose with::

    .venv/bin/python tests/test_demo_golden.py --update

and say in the commit why the tenant changed. The hash covers the Arrow data of every table
(column names, types and values, in row order), not the Parquet bytes, so a writer library
that changes its file metadata does not trip it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

GOLDEN = Path(__file__).parent / "golden" / "demo_tenant.json"
ARGUMENTS = {"users": 120, "days": 10, "seed": 11}
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def content_hashes(folder: Path) -> dict[str, str]:
    """sha256 of each table's Arrow IPC stream (schema metadata dropped), and of the ground truth."""
    hashes = {}
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path).replace_schema_metadata(None)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        hashes[path.stem] = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    truth = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    truth.pop("generator", None)  # names the kit version, which may move on its own
    hashes["ground_truth.json"] = hashlib.sha256(json.dumps(truth, sort_keys=True).encode()).hexdigest()
    return hashes


def _generate(out: Path) -> dict[str, str]:
    from kitlib.demo import generate

    generate(out, now=NOW, **ARGUMENTS)
    return content_hashes(out)


@pytest.mark.slow
def test_demo_tenant_content_is_unchanged(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert _generate(tmp_path) == expected["tables"], (
        "the demo tenant changed; if that is intended, run `python tests/test_demo_golden.py --update` and say why"
    )


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pins = {"arguments": {**ARGUMENTS, "now": NOW.isoformat()}, "tables": _generate(Path(tmp))}
    GOLDEN.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
