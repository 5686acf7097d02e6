"""``kitlib config check``: the resolved setup as plain text, never a secret, with what needs fixing."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kitlib.settings.auth import describe_cache
from kitlib.settings.config import PROMPTING_MODES, load_config


@dataclass(frozen=True)
class ConfigReport:
    """What ``kitlib config check`` prints, and whether anything needs fixing."""

    text: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        return self.text


def check_config(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ConfigReport:
    """The resolved setup as plain text, without any secret; problems listed at the end.

    Raises ConfigError when no file is found or the file is invalid: there is nothing to show.
    """
    env = os.environ if environ is None else environ
    config = load_config(path, environ=env, cwd=cwd)

    lines = [f"config file: {config.path} (found by {config.found_by})", ""]
    problems: list[str] = []
    for name in sorted(config.workspaces):
        ws = config.workspaces[name]
        lines.append(f"workspace {name}: {ws.kind}" + (f" ({ws.description})" if ws.description else ""))
        if ws.kind == "local":
            exists = ws.path is not None and ws.path.is_dir()
            lines.append(f"  folder: {ws.path}" + ("" if exists else "  [MISSING]"))
            if not exists:
                problems.append(f"workspace {name}: folder {ws.path} does not exist")
            lines.append("")
            continue
        auth = ws.auth
        lines.append(f"  url: {ws.url}")
        lines.append(f"  database: {ws.database}" + ("  (the workspace name)" if ws.kind == "log_analytics" else ""))
        if ws.workspace_id:
            lines.append(f"  workspace id: {ws.workspace_id}")
        lines.append(f"  tenant: {auth.tenant_id or '(organizations: any tenant the account belongs to)'}")
        lines.append(f"  auth: {auth.mode}")
        if auth.client_id:
            lines.append(f"  client id: {auth.client_id}")
        if auth.authority_host:
            lines.append(f"  authority: {auth.authority_host}")
        if auth.scope:
            lines.append(f"  scope: {auth.scope}")
        if auth.login_hint:
            lines.append(f"  login hint: {auth.login_hint}")
        for key, var in (
            ("client secret", auth.client_secret_env),
            ("certificate password", auth.certificate_password_env),
        ):
            if var:
                state = "set" if env.get(var) else "NOT SET"
                lines.append(f"  {key}: from ${var} ({state})")
                if not env.get(var):
                    problems.append(f"workspace {name}: environment variable {var} is not set")
        if auth.certificate_path:
            exists = auth.certificate_path.is_file()
            lines.append(f"  certificate: {auth.certificate_path}" + ("" if exists else "  [MISSING]"))
            if not exists:
                problems.append(f"workspace {name}: certificate {auth.certificate_path} does not exist")
        if auth.mode in PROMPTING_MODES:
            lines.append(f"  token cache: {describe_cache(auth.token_cache)}")
            lines.append(f"  sign in once with: kitlib auth login --workspace {name}")
        lines.append(
            f"  parameters: {ws.param_mode}  server timeout: {_hms(ws.server_timeout)}  attempts: {ws.max_attempts}"
        )
        if ws.split_by:
            queries = ", ".join(ws.split_queries) or "(queries that declare split: by_window)"
            lines.append(f"  split by: {_hms(ws.split_by)} for {queries}")
        lines.append(f"  partial results: {ws.on_partial}")
        lines.append("")
    if problems:
        lines.append(f"{len(problems)} problem(s):")
        lines.extend(f"  problem: {p}" for p in problems)
    else:
        lines.append("no problems found")
    return ConfigReport("\n".join(lines), tuple(problems))


def _hms(span: dt.timedelta) -> str:
    total = int(span.total_seconds())
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return (f"{days}." if days else "") + f"{hours:02d}:{minutes:02d}:{seconds:02d}"
