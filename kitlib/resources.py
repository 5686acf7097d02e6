"""Where the kit's files are: queries, notebooks, templates, data tables, the analyzer tool.

``queries/`` and ``notebooks/`` live at the top of the repository (the shape users asked for)
and are mapped into the wheel as ``kitlib/_bundled/{queries,notebooks}`` at build time
(``pyproject.toml``). At run time an environment override wins, then the bundled copy of an
installed wheel, then the folders of the checkout an editable install runs from.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from kitlib.environment import NOTEBOOKS_ENV, QUERIES_ENV
from kitlib.errors import UsageError


def _package_dir() -> Path:
    return Path(str(files("kitlib")))


def _bundled_or_checkout(name: str) -> Path:
    bundled = _package_dir() / "_bundled" / name
    if bundled.is_dir():
        return bundled
    return _package_dir().parent / name


def queries_dir() -> Path:
    """``$KITLIB_QUERIES``, else the kit's own query catalog."""
    override = os.environ.get(QUERIES_ENV)
    return Path(override) if override else _bundled_or_checkout("queries")


def notebooks_dir() -> Path:
    """``$KITLIB_NOTEBOOKS``, else the kit's own notebooks."""
    override = os.environ.get(NOTEBOOKS_ENV)
    return Path(override) if override else _bundled_or_checkout("notebooks")


def templates_dir() -> Path:
    """The nbconvert/Jinja templates shipped inside the package."""
    return _package_dir() / "templates"


def data_file(name: str) -> Path:
    """A sourced mapping table shipped inside the package (``kitlib/data/NAME``)."""
    return _package_dir() / "data" / name


def kql_check_dir() -> Path:
    """The KQL analyzer tool: a development tool that exists only in a checkout."""
    folder = _package_dir().parent / "tools" / "kql-check"
    if not folder.is_dir():
        raise UsageError(f"the KQL analyzer check is a development tool: run it from a checkout ({folder} is absent)")
    return folder
