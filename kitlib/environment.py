"""Every environment variable the kit reads, in one place, with what it is for.

Users set the first group; the batch runner sets the second for the kernels it starts (they
carry run-private state across the process boundary and are removed from any other kernel).
"""

from __future__ import annotations

# -- set by users -------------------------------------------------------------------------------
#: The default workspace (a folder or a configured name) when a notebook or command names none.
WORKSPACE_ENV = "KITLIB_WORKSPACE"
#: The config file, when neither ``--config`` nor ``./kitlib.toml`` is used.
CONFIG_ENV = "KITLIB_CONFIG"
#: The key of the keyed pseudonyms; one key per period keeps pseudonyms stable across reports.
PSEUDONYM_KEY_ENV = "KITLIB_PSEUDONYM_KEY"
#: The folder of trend snapshots a notebook reads when its ``history`` parameter is empty.
HISTORY_ENV = "KITLIB_HISTORY"
#: Another query catalog folder instead of the kit's own ``queries/``.
QUERIES_ENV = "KITLIB_QUERIES"
#: Another notebooks folder instead of the kit's own ``notebooks/``.
NOTEBOOKS_ENV = "KITLIB_NOTEBOOKS"
#: The local engine's memory limit (DuckDB's ``memory_limit``, e.g. ``4GB``; ``none`` for DuckDB's
#: own default of 80% of RAM). Above it, large aggregations spill to a private temp folder.
ENGINE_MEMORY_ENV = "KITLIB_ENGINE_MEMORY"

# -- set by the batch runner for its kernels ----------------------------------------------------
#: Where a kernel records the identities it pseudonymised (read back for the leak check).
PSEUDONYM_LEDGER_ENV = "KITLIB_PSEUDONYM_LEDGER"
#: ``run`` when the runner made a one-off pseudonym key (the report then says so).
PSEUDONYM_KEY_ORIGIN_ENV = "KITLIB_PSEUDONYM_KEY_ORIGIN"
#: A pickled Analysis the runner already computed for the same parameters.
ANALYSIS_CACHE_ENV = "KITLIB_ANALYSIS_CACHE"

#: Variables only the runner may set: removed from the environment of every kernel it starts.
RUNNER_ONLY = (PSEUDONYM_LEDGER_ENV, PSEUDONYM_KEY_ORIGIN_ENV, ANALYSIS_CACHE_ENV)
