"""Config discovery, validation and ``config check``: named workspaces, secrets only by reference."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kitlib.environment import CONFIG_ENV
from kitlib.errors import ConfigError
from kitlib.settings.check import check_config
from kitlib.settings.config import find_config, load_config

LA = """
[defaults]
tenant_id = "00000000-0000-0000-0000-0000000000aa"
auth = "device_code"

[workspaces.prod]
kind = "log_analytics"
subscription_id = "11111111-1111-1111-1111-111111111111"
resource_group = "rg-security"
workspace_name = "law-security"
split_by = "1d"
split_queries = ["signin_rows"]

[workspaces.archive]
kind = "adx"
cluster = "https://mycluster.westeurope.kusto.windows.net"
database = "SignInArchive"
auth = "client_secret"
client_id = "22222222-2222-2222-2222-222222222222"
client_secret_env = "KITLIB_TEST_SECRET"
server_timeout = "00:04:00"

[workspaces.demo]
kind = "local"
path = "demo-tenant"
"""


def write(folder: Path, text: str, name: str = "kitlib.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_log_analytics_workspace_resolves_to_the_adx_proxy_url_with_the_workspace_name_as_database(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, LA))
    prod = config.workspace("prod")
    assert prod.url == (
        "https://adx.monitor.azure.com/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/"
        "rg-security/providers/microsoft.operationalinsights/workspaces/law-security"
    )
    assert prod.database == "law-security"
    assert prod.param_mode == "let"  # the Log Analytics query API takes no parameter values
    assert prod.auth.mode == "device_code" and prod.auth.tenant_id == "00000000-0000-0000-0000-0000000000aa"
    assert prod.split_by == dt.timedelta(days=1) and prod.split_queries == ("signin_rows",)


def test_adx_workspace_defaults_to_request_parameters_and_reads_hh_mm_ss_timeouts(tmp_path: Path) -> None:
    archive = load_config(write(tmp_path, LA)).workspace("archive")
    assert (archive.url, archive.database) == ("https://mycluster.westeurope.kusto.windows.net", "SignInArchive")
    assert archive.param_mode == "request"
    assert archive.server_timeout == dt.timedelta(minutes=4)
    assert archive.auth.client_secret_env == "KITLIB_TEST_SECRET"


def test_local_workspace_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    demo = load_config(write(tmp_path, LA)).workspace("demo")
    assert demo.path == tmp_path / "demo-tenant"


def test_resource_id_and_sovereign_endpoint_spellings_are_accepted(tmp_path: Path) -> None:
    text = """
