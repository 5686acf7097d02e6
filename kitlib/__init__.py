"""Phase 2 MFA readiness kit: which Azure user identities break when ARM requires MFA for writes.

The public surface is small on purpose; notebooks and schedulers use these names::

    from kitlib import LocalBackend, run_query
    backend = LocalBackend("build/demo-tenant")
    frame = run_query(backend, "arm_writes_mfa_daily", start=..., end=...).frame
"""

from __future__ import annotations

import logging

from kitlib.backends.base import Backend, QueryResult, window
from kitlib.backends.local import LocalBackend
from kitlib.errors import KitError
from kitlib.query.catalog import Query, get_query, load_catalog
from kitlib.query.run import run_query

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Backend",
    "KitError",
    "LocalBackend",
    "Query",
    "QueryResult",
    "__version__",
    "get_query",
    "load_catalog",
    "run_query",
    "window",
]
