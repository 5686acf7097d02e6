"""The one router from a workspace spec to a backend: a folder means the local engine, a name means config.

Notebooks and the CLI take one ``workspace`` string so that the same notebook runs on the demo
tenant, an imported export, or a live Log Analytics / Azure Data Explorer workspace unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from kitlib.backends.base import Backend
from kitlib.backends.local import LocalBackend
from kitlib.environment import WORKSPACE_ENV
from kitlib.errors import ConfigError, WorkspaceError
from kitlib.settings.config import load_config


def resolve_workspace(spec: str | os.PathLike[str] | None) -> str:
    """The spec itself, else ``$KITLIB_WORKSPACE``, else a clear error saying how to choose one."""
    text = str(spec) if spec else os.environ.get(WORKSPACE_ENV, "")
    if not text:
        raise WorkspaceError(
            f"no workspace given: pass a workspace folder or a configured workspace name, or set {WORKSPACE_ENV}"
        )
    return text


def connect(
    spec: str | os.PathLike[str] | None = None,
    *,
    now: dt.datetime | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> Backend:
    """A backend for ``spec``: an existing folder opens the local engine; a name opens its config entry."""
    text = resolve_workspace(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return LocalBackend(path, now=now)
    if os.sep in text or text.startswith("."):
        raise WorkspaceError(f"workspace folder {path} does not exist")
    try:
        ws = load_config(str(config_path) if config_path is not None else None).workspace(text)
    except ConfigError as exc:
        # A mistyped folder name lands here too: say both things it could have been.
        raise WorkspaceError(f"{text!r} is neither a workspace folder nor a configured workspace: {exc}") from None
    if ws.kind == "local":
        if ws.path is None:  # the config loader requires a path for local workspaces
            raise WorkspaceError(f"configured workspace {text!r} names no folder")
        return LocalBackend(ws.path, now=now)
    # deferred: the live client (azure-kusto-data, msal) loads only when a live workspace is opened
    from kitlib.backends.kusto import open_workspace

    return open_workspace(ws, now=now)


def workspace_label(spec: str) -> str:
    """What the header calls the workspace: a folder's name (not its full path) or the config name."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return f"{path.resolve().name} (local folder)"
    return spec