[workspaces.gov]
kind = "log_analytics"
resource_id = "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.OperationalInsights/workspaces/LawGov"
endpoint = "https://adx.monitor.azure.us"
"""
    gov = load_config(write(tmp_path, text)).workspace("gov")
    assert gov.url.startswith("https://adx.monitor.azure.us/subscriptions/s1/resourceGroups/rg1/")
    assert gov.database == "LawGov"  # case kept: the workspace name is case-sensitive


@pytest.mark.parametrize("key", ["client_secret", "password", "access_token", "certificate_password"])
def test_a_literal_secret_in_the_file_is_refused(tmp_path: Path, key: str) -> None:
    text = (
        LA
        + '\n[workspaces.leaky]\nkind = "adx"\ncluster = "https://c.kusto.windows.net"\n'
        + f'database = "d"\n{key} = "hunter2"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert key in str(err.value) and "environment variable" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    text = '[workspaces.w]\nkind = "adx"\ncluster = "https://c.kusto.windows.net"\ndatabse = "d"\n'
    with pytest.raises(ConfigError, match="unknown key 'databse'; did you mean 'database'"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('kind = "log_analytics"\nsubscription_id = "s"', "needs subscription_id, resource_group and workspace_name"),
        ('kind = "adx"\ncluster = "https://c.kusto.windows.net"', "needs cluster"),
        ('kind = "adx"\ncluster = "http://c.kusto.windows.net"\ndatabase = "d"', "unencrypted"),
        ('kind = "adx"\ncluster = "https://c"\ndatabase = "d"\nauth = "password"', "choose one of"),
        ('kind = "adx"\ncluster = "https://c"\ndatabase = "d"\nauth = "client_secret"', "needs tenant_id, client_id"),
        ('kind = "adx"\ncluster = "https://c"\ndatabase = "d"\nserver_timeout = "-5m"', "server_timeout"),
        (
            'kind = "adx"\ncluster = "https://c"\ndatabase = "d"\nclient_secret_env = "not a name"',
            "environment variable",
        ),
        ('kind = "cosmos"', "choose one of"),
    ],
)
def test_invalid_workspaces_get_a_clear_config_error(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, f"[workspaces.w]\n{body}\n"))


def test_plain_http_is_allowed_only_on_loopback(tmp_path: Path) -> None:
    text = '[workspaces.w]\nkind = "adx"\ncluster = "http://127.0.0.1:8080"\ndatabase = "d"\n'
    assert load_config(write(tmp_path, text)).workspace("w").url == "http://127.0.0.1:8080"


def test_discovery_order_flag_then_env_then_working_folder_then_user_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_dir = tmp_path / "user"
    monkeypatch.setattr("kitlib.settings.config.user_config_path", lambda: user_dir / "kitlib.toml")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    user_dir.mkdir()
    user = write(user_dir, LA)
    assert find_config(environ={}, cwd=cwd) == (user, "user config folder")
    local = write(cwd, LA)
    assert find_config(environ={}, cwd=cwd) == (local, "working folder")
    from_env = write(tmp_path, LA, "env.toml")
    assert find_config(environ={CONFIG_ENV: str(from_env)}, cwd=cwd) == (from_env, f"${CONFIG_ENV}")
    flag = write(tmp_path, LA, "flag.toml")
    assert find_config(flag, environ={CONFIG_ENV: str(from_env)}, cwd=cwd) == (flag, "--config")


def test_missing_config_names_every_place_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kitlib.settings.config.user_config_path", lambda: tmp_path / "nowhere" / "kitlib.toml")
    with pytest.raises(ConfigError) as err:
        find_config(environ={}, cwd=tmp_path)
    assert str(tmp_path / "kitlib.toml") in str(err.value) and CONFIG_ENV in str(err.value)
    with pytest.raises(ConfigError, match="from \\$KITLIB_CONFIG"):
        find_config(environ={CONFIG_ENV: str(tmp_path / "gone.toml")}, cwd=tmp_path)


def test_unknown_workspace_lists_the_configured_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configured: archive, demo, prod"):
        load_config(write(tmp_path, LA)).workspace("staging")


def test_config_check_shows_the_setup_and_which_secrets_are_missing_but_never_their_values(tmp_path: Path) -> None:
    path = write(tmp_path, LA)
    (tmp_path / "demo-tenant").mkdir()
    missing = check_config(path, environ={})
    assert not missing.ok
    assert "from $KITLIB_TEST_SECRET (NOT SET)" in missing.text
    assert "environment variable KITLIB_TEST_SECRET is not set" in missing.problems[0]
    present = check_config(path, environ={"KITLIB_TEST_SECRET": "s3cr3t-value-123"})
    assert present.ok, present.problems
    assert "s3cr3t-value-123" not in present.text
    assert "from $KITLIB_TEST_SECRET (set)" in present.text
    assert f"config file: {path} (found by --config)" in present.text
    assert "database: law-security  (the workspace name)" in present.text
    assert "kitlib auth login --workspace prod" in present.text
    assert "split by: 00:00:00" not in present.text and "split by: 1.00:00:00 for signin_rows" in present.text


def test_config_check_reports_a_missing_local_folder_as_a_problem(tmp_path: Path) -> None:
    report = check_config(write(tmp_path, LA), environ={"KITLIB_TEST_SECRET": "x"})
    assert report.problems == (f"workspace demo: folder {tmp_path / 'demo-tenant'} does not exist",)


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[workspaces.w\nkind=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
