"""identities.csv and tools.csv: the analysis as files a spreadsheet can open safely (:mod:`kitlib.safe_csv`)."""

from __future__ import annotations

from pathlib import Path

from kitlib.analysis.model import Analysis
from kitlib.safe_csv import write_csv


def write_exports(analysis: Analysis, out_dir: Path) -> list[Path]:
    """Write identities.csv and tools.csv into ``out_dir`` (created if needed); returns the paths."""
    out_dir = Path(out_dir)
    return [
        write_csv(analysis.identities, out_dir / "identities.csv"),
        write_csv(analysis.tools, out_dir / "tools.csv"),
    ]
