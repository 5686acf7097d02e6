"""Tokens for the live backends, from a cache that outlives the kernel.

``azure-kusto-data``'s own interactive and device-code providers keep tokens in memory only,
so every new kernel (every papermill run) would prompt again. Here an MSAL application owns a
persistent cache: encrypted by the platform (DPAPI, Keychain, libsecret) where it can be, else
a plain file readable only by its owner (0600), with a warning. ``kitlib auth login`` signs in
once; later runs go through ``acquire_token_silent`` and never prompt.

A :class:`TokenProvider` is the zero-argument callable ``KustoConnectionStringBuilder.
with_token_provider`` wants. The client calls it before every request and keeps nothing, so
each call asks the cache: a token that expires in the middle of a batch is refreshed with the
refresh token instead of failing. After a 401 the backend calls :meth:`TokenProvider.refresh`
once, which makes the next call bypass the cached access token.

Tokens are never logged, never put in an exception message, never returned by ``repr``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msal
import platformdirs
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import AzureCliCredential, CredentialUnavailableError
from azure.kusto.data._cloud_settings import CloudSettings
from azure.kusto.data.exceptions import KustoServiceError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from msal_extensions import FilePersistence, PersistedTokenCache, build_encrypted_persistence

from kitlib.errors import AuthError, ConfigError
from kitlib.settings.config import PROMPTING_MODES, AuthSettings, WorkspaceConfig, load_config

log = logging.getLogger(__name__)

#: Tokens with less life left than this are treated as expired (MSAL uses the same margin).
EXPIRY_MARGIN_SECONDS = 300
CACHE_FILE = "msal_token_cache.bin"

_KNOWN_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
    }
)


@dataclass(frozen=True)
class ServiceAuth:
    """What to ask the identity provider for: resolved from settings and service metadata."""

    authority_host: str
    scope: str
    client_id: str


def default_cache_path() -> Path:
    """The per-user token cache file (``~/.cache/kitlib/msal_token_cache.bin`` on Linux)."""
    return Path(platformdirs.user_cache_dir("kitlib", appauthor=False)) / CACHE_FILE


def cache_location(setting: str) -> Path | None:
    """Where the ``token_cache`` setting puts the cache; None means memory only."""
    if setting == "none":
        return None
    if setting == "user":
        return default_cache_path()
    return Path(setting).expanduser()


def describe_cache(setting: str) -> str:
    """One line for ``kitlib config check``: where tokens are kept and how they are protected."""
    location = cache_location(setting)
    if location is None:
        return "memory only (every new process signs in again)"
    return f"{location} ({_encryption_available_text()})"


def _encryption_available_text() -> str:
    if sys.platform.startswith("win"):
        return "encrypted with DPAPI"
    if sys.platform.startswith("darwin"):
        return "encrypted in the Keychain"
    try:
        # deferred: libsecret's bindings exist only on some Linux desktops; importing them is the probe
        from msal_extensions.libsecret import trial_run

        trial_run()
        return "encrypted with libsecret"
    except Exception:
        return "plain file, mode 0600: no keyring available here"


def open_token_cache(setting: str) -> Any:
    """An MSAL token cache for ``setting``: encrypted persistence if possible, else a 0600 file."""
    location = cache_location(setting)
    if location is None:
        return msal.TokenCache()
    # A folder the kit creates is private; a folder the user named (perhaps shared, mode 1777) keeps
    # its mode: only the cache file itself is restricted.
    if not location.parent.exists():
        location.parent.mkdir(mode=0o700, parents=True)
    try:
        persistence = build_encrypted_persistence(str(location))
    except Exception as exc:
        log.warning(
            "no encrypted token store on this machine (%s); keeping the token cache in %s, "
            "readable only by you (mode 0600)",
            type(exc).__name__,
            location,
        )
        if location.parent == default_cache_path().parent:
            _restrict(location.parent, 0o700)
        if not location.exists():
            os.close(os.open(location, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        _restrict(location, 0o600)
        persistence = FilePersistence(str(location))
    return PersistedTokenCache(persistence)


def _restrict(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except OSError as exc:
        log.warning("could not restrict permissions of %s: %s", path, exc)


def resolve_service(cluster_url: str, settings: AuthSettings) -> ServiceAuth:
    """Authority, scope and client id: config first, else the service's ``/v1/rest/auth/metadata``.

    Reuses the client library's own metadata lookup (and cache) so the scope matches what its
    built-in providers would request, including the ``kustomfa`` audience when the service
    says MFA is required.
    """
    if settings.authority_host and settings.scope and (settings.client_id or settings.mode not in PROMPTING_MODES):
        return ServiceAuth(settings.authority_host, settings.scope, settings.client_id or "")

    try:
        cloud = CloudSettings.get_cloud_info_for_cluster(cluster_url)
    except KustoServiceError as exc:
        raise AuthError(
            f"cannot read the sign-in metadata of {cluster_url} ({type(exc).__name__}); "
            f"check the URL, or set authority_host, scope and client_id in the config"
        ) from None
    resource = cloud.kusto_service_resource_id
    if cloud.login_mfa_required:
        resource = resource.replace(".kusto.", ".kustomfa.")
    return ServiceAuth(
        authority_host=(settings.authority_host or cloud.login_endpoint).rstrip("/"),
        scope=settings.scope or resource.rstrip("/") + "/.default",
        client_id=settings.client_id or cloud.kusto_client_app_id,
    )


class TokenProvider:
    """Zero-argument callable returning a bearer token; every call goes through the cache.

    Subclasses implement ``_acquire(force_refresh)``; :meth:`login` is the one place that may
    prompt a person.
    """

    mode = ""

    def __init__(self, settings: AuthSettings, service: ServiceAuth) -> None:
        self.settings = settings
        self.service = service
        self._force_refresh = False
        self._lock = threading.Lock()
        self.refreshes = 0

    def __call__(self) -> str:
        with self._lock:
            force, self._force_refresh = self._force_refresh, False
            token = self._acquire(force)
        if not token:
            raise AuthError(f"{self.mode}: the identity provider returned no access token")
        return token

    def refresh(self) -> None:
        """Make the next call fetch a new access token instead of the cached one."""
        with self._lock:
            self._force_refresh = True
            self.refreshes += 1

    def login(self, prompt: Callable[[str], None] = print) -> str:
        """Get a token now (prompting where the mode needs a person); returns who signed in."""
        self()
        return self.account_name()

    def account_name(self) -> str:
        return self.mode

    def _acquire(self, force_refresh: bool) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} mode={self.mode} scope={self.service.scope}>"


def _authority(service: ServiceAuth, settings: AuthSettings) -> tuple[str, bool | None]:
    """The authority URL, and whether MSAL may do instance discovery for its host."""
    host = urlparse(service.authority_host).hostname or ""
    discovery = None if host in _KNOWN_LOGIN_HOSTS else False
    return f"{service.authority_host}/{settings.tenant_id or 'organizations'}", discovery


def _msal_error(result: dict[str, Any] | None, what: str) -> AuthError:
    if not result:
        return AuthError(f"{what}: no token and no error from the identity provider")
    code = result.get("error", "unknown_error")
    description = str(result.get("error_description", "")).splitlines()[0] if result.get("error_description") else ""
    return AuthError(f"{what}: {code}: {description}".rstrip(": "))


class PublicClientProvider(TokenProvider):
    """Device code or interactive browser sign-in once, then silent refreshes from the cache."""

    def __init__(self, settings: AuthSettings, service: ServiceAuth, workspace: str = "") -> None:
        super().__init__(settings, service)

        self.mode = settings.mode
        self.workspace = workspace
        authority, discovery = _authority(service, settings)
        self.cache = open_token_cache(settings.token_cache)
        try:
            self.app = msal.PublicClientApplication(
                service.client_id, authority=authority, token_cache=self.cache, instance_discovery=discovery, timeout=30
            )
        except (ValueError, OSError) as exc:
            raise AuthError(f"cannot reach the identity provider at {authority}: {exc}") from None

    def _account(self) -> dict[str, Any] | None:
        accounts = (
            self.app.get_accounts(username=self.settings.login_hint)
            if self.settings.login_hint
            else self.app.get_accounts()
        )
        if len(accounts) > 1:
            names = ", ".join(sorted(a.get("username", "?") for a in accounts))
            raise AuthError(
                f"the token cache holds several accounts ({names}); set login_hint in the config to pick one"
            )
        return accounts[0] if accounts else None

    def _acquire(self, force_refresh: bool) -> str:
        account = self._account()
        hint = f"kitlib auth login --workspace {self.workspace}" if self.workspace else "kitlib auth login"
        if account is None:
            raise AuthError(f"not signed in for this workspace ({self.mode}); run: {hint}")
        result = self.app.acquire_token_silent_with_error(
            [self.service.scope], account=account, force_refresh=force_refresh
        )
        if result and "access_token" in result:
            return str(result["access_token"])
        error = _msal_error(result, "the cached sign-in can no longer be refreshed")
        raise AuthError(f"{error}; sign in again with: {hint}")

    def login(self, prompt: Callable[[str], None] = print) -> str:
        scopes = [self.service.scope]
        if self.mode == "device_code":
            flow = self.app.initiate_device_flow(scopes=scopes)
            if "user_code" not in flow:
                raise _msal_error(flow, "device code sign-in could not start")
            prompt(str(flow["message"]))
            result = self.app.acquire_token_by_device_flow(flow)
        else:
            result = self.app.acquire_token_interactive(
                scopes, login_hint=self.settings.login_hint, prompt="select_account", timeout=300
            )
        if not result or "access_token" not in result:
            raise _msal_error(result, f"{self.mode} sign-in failed")
        claims = result.get("id_token_claims") or {}
        return str(claims.get("preferred_username") or claims.get("upn") or claims.get("oid") or "signed in")

    def account_name(self) -> str:
        account = self._account()
        return str(account.get("username")) if account else "not signed in"


class ConfidentialClientProvider(TokenProvider):
    """A service principal with a secret or a certificate, both read from outside the config."""

    def __init__(self, settings: AuthSettings, service: ServiceAuth, environ: Any = None) -> None:
        super().__init__(settings, service)
        self.mode = settings.mode
        self._environ = os.environ if environ is None else environ
        self._app: Any = None

    def _credential(self) -> Any:
        settings = self.settings
        if settings.mode == "client_secret":
            var = settings.client_secret_env or ""
            secret = self._environ.get(var)
            if not secret:
                raise ConfigError(f"auth = client_secret: environment variable {var} is not set")
            return secret
        path = settings.certificate_path
        if path is None or not path.is_file():
            raise ConfigError(f"auth = certificate: certificate file {path} does not exist")
        password = self._environ.get(settings.certificate_password_env) if settings.certificate_password_env else None
        if settings.certificate_password_env and not password:
            raise ConfigError(
                f"auth = certificate: environment variable {settings.certificate_password_env} is not set"
            )
        if path.suffix.lower() in (".pfx", ".p12"):
            credential: dict[str, Any] = {"private_key_pfx_path": str(path)}
            if password:
                credential["passphrase"] = password
            return credential
        return _pem_credential(path, password)

    def _build(self) -> Any:
        authority, discovery = _authority(self.service, self.settings)
        try:
            return msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=self._credential(),
                authority=authority,
                instance_discovery=discovery,
                timeout=30,
            )
        except (ValueError, OSError) as exc:
            raise AuthError(f"cannot set up the service principal sign-in at {authority}: {exc}") from None

    def _acquire(self, force_refresh: bool) -> str:
        if self._app is None or force_refresh:
            # A new application has an empty in-memory cache: the next token is a fresh one.
            self._app = self._build()
        result = self._app.acquire_token_for_client(scopes=[self.service.scope])
        if not result or "access_token" not in result:
            raise _msal_error(result, f"service principal {self.settings.client_id} could not get a token")
        return str(result["access_token"])

    def account_name(self) -> str:
        return f"service principal {self.settings.client_id}"


def _pem_credential(path: Path, password: str | None) -> dict[str, Any]:
    """MSAL's certificate credential from a PEM file holding the private key and certificate."""
    data = path.read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"auth = certificate: {path} must hold a PEM private key and certificate ({exc})") from None
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),
    }


