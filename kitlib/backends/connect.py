"""Open the backend a workspace spec names: a folder means the local engine, a name means config.

Notebooks and the CLI take one ``workspace`` string so that the same notebook runs on the demo
tenant, an imported export, or a live Log Analytics / Azure Data Explorer workspace unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from kitlib.backends.base import Backend
from kitlib.errors import ConfigError, WorkspaceError

#: Environment variable naming the default workspace (``make lab`` points it at the demo tenant).
WORKSPACE_ENV = "KITLIB_WORKSPACE"


def resolve_workspace(spec: str | os.PathLike[str] | None) -> str:
    """The spec itself, else ``$KITLIB_WORKSPACE``, else a clear error saying how to choose one."""
    text = str(spec) if spec else os.environ.get(WORKSPACE_ENV, "")
    if not text:
        raise WorkspaceError(
            f"no workspace given: pass a workspace folder or a configured workspace name, or set {WORKSPACE_ENV}"
        )
    return text


def connect(
    spec: str | os.PathLike[str] | None = None, *, now: dt.datetime | None = None, config_path: str | None = None
) -> Backend:
    """A backend for ``spec``: an existing folder opens the local engine; a name opens config."""
    text = resolve_workspace(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        from kitlib.backends.local import LocalBackend

        return LocalBackend(path, now=now)
    if os.sep in text or text.startswith("."):
        raise WorkspaceError(f"workspace folder {path} does not exist")
    from kitlib.backends.kusto import open_named

    try:
        backend: Backend = open_named(text, now=now, config_path=config_path)
    except ConfigError as exc:
        # A mistyped folder name lands here too: say both things it could have been.
        raise WorkspaceError(f"{text!r} is neither a workspace folder nor a configured workspace: {exc}") from None
    return backend
