"""CSV files that are safe to open in a spreadsheet, and read back to the same values.

Values come from the logs, and an attacker chooses many of them (a user agent, a display name,
a resource name). Two things go wrong when such a CSV is opened in Excel or LibreOffice:

- **Formulas run.** A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return is read as a formula (OWASP "CSV injection"). Every such text cell is written with one
  leading apostrophe, :data:`FORMULA_PREFIX`, which spreadsheets show as text. A text cell that
  already starts with an apostrophe gets one too, so the prefix can always be removed again.
- **Rows break.** A bare carriage return or another control character inside a cell splits a row
  in some readers. Every text cell is quoted (numbers are not), so no character can end a row.

:func:`read_csv` undoes the prefix: reading our own CSV back gives the same rows and values.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd

#: What a formula-looking cell starts with in a CSV the kit writes (removed by :func:`read_csv`).
FORMULA_PREFIX = "'"
#: A cell starting with one of these is a formula to a spreadsheet (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value: Any) -> Any:
    """``value`` with :data:`FORMULA_PREFIX` in front when a spreadsheet would run it; others unchanged."""
    if not isinstance(value, str) or not value:
        return value
    # Spreadsheets skip leading spaces before deciding that a cell is a formula.
    if value[0] in FORMULA_STARTS or value.lstrip(" ")[:1] in FORMULA_STARTS or value[0] == FORMULA_PREFIX:
        return FORMULA_PREFIX + value
    return value


def restore(value: Any) -> Any:
    """The value :func:`neutralise` was given."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIX):
        return value[len(FORMULA_PREFIX) :]
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, (list, tuple, dict)):  # dynamic values: kept as JSON text
        return neutralise(json.dumps(value, default=str, ensure_ascii=False))
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as formulas (booleans spelled true/false)."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_bool_dtype(series):
            out[column] = series.map({True: "true", False: "false"})
        elif series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            out[column] = series.map(_cell)
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` as a spreadsheet-safe CSV (text neutralised and quoted)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe_frame(frame).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    return path


def read_csv(path: Path, **options: Any) -> pd.DataFrame:
    """Read a CSV this module wrote, with the formula prefix removed again."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], **options)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(restore)
    return frame