class ManagedIdentityProvider(TokenProvider):
    """The managed identity of the VM, container, App Service or Automation account we run on."""

    mode = "managed_identity"

    def __init__(self, settings: AuthSettings, service: ServiceAuth) -> None:
        super().__init__(settings, service)
        self._client: Any = None

    def _build(self) -> Any:
        identity = (
            msal.UserAssignedManagedIdentity(client_id=self.settings.client_id)
            if self.settings.client_id
            else msal.SystemAssignedManagedIdentity()
        )
        return msal.ManagedIdentityClient(identity, http_client=requests.Session())

    def _acquire(self, force_refresh: bool) -> str:
        if self._client is None or force_refresh:
            self._client = self._build()
        resource = self.service.scope.removesuffix("/.default")
        try:
            result = self._client.acquire_token_for_client(resource=resource)
        except Exception as exc:
            raise AuthError(f"managed identity is not available here ({type(exc).__name__}: {exc})") from None
        if not result or "access_token" not in result:
            raise _msal_error(result, "managed identity could not get a token")
        return str(result["access_token"])

    def account_name(self) -> str:
        return f"managed identity {self.settings.client_id or '(system-assigned)'}"


class AzureCliProvider(TokenProvider):
    """The account ``az login`` signed in; tokens are reused until shortly before they expire."""

    mode = "azcli"

    def __init__(self, settings: AuthSettings, service: ServiceAuth) -> None:
        super().__init__(settings, service)
        self._token: str | None = None
        self._expires_on = 0.0

    def _acquire(self, force_refresh: bool) -> str:
        if self._token and not force_refresh and self._expires_on - time.time() > EXPIRY_MARGIN_SECONDS:
            return self._token

        credential = (
            AzureCliCredential(tenant_id=self.settings.tenant_id) if self.settings.tenant_id else AzureCliCredential()
        )
        try:
            access = credential.get_token(self.service.scope)
        except CredentialUnavailableError as exc:
            raise AuthError(
                f"Azure CLI sign-in is not available: {_first_line(exc)}; install the Azure CLI and run: az login"
            ) from None
        except ClientAuthenticationError as exc:
            raise AuthError(f"Azure CLI could not get a token: {_first_line(exc)}; run: az login") from None
        self._token, self._expires_on = access.token, float(access.expires_on)
        return self._token

    def account_name(self) -> str:
        return "the Azure CLI's signed-in account"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def build_provider(settings: AuthSettings, cluster_url: str, workspace: str = "") -> TokenProvider:
    """The provider for ``settings``, with scope and authority resolved against ``cluster_url``."""
    service = resolve_service(cluster_url, settings)
    if settings.mode in PROMPTING_MODES:
        return PublicClientProvider(settings, service, workspace)
    if settings.mode in ("client_secret", "certificate"):
        return ConfidentialClientProvider(settings, service)
    if settings.mode == "managed_identity":
        return ManagedIdentityProvider(settings, service)
    if settings.mode == "azcli":
        return AzureCliProvider(settings, service)
    raise ConfigError(f"unknown auth mode {settings.mode!r}")


