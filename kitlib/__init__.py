"""Phase 2 MFA readiness kit: which Azure user identities break when ARM requires MFA for writes.

The public surface is small on purpose; notebooks and schedulers use these names::

    from kitlib import connect, run_query

    with connect("build/demo-tenant") as backend:          # a folder, or a configured workspace name
        frame = run_query(backend, "arm_writes_mfa_daily").frame

Notebooks import :mod:`kitlib.notebook`, whose ``__all__`` is their documented surface. The code
is laid out by layer, in the order data flows (README, "Code layout").
"""

from __future__ import annotations

import logging

from kitlib.backends.base import Backend, QueryResult, window
from kitlib.backends.connect import connect
from kitlib.backends.local import LocalBackend
from kitlib.errors import KitError
from kitlib.query.catalog import Query, get_query, load_catalog
from kitlib.query.run import run_query
from kitlib.version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Backend",
    "KitError",
    "LocalBackend",
    "Query",
    "QueryResult",
    "__version__",
    "connect",
    "get_query",
    "load_catalog",
    "run_query",
    "window",
]
