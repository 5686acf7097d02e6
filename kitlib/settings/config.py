"""Named workspaces in a TOML file: where each lives, how to sign in, how to query it.

The file is found in this order, first hit wins: the ``--config`` flag, ``$KITLIB_CONFIG``,
``./kitlib.toml`` in the working folder, ``kitlib.toml`` in the user config folder
(platformdirs). Secrets never live in the file: it names the environment variable that holds
them (``client_secret_env = "KITLIB_CLIENT_SECRET"``), and a literal secret is refused.

Example::

    [defaults]                      # applies to every workspace below
    tenant_id = "00000000-0000-0000-0000-000000000000"
    auth = "device_code"

    [workspaces.prod]
    kind = "log_analytics"
    subscription_id = "11111111-1111-1111-1111-111111111111"
    resource_group = "rg-security"
    workspace_name = "law-security"   # the database name on the ADX proxy

    [workspaces.archive]
    kind = "adx"
    cluster = "https://mycluster.westeurope.kusto.windows.net"
    database = "SignInArchive"
    auth = "client_secret"
    client_id = "22222222-2222-2222-2222-222222222222"
    client_secret_env = "KITLIB_CLIENT_SECRET"
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import platformdirs

from kitlib.environment import CONFIG_ENV
from kitlib.errors import ConfigError
from kitlib.query.binding import BindError, parse_timespan

CONFIG_FILE = "kitlib.toml"

WORKSPACE_KINDS = ("log_analytics", "adx", "local")
AUTH_MODES = ("azcli", "device_code", "interactive", "managed_identity", "client_secret", "certificate")
#: Modes that need a person at a keyboard once; ``kitlib auth login`` primes their cache.
PROMPTING_MODES = ("device_code", "interactive")
PARAM_MODES = ("let", "request")
ON_PARTIAL = ("raise", "warn")

#: Public-cloud host of the Log Analytics ADX proxy (Gov: adx.monitor.azure.us, China: adx.monitor.azure.cn).
LA_PROXY_ENDPOINT = "https://adx.monitor.azure.com"
#: The Log Analytics query API caps one request at 10 minutes.
DEFAULT_SERVER_TIMEOUT = dt.timedelta(minutes=10)

_WORKSPACE_KEYS = frozenset(
    {
        "kind",
        "description",
        # where: Log Analytics
        "subscription_id",
        "resource_group",
        "workspace_name",
        "workspace_id",
        "resource_id",
        "endpoint",
        # where: ADX (or an explicit URL for either)
        "url",
        "cluster",
        "database",
        # where: a local workspace folder
        "path",
        # auth
        "tenant_id",
        "auth",
        "client_id",
        "client_secret_env",
        "certificate_path",
        "certificate_password_env",
        "authority_host",
        "scope",
        "token_cache",
        "login_hint",
        # querying
        "param_mode",
        "server_timeout",
        "split_by",
        "split_queries",
        "max_attempts",
        "on_partial",
        "trusted_hosts",
    }
)
_SECRET_KEYS = frozenset(
    {"client_secret", "secret", "password", "certificate_password", "access_token", "token", "key", "api_key"}
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HHMMSS = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class AuthSettings:
    """How to get a token for one workspace; secrets are referenced by variable name only."""

    mode: str = "azcli"
    tenant_id: str | None = None
    #: Public client id (device code, interactive), app id (secret, certificate), or the
    #: client id of a user-assigned managed identity.
    client_id: str | None = None
    client_secret_env: str | None = None
    certificate_path: Path | None = None
    certificate_password_env: str | None = None
    #: Default: the login endpoint the service's auth metadata names.
    authority_host: str | None = None
    #: Default: ``<KustoServiceResourceId>/.default`` from the service's auth metadata.
    scope: str | None = None
    #: ``user`` (persistent cache in the user cache folder), ``none`` (memory only), or a path.
    token_cache: str = "user"
    login_hint: str | None = None


@dataclass(frozen=True)
class WorkspaceConfig:
    """One named workspace, resolved: the URL and database to send queries to, and how."""

    name: str
    kind: str
    url: str = ""
    database: str = ""
    path: Path | None = None
    description: str = ""
    workspace_id: str | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)
    param_mode: str = "let"
    server_timeout: dt.timedelta = DEFAULT_SERVER_TIMEOUT
    split_by: dt.timedelta | None = None
    split_queries: tuple[str, ...] = ()
    max_attempts: int = 4
    on_partial: str = "raise"
    trusted_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The parsed file and how it was found (for ``kitlib config check``)."""

    path: Path
    found_by: str
    workspaces: Mapping[str, WorkspaceConfig]

    def workspace(self, name: str) -> WorkspaceConfig:
        try:
            return self.workspaces[name]
        except KeyError:
            known = ", ".join(sorted(self.workspaces)) or "none"
            raise ConfigError(f"no workspace named {name!r} in {self.path}; configured: {known}") from None


