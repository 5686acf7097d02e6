"""Sign-in modes against the stand-in identity provider, with MSAL's real flows.

The stand-in serves OIDC discovery, device code, authorization code, refresh-token and
client-credential grants over https on 127.0.0.1 (with a throwaway CA in REQUESTS_CA_BUNDLE),
and an App Service style managed-identity endpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from standin_kusto import CLIENT_APP_ID, USER, StandinKusto, write_sample_workspace

from kitlib.backends.kusto import KustoBackend, LiveOptions
from kitlib.errors import AuthError, ConfigError
from kitlib.query.catalog import get_query
from kitlib.settings.auth import (
    AzureCliProvider,
    ConfidentialClientProvider,
    ManagedIdentityProvider,
    PublicClientProvider,
    build_provider,
    describe_cache,
    login,
    resolve_service,
)
from kitlib.settings.config import AuthSettings

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
TESTS = Path(__file__).resolve().parent
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_workspace(tmp_path_factory.mktemp("auth-ws"), NOW, days=3)


@pytest.fixture
def standin(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinKusto]:
    with StandinKusto(workspace, now=NOW, max_lifetime=120) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


def config_file(tmp_path: Path, server: StandinKusto, **extra: str) -> Path:
    lines = [
        "[workspaces.standin]",
        'kind = "log_analytics"',
        f'url = "{server.url}"',
        f'tenant_id = "{server.tenant_id}"',
        'auth = "device_code"',
        f'token_cache = "{tmp_path / "cache" / "tokens.bin"}"',
    ]
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    path = tmp_path / "kitlib.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def device_settings(server: StandinKusto, cache: Path, **changes: object) -> AuthSettings:
    return AuthSettings(mode="device_code", tenant_id=server.tenant_id, token_cache=str(cache), **changes)  # type: ignore[arg-type]


def test_scope_authority_and_client_come_from_the_service_metadata(standin: StandinKusto, tmp_path: Path) -> None:
    service = resolve_service(standin.url, AuthSettings(mode="device_code"))
    assert service.authority_host == standin.idp
    assert service.scope == "https://kusto.standin.example/.default"
    assert service.client_id == CLIENT_APP_ID
    pinned = resolve_service(
        standin.url, AuthSettings(mode="device_code", scope="https://api.example/.default", client_id="my-app")
    )
    assert (pinned.scope, pinned.client_id) == ("https://api.example/.default", "my-app")


def test_login_primes_a_persistent_cache_that_a_new_process_uses_without_prompting(
    standin: StandinKusto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_file(tmp_path, standin)
    prompts: list[str] = []
    with caplog.at_level(logging.WARNING, logger="kitlib.settings.auth"):
        summary = login("standin", config, prompt=prompts.append)
    assert prompts == [f"To sign in, open {standin.idp}/devicelogin and enter the code STANDIN1."]
    assert f"standin: device_code: signed in as {USER}" in summary
    cache = tmp_path / "cache" / "tokens.bin"
    assert cache.is_file()
    if "plain file" in describe_cache(str(cache)):
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
        assert stat.S_IMODE(cache.parent.stat().st_mode) & 0o077 == 0
        assert "no encrypted token store on this machine" in caplog.text
    assert standin.grants == [DEVICE_GRANT]
    # A scheduled run is a new process: it must get its token from the cache, silently.
    script = textwrap.dedent(
        """
        import datetime as dt, sys
        from kitlib.backends.connect import connect
        from kitlib.query.run import run_query
        backend = connect("standin", now=dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc))
        result = run_query(backend, "arm_writes_mfa_daily", now=backend.now, lookback=dt.timedelta(days=2))
        print(result.rows)
        """
    )
    env = {**os.environ, "KITLIB_CONFIG": str(config), "REQUESTS_CA_BUNDLE": standin.ca_file}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) > 0
    assert standin.grants == [DEVICE_GRANT]  # no second sign-in, not even a refresh
    assert [r.status for r in standin.queries()] == [200]


def test_a_workspace_nobody_signed_in_for_says_how_to_sign_in(standin: StandinKusto, tmp_path: Path) -> None:
    provider = build_provider(device_settings(standin, tmp_path / "empty.bin"), standin.url, "standin")
    with pytest.raises(
        AuthError,
        match="not signed in for this workspace \\(device_code\\); run: kitlib auth login --workspace standin",
    ):
        provider()
    assert standin.grants == []


def test_tokens_expiring_mid_batch_are_refreshed_from_the_cache(standin: StandinKusto, tmp_path: Path) -> None:
    standin.token_lifetime = 120  # inside MSAL's 5-minute margin: each call needs a fresh token
    provider = build_provider(device_settings(standin, tmp_path / "c.bin"), standin.url, "standin")
    provider.login(prompt=lambda message: None)
    live = KustoBackend(standin.url, standin.database, provider, options=LiveOptions(backoff_base=0.01))
    for _ in range(3):
        assert live.run(get_query("arm_writes_mfa_daily"), {"start": NOW - dt.timedelta(days=2), "end": NOW}).rows > 0
    used = [r.token_id for r in standin.queries()]
    assert len(set(used)) == 3 and [r.status for r in standin.queries()] == [200, 200, 200]
    assert standin.grants == [DEVICE_GRANT, "refresh_token", "refresh_token", "refresh_token"]


def test_a_revoked_refresh_token_asks_for_a_new_sign_in(standin: StandinKusto, tmp_path: Path) -> None:
    standin.token_lifetime = 120
    provider = build_provider(device_settings(standin, tmp_path / "c.bin"), standin.url, "standin")
    provider.login(prompt=lambda message: None)
    standin._issued.refresh.clear()  # an administrator revoked the sessions
    with pytest.raises(AuthError, match=r"invalid_grant.*sign in again with: kitlib auth login --workspace standin"):
        provider()


def test_interactive_browser_sign_in_completes_through_the_redirect(standin: StandinKusto, tmp_path: Path) -> None:
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\n"{sys.executable}" "{TESTS / "standin_kusto.py"}" browse "$1" >/dev/null 2>&1 &\n')
    browser.chmod(0o755)
    cache = tmp_path / "c.bin"
    script = textwrap.dedent(
        f"""
        from kitlib.settings.auth import build_provider
        from kitlib.settings.config import AuthSettings
        settings = AuthSettings(mode="interactive", tenant_id={standin.tenant_id!r}, token_cache={str(cache)!r})
        provider = build_provider(settings, {standin.url!r}, "standin")
        print(provider.login())
        """
    )
    env = {**os.environ, "BROWSER": str(browser), "REQUESTS_CA_BUNDLE": standin.ca_file, "PYTHONPATH": str(TESTS)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == USER
    assert standin.grants == ["authorization_code"]
    provider = build_provider(
        AuthSettings(mode="interactive", tenant_id=standin.tenant_id, token_cache=str(cache)), standin.url
    )
    assert provider.account_name() == USER and provider()  # the cache file serves later runs


def test_service_principal_secret_comes_from_the_named_environment_variable(
    standin: StandinKusto, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = AuthSettings(
        mode="client_secret", tenant_id=standin.tenant_id, client_id="sp-app", client_secret_env="KITLIB_TEST_SP_SECRET"
    )
    provider = build_provider(settings, standin.url)
    assert isinstance(provider, ConfidentialClientProvider)
    with pytest.raises(ConfigError, match="KITLIB_TEST_SP_SECRET is not set"):
        provider()
    monkeypatch.setenv("KITLIB_TEST_SP_SECRET", "wrong")
    with pytest.raises(AuthError, match="invalid_client"):
        provider()
    monkeypatch.setenv("KITLIB_TEST_SP_SECRET", standin.client_secret)
    provider.refresh()  # a new application: the secret is read again
    token = provider()
    assert token == provider()  # cached in memory: one grant for both calls
    assert standin.grants.count("client_credentials") == 2  # the refused one and the good one
    provider.refresh()
    assert provider() != token


def test_service_principal_certificate_signs_a_client_assertion(standin: StandinKusto, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kitlib-sp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "sp.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    settings = AuthSettings(
        mode="certificate",
        tenant_id=standin.tenant_id,
        client_id="sp-app",
        certificate_path=pem,
        certificate_password_env="KITLIB_TEST_CERT_PW",
    )
    provider = ConfidentialClientProvider(
        settings, resolve_service(standin.url, settings), environ={"KITLIB_TEST_CERT_PW": "pw"}
    )
    with pytest.raises(AuthError, match="AADSTS700027"):
        provider()
    standin.certificate_thumbprints.add(cert.fingerprint(hashes.SHA1()).hex().upper())
    provider.refresh()
    assert provider().startswith("standin-at.")
    wrong = ConfidentialClientProvider(settings, provider.service, environ={"KITLIB_TEST_CERT_PW": "nope"})
    with pytest.raises(ConfigError, match="must hold a PEM private key"):
        wrong()


def test_managed_identity_uses_the_platform_endpoint(standin: StandinKusto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", standin.msi_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", standin.identity_header)
    provider = build_provider(AuthSettings(mode="managed_identity"), standin.url)
    assert isinstance(provider, ManagedIdentityProvider)
    live = KustoBackend(standin.url, standin.database, provider)
    assert live.run(get_query("arm_writes_mfa_daily"), {"start": NOW - dt.timedelta(days=2), "end": NOW}).rows > 0
    assert standin.grants == ["managed_identity"]


def test_managed_identity_where_there_is_none_is_a_clear_error(
    standin: StandinKusto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", standin.msi_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    provider = build_provider(AuthSettings(mode="managed_identity"), standin.url)
    with pytest.raises(AuthError, match="managed identity"):
        provider()


@pytest.mark.skipif(shutil.which("az") is not None, reason="the Azure CLI is installed here")
def test_azure_cli_mode_without_the_cli_says_how_to_get_it(standin: StandinKusto) -> None:
    provider = build_provider(AuthSettings(mode="azcli"), standin.url)
    assert isinstance(provider, AzureCliProvider)
    with pytest.raises(AuthError, match=r"Azure CLI sign-in is not available.*az login"):
        provider()


def test_login_for_all_workspaces_signs_in_once_per_identity(standin: StandinKusto, tmp_path: Path) -> None:
    path = config_file(tmp_path, standin)
    text = path.read_text() + path.read_text().replace("[workspaces.standin]", "[workspaces.second]")
    text += '\n[workspaces.folder]\nkind = "local"\npath = "."\n'
    path.write_text(text)
    summary = login(None, path, prompt=lambda message: None)
    lines = summary.splitlines()
    assert lines[0] == "folder: local folder, no sign-in needed"
    assert lines[1].startswith(f"second: device_code: signed in as {USER}; token cache: ")
    assert lines[2] == f"standin: device_code: same sign-in as above ({USER})"
    assert standin.grants == [DEVICE_GRANT]


def test_memory_only_cache_is_described_as_such() -> None:
    assert describe_cache("none") == "memory only (every new process signs in again)"


def test_provider_repr_and_errors_never_show_the_token(standin: StandinKusto, tmp_path: Path) -> None:
    provider = build_provider(device_settings(standin, tmp_path / "c.bin"), standin.url, "standin")
    provider.login(prompt=lambda message: None)
    token = provider()
    assert isinstance(provider, PublicClientProvider)
    assert token not in repr(provider) and token not in json.dumps(provider.service.__dict__)
