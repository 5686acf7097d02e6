"""Shared fixtures: a fixed "now" and small demo tenants generated once per test session."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def now() -> dt.datetime:
    return NOW


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo tenant (300 users x 30 days, fixed seed) with its ground truth beside it."""
    from kitlib.demo import generate

    out = tmp_path_factory.mktemp("demo-tenant")
    generate(out, users=300, days=30, seed=7, now=NOW)
    return out


def readable_text(path: Path) -> str:
    """A run folder file's text, as a person could read it; for the workbook, the XML inside it."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as archive:
            return "\n".join(archive.read(n).decode("utf-8") for n in archive.namelist() if n.endswith(".xml"))
    return path.read_text(encoding="utf-8", errors="replace")