def user_config_path() -> Path:
    """``kitlib.toml`` in the per-user config folder (``~/.config/kitlib`` on Linux)."""
    return Path(platformdirs.user_config_dir("kitlib", appauthor=False)) / CONFIG_FILE


def find_config(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[Path, str]:
    """The config file to use and why; a ConfigError that lists every place looked otherwise."""
    env = os.environ if environ is None else environ
    if path:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} (from --config) does not exist")
        return explicit, "--config"
    if env.get(CONFIG_ENV):
        from_env = Path(env[CONFIG_ENV]).expanduser()
        if not from_env.is_file():
            raise ConfigError(f"config file {from_env} (from ${CONFIG_ENV}) does not exist")
        return from_env, f"${CONFIG_ENV}"
    local = (cwd or Path.cwd()) / CONFIG_FILE
    if local.is_file():
        return local, "working folder"
    user = user_config_path()
    if user.is_file():
        return user, "user config folder"
    raise ConfigError(
        f"no kitlib config found: looked for --config, ${CONFIG_ENV}, {local}, {user}. "
        f"Create one of them (see the README section 'Connect to your workspace')."
    )


def load_config(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Config:
    """Find, parse and validate the config; every mistake is a ConfigError naming file and key."""
    found, how = find_config(path, environ=environ, cwd=cwd)
    try:
        data = tomllib.loads(found.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{found}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{found}: cannot read: {exc}") from None
    return parse_config(data, found, how)


def parse_config(data: Mapping[str, Any], source: Path, found_by: str = "given") -> Config:
    """Validate already-parsed TOML data (separate from I/O so it is easy to test)."""
    unknown_top = set(data) - {"defaults", "workspaces"}
    if unknown_top:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown_top)}; use [defaults] and [workspaces.NAME]")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: [defaults] must be a table")
    _check_keys(source, "[defaults]", defaults)
    workspaces_raw = data.get("workspaces", {})
    if not isinstance(workspaces_raw, dict) or not workspaces_raw:
        raise ConfigError(f"{source}: no workspaces; add a [workspaces.NAME] table")
    workspaces = {}
    for name, raw in workspaces_raw.items():
        where = f"[workspaces.{name}]"
        if not _NAME.match(name):
            raise ConfigError(f"{source}: {where}: a workspace name uses letters, digits, '_', '-', '.'")
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: {where} must be a table")
        _check_keys(source, where, raw)
        merged = {**defaults, **raw}
        workspaces[name] = _workspace(source, where, name, merged)
    return Config(source, found_by, workspaces)


