"""Glued values: scrapbook's wire format for JSON values, written in a kernel, read from executed notebooks.

``glue()`` writes mimetype ``application/scrapbook.scrap.json+json`` with payload ``{name, data,
encoder, version}``, so scrapbook can still read our notebooks without depending on the
unmaintained package. The HTML export drops these outputs; the runner reads them into the manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from kitlib.errors import UsageError

if TYPE_CHECKING:
    import nbformat


GLUE_MIMETYPE = "application/scrapbook.scrap.json+json"


GLUE_PREFIX = "application/scrapbook.scrap."


#: Name of the glued record the exporter turns into the report header.
RUN_GLUE = "kitlib.run"


#: Output metadata key marking displays meant for the live notebook only (dropped from HTML).
LIVE_ONLY = "kitlib_live_only"


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars, timestamps and frames become their JSON equivalents."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _jsonable(item())
    raise UsageError(f"glue() takes JSON values (numbers, strings, lists, dicts), not {type(value).__name__}")


def glue_bundle(name: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (data, metadata) display bundle for one glued value, in scrapbook's shape."""
    payload = {"name": name, "data": _jsonable(value), "encoder": "json", "version": 1}
    json.dumps(payload)  # fail here, in the notebook, rather than at export
    return {GLUE_MIMETYPE: payload}, {"scrapbook": {"name": name, "data": True, "display": False}}


def glue(name: str, value: Any) -> None:
    """Record ``value`` under ``name`` in the notebook's outputs (read back with read_glued)."""
    from IPython.display import display  # deferred: only a kernel displays; the runner never needs IPython

    data, metadata = glue_bundle(name, value)
    display(data, raw=True, metadata=metadata)


def read_glued(notebook: nbformat.NotebookNode | Path | str) -> dict[str, Any]:
    """Every glued value in an executed notebook by name; the last one wins on repeats."""
    import nbformat  # deferred: it imports jsonschema (seconds of CPU), which kernels never need

    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(str(notebook), as_version=4)
    values: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for mimetype, payload in output.get("data", {}).items():
                if mimetype.startswith(GLUE_PREFIX) and isinstance(payload, Mapping) and "name" in payload:
                    values[str(payload["name"])] = payload.get("data")
    return values
