"""identities.csv and tools.csv: the analysis as files (booleans spelled ``true``/``false``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kitlib.analysis.model import Analysis


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == bool:
            out[column] = out[column].map({True: "true", False: "false"})
    return out


def write_exports(analysis: Analysis, out_dir: Path) -> list[Path]:
    """Write identities.csv and tools.csv into ``out_dir`` (created if needed); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    identities = out_dir / "identities.csv"
    tools = out_dir / "tools.csv"
    _csv_ready(analysis.identities).to_csv(identities, index=False)
    _csv_ready(analysis.tools).to_csv(tools, index=False)
    return [identities, tools]