def _check_keys(source: Path, where: str, table: Mapping[str, Any]) -> None:
    for key in table:
        if key in _SECRET_KEYS:
            raise ConfigError(
                f"{source}: {where}: {key!r} would put a secret in the file; keep it in an environment "
                f'variable and name that variable instead (e.g. client_secret_env = "KITLIB_CLIENT_SECRET")'
            )
        if key not in _WORKSPACE_KEYS:
            close = difflib.get_close_matches(key, sorted(_WORKSPACE_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{source}: {where}: unknown key {key!r}{hint}")


def _workspace(source: Path, where: str, name: str, raw: Mapping[str, Any]) -> WorkspaceConfig:
    def text(key: str, default: str | None = None) -> str | None:
        value = raw.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{source}: {where}: {key} must be a non-empty string")
        return value.strip()

    def choice(key: str, options: tuple[str, ...], default: str) -> str:
        value = text(key, default)
        assert value is not None
        if value not in options:
            raise ConfigError(f"{source}: {where}: {key} = {value!r}; choose one of {', '.join(options)}")
        return value

    def env_name(key: str) -> str | None:
        value = text(key)
        if value is not None and (not _ENV_NAME.match(value) or looks_like_secret(value)):
            # Never echo it: a value that is not a variable name is often the secret itself.
            raise ConfigError(
                f"{source}: {where}: {key} must name an environment variable (letters, digits and _), and the "
                f"{len(value)}-character value given does not look like one; if you pasted the secret itself, "
                f"remove it from the file, rotate it, and put it in an environment variable named here instead"
            )
        return value

    kind = choice("kind", WORKSPACE_KINDS, "log_analytics") if "kind" in raw else None
    if kind is None:
        raise ConfigError(f"{source}: {where}: kind is required ({', '.join(WORKSPACE_KINDS)})")
    description = text("description") or ""
    if kind == "local":
        folder = text("path")
        if folder is None:
            raise ConfigError(f'{source}: {where}: a local workspace needs path = "folder"')
        resolved = Path(folder).expanduser()
        if not resolved.is_absolute():
            resolved = source.parent / resolved
        return WorkspaceConfig(name, kind, path=resolved, description=description)

    url, database = _location(source, where, kind, text)
    mode = choice("auth", AUTH_MODES, "azcli")
    certificate = text("certificate_path")
    cert_path = None
    if certificate is not None:
        cert_path = Path(certificate).expanduser()
        if not cert_path.is_absolute():
            cert_path = source.parent / cert_path
    auth = AuthSettings(
        mode=mode,
        tenant_id=text("tenant_id"),
        client_id=text("client_id"),
        client_secret_env=env_name("client_secret_env"),
        certificate_path=cert_path,
        certificate_password_env=env_name("certificate_password_env"),
        authority_host=_https_url(source, where, "authority_host", text("authority_host")),
        scope=text("scope"),
        token_cache=text("token_cache", "user") or "user",
        login_hint=text("login_hint"),
    )
    if mode == "client_secret" and not (auth.client_id and auth.client_secret_env and auth.tenant_id):
        raise ConfigError(f"{source}: {where}: auth = client_secret needs tenant_id, client_id and client_secret_env")
    if mode == "certificate" and not (auth.client_id and auth.certificate_path and auth.tenant_id):
        raise ConfigError(f"{source}: {where}: auth = certificate needs tenant_id, client_id and certificate_path")

    server_timeout = _span(source, where, "server_timeout", raw.get("server_timeout")) or DEFAULT_SERVER_TIMEOUT
    split_by = _span(source, where, "split_by", raw.get("split_by"))
    split_queries = raw.get("split_queries", [])
    if not isinstance(split_queries, list) or not all(isinstance(q, str) for q in split_queries):
        raise ConfigError(f"{source}: {where}: split_queries must be a list of query names")
    trusted = raw.get("trusted_hosts", [])
    if not isinstance(trusted, list) or not all(isinstance(h, str) and h for h in trusted):
        raise ConfigError(f"{source}: {where}: trusted_hosts must be a list of host names")
    attempts = raw.get("max_attempts", 4)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise ConfigError(f"{source}: {where}: max_attempts must be a whole number from 1 to 10")
    return WorkspaceConfig(
        name,
        kind,
        url=url,
        database=database,
        description=description,
        workspace_id=text("workspace_id"),
        auth=auth,
        param_mode=choice("param_mode", PARAM_MODES, "let" if kind == "log_analytics" else "request"),
        server_timeout=server_timeout,
        split_by=split_by,
        split_queries=tuple(split_queries),
        max_attempts=attempts,
        on_partial=choice("on_partial", ON_PARTIAL, "raise"),
        trusted_hosts=tuple(trusted),
    )


def _location(source: Path, where: str, kind: str, text: Any) -> tuple[str, str]:
    """The service URL and database name from whichever spelling the file uses."""
    url = text("url") or text("cluster")
    database = text("database")
    if kind == "log_analytics":
        if url is None:
            resource_id = text("resource_id")
            if resource_id is None:
                parts = [text("subscription_id"), text("resource_group"), text("workspace_name")]
                if not all(parts):
                    raise ConfigError(
                        f"{source}: {where}: a Log Analytics workspace needs subscription_id, resource_group and "
                        f"workspace_name (or resource_id, or url)"
                    )
                sub, group, ws = parts
                resource_id = (
                    f"/subscriptions/{sub}/resourcegroups/{group}"
                    f"/providers/microsoft.operationalinsights/workspaces/{ws}"
                )
            if not re.match(
                r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.operationalinsights/workspaces/[^/]+$",
                resource_id,
                re.IGNORECASE,
            ):
                raise ConfigError(
                    f"{source}: {where}: resource_id must look like /subscriptions/SUB/resourceGroups/RG/providers/"
                    f"Microsoft.OperationalInsights/workspaces/NAME"
                )
            endpoint = (text("endpoint") or LA_PROXY_ENDPOINT).rstrip("/")
            url = endpoint + resource_id
        # On the ADX proxy the database is the workspace name (case-sensitive).
        database = database or text("workspace_name") or urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]
    elif url is None or database is None:
        raise ConfigError(f"{source}: {where}: an ADX workspace needs cluster (or url) and database")
    checked = _service_url(source, where, url)
    if not database:
        raise ConfigError(f"{source}: {where}: cannot tell the database name; set database")
    return checked, database


def looks_like_secret(value: str) -> bool:
    """A long random-looking string (mixed case and digits) is a secret, not a variable name."""
    kinds = sum(any(test(ch) for ch in value) for test in (str.islower, str.isupper, str.isdigit))
    return len(value) >= 20 and kinds == 3


def _refuse_credentials(source: Path, where: str, key: str, url: str) -> None:
    """A URL that carries a user, password or query string (a SAS token) is refused without being echoed."""
    parsed = urlparse(url)
    if parsed.username or parsed.password or parsed.query or parsed.fragment:
        raise ConfigError(
            f"{source}: {where}: {key} must be a plain service address without credentials or a query string "
            f"(not shown here); the kit signs in with the auth setting, never with a secret in the URL"
        )


def _service_url(source: Path, where: str, url: str) -> str:
    _refuse_credentials(source, where, "url", url)
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise ConfigError(f"{source}: {where}: {url!r} is not an http(s) URL")
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        raise ConfigError(f"{source}: {where}: {url} would send tokens unencrypted; use https")
    return url.rstrip("/")


def _https_url(source: Path, where: str, key: str, url: str | None) -> str | None:
    if url is None:
        return None
    _refuse_credentials(source, where, key, url)
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise ConfigError(f"{source}: {where}: {key} must be an https URL, got {url!r}")
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """True for this machine's own addresses (the only place plain http is acceptable)."""
    return host in ("localhost", "::1") or bool(re.fullmatch(r"127(?:\.\d{1,3}){3}", host))


def _span(source: Path, where: str, key: str, value: Any) -> dt.timedelta | None:
    """A timespan as ``10m``/``1d`` or ``[d.]hh:mm:ss``; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f'{source}: {where}: {key} must be a string such as "10m" or "00:10:00"')
    match = _HHMMSS.match(value.strip())
    try:
        span = (
            dt.timedelta(
                days=int(match.group(1) or 0),
                hours=int(match.group(2)),
                minutes=int(match.group(3)),
                seconds=int(match.group(4)),
            )
            if match
            else parse_timespan(value)
        )
    except BindError as exc:
        raise ConfigError(f"{source}: {where}: {key}: {exc}") from None
    if span <= dt.timedelta(0):
        raise ConfigError(f"{source}: {where}: {key} must be positive")
    return span


def with_overrides(ws: WorkspaceConfig, **changes: Any) -> WorkspaceConfig:
    """A copy of ``ws`` with some fields changed (tests and callers tune one run)."""
    return replace(ws, **changes)