def login(
    workspace: str | None = None,
    config_path: Path | str | None = None,
    *,
    prompt: Callable[[str], None] = print,
) -> str:
    """Sign in for one configured workspace (or all), priming the cache; returns a summary.

    Workspaces that share an identity provider, client and scope share one sign-in.
    """
    config = load_config(config_path)
    targets: list[WorkspaceConfig] = (
        [config.workspace(workspace)] if workspace else [config.workspaces[n] for n in sorted(config.workspaces)]
    )
    lines: list[str] = []
    done: dict[tuple[str, ...], str] = {}
    for ws in targets:
        if ws.kind == "local":
            lines.append(f"{ws.name}: local folder, no sign-in needed")
            continue
        provider = build_provider(ws.auth, ws.url, ws.name)
        key = (
            ws.auth.mode,
            provider.service.authority_host,
            ws.auth.tenant_id or "",
            provider.service.client_id,
            provider.service.scope,
        )
        if key in done:
            lines.append(f"{ws.name}: {ws.auth.mode}: same sign-in as above ({done[key]})")
            continue
        who = provider.login(prompt)
        done[key] = who
        where = ""
        if ws.auth.mode in PROMPTING_MODES:
            where = f"; token cache: {describe_cache(ws.auth.token_cache)}"
        lines.append(f"{ws.name}: {ws.auth.mode}: signed in as {who}{where}")
        log.info("signed in for workspace %s (%s)", ws.name, ws.auth.mode)
    return "\n".join(lines)


def token_fingerprint(token: str) -> str:
    """A short, non-reversible tag for a token, for tests and diagnostics (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]
