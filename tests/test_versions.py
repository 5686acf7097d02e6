"""Version ordering, library-string parsing and the MSAL -> tool band mapping (kitlib.domain.versions)."""

from __future__ import annotations

import csv

import pytest

from kitlib.domain.versions import (
    AZURE_CLI,
    AZURE_POWERSHELL,
    az_to_az_accounts,
    cli_releases,
    library_for_tool,
    parse_library_string,
    parse_version,
    sort_versions,
    tool_band_for_library,
)
from kitlib.errors import KitError, VersionError
from kitlib.resources import data_file


def test_versions_order_as_versions_not_strings() -> None:
    assert parse_version("2.9.1") < parse_version("2.75.0") < parse_version("2.76.0") < parse_version("2.100.0")
    assert sorted(["2.100.0", "2.9.1", "2.76.0", "2.75.0"], key=parse_version) == [
        "2.9.1",
        "2.75.0",
        "2.76.0",
        "2.100.0",
    ]
    # As strings the order would be wrong; this is the trap the parser avoids.
    assert sorted(["2.100.0", "2.9.1"]) == ["2.100.0", "2.9.1"]


def test_prereleases_sort_before_their_release() -> None:
    assert parse_version("1.33.0b1") < parse_version("1.33.0") < parse_version("1.34.0b1")
    assert parse_version("v5.2.0") == parse_version("5.2.0")


def test_sort_versions_puts_unreadable_values_last() -> None:
    assert sort_versions(["2.76.0", "junk", "2.9.1"]) == ["2.9.1", "2.76.0", "junk"]


def test_unreadable_version_is_a_kit_error() -> None:
    with pytest.raises(VersionError) as info:
        parse_version("not-a-version")
    assert isinstance(info.value, KitError)
    assert "not-a-version" in str(info.value)


@pytest.mark.parametrize(
    ("text", "family", "library", "version", "platform"),
    [
        ("Family: MSAL Library: MSAL.Python 1.31.0 Platform: Python", "MSAL", "MSAL.Python", "1.31.0", "Python"),
        ("Family: MSAL Library: MSAL.NetCore 4.83.1 Platform: .NET", "MSAL", "MSAL.NetCore", "4.83.1", ".NET"),
        (
            "Family: MSAL Library: MSAL.Desktop 4.60.3 Platform: .NET Framework",
            "MSAL",
            "MSAL.Desktop",
            "4.60.3",
            ".NET Framework",
        ),
        ("Family: MSAL Library: MSAL.CoreCLR 4.46.2", "MSAL", "MSAL.CoreCLR", "4.46.2", ""),
        ("Family: MSAL Library: MSAL.Go 1.2.0 Platform: Go", "MSAL", "MSAL.Go", "1.2.0", "Go"),
        ("Family: MSAL Library: MSAL.JS 3.20.0 Platform: JS", "MSAL", "MSAL.JS", "3.20.0", "JS"),
        ("Family: ADAL Library: ADAL.Python 1.2.7 Platform: Python", "ADAL", "ADAL.Python", "1.2.7", "Python"),
        ("Library: MSAL.Python 1.33.0b1", "MSAL", "MSAL.Python", "1.33.0b1", ""),
    ],
)
def test_library_strings_split_into_parts(text: str, family: str, library: str, version: str, platform: str) -> None:
    parsed = parse_library_string(text)
    assert parsed is not None
    assert (parsed.family, parsed.library, parsed.version, parsed.platform) == (family, library, version, platform)
    assert parsed.raw == text


def test_empty_library_value_is_none_and_odd_values_are_kept_whole() -> None:
    assert parse_library_string("") is None
    assert parse_library_string("   ") is None
    assert parse_library_string(None) is None
    odd = parse_library_string("something unexpected")
    assert odd is not None and odd.library == "something unexpected" and odd.version == ""


def test_render_round_trips() -> None:
    text = "Family: MSAL Library: MSAL.Python 1.31.0 Platform: Python"
    parsed = parse_library_string(text)
    assert parsed is not None and parsed.render() == text


def test_cli_pin_maps_to_the_releases_that_pin_it() -> None:
    band = tool_band_for_library("MSAL.Python", "1.31.0")
    assert band.tool == AZURE_CLI
    assert (band.min_version, band.max_version) == ("2.65.0", "2.67.0")
    assert band.version_ok == "no"
    assert band.confidence == "high"
    assert "MSAL.Python 1.31.0 -> Azure CLI 2.65.0-2.67.0" in band.evidence


def test_pin_shared_by_2_75_and_2_76_is_unknown() -> None:
    band = tool_band_for_library("MSAL.Python", "1.33.0b1")
    assert {"2.75.0", "2.76.0"} <= set(band.releases)
    assert band.version_ok == "unknown"
    assert "both sides of 2.76.0" in band.evidence


def test_pin_of_releases_after_the_threshold_is_ok() -> None:
    band = tool_band_for_library("MSAL.Python", "1.34.0b1")
    assert band.min_version == "2.77.0"
    assert band.version_ok == "yes"


def test_library_newer_than_every_pin_means_at_least_the_newest_release() -> None:
    newest = cli_releases()[-1]
    band = tool_band_for_library("MSAL.Python", "9.0.0")
    assert band.min_version == newest.text
    assert band.max_version is None
    assert band.version_ok == "yes"
    assert band.label == f">={newest.text}"


def test_adal_means_before_2_30_and_not_ok() -> None:
    band = tool_band_for_library("Family: ADAL Library: ADAL.Python 1.2.7 Platform: Python", "")
    assert band.tool == AZURE_CLI
    assert band.version_ok == "no"
    assert band.max_version is not None and parse_version(band.max_version) < parse_version("2.30.0")


def test_unpinned_library_version_is_interpolated_with_low_confidence() -> None:
    band = tool_band_for_library("MSAL.Python", "1.29.0")
    assert band.confidence == "low"
    assert band.version_ok == "no"
    assert "interpolated" in band.evidence


def test_library_older_than_first_exact_pin_maps_to_the_range_era() -> None:
    band = tool_band_for_library("MSAL.Python", "1.16.0")
    assert (band.min_version, band.max_version) == ("2.30.0", "2.36.0")
    assert band.version_ok == "no"


def test_tool_restriction_keeps_sdk_scripts_out_of_cli_bands() -> None:
    band = tool_band_for_library("MSAL.Python", "1.31.0", tool="azure-powershell")
    assert band.version_ok == "unknown"
    assert band.confidence == "none"


def test_library_without_mapping_is_unknown() -> None:
    assert tool_band_for_library("MSAL.Go", "1.2.0").version_ok == "unknown"
    assert tool_band_for_library("", "").version_ok == "unknown"


@pytest.mark.parametrize(
    ("version", "ok", "low"),
    [
        ("4.84.0", "yes", "5.5.1"),
        ("4.83.1", "yes", "5.3.4"),
        ("4.82.1", "yes", "5.3.3"),
        ("4.70.0", "unknown", "2.10.2"),  # somewhere between 2.10.2 and 5.3.3: spans 5.2.0
        ("4.60.0", "no", "2.10.2"),  # Az.Accounts 4.0.1 already had >= 4.65.0
        ("4.46.2", "no", "2.10.2"),
    ],
)
def test_msal_net_maps_to_az_accounts_bands(version: str, ok: str, low: str) -> None:
    band = tool_band_for_library("MSAL.NetCore", version)
    assert band.tool == AZURE_POWERSHELL
    assert band.version_ok == ok
    assert band.min_version == low


def test_library_for_tool_emits_the_exact_pin() -> None:
    lib = library_for_tool("azure-cli", "2.64.0")
    assert lib is not None and lib.render() == "Family: MSAL Library: MSAL.Python 1.30.0 Platform: Python"
    assert library_for_tool("azure-cli", "2.75.0") == library_for_tool("azure-cli", "2.76.0")
    old = library_for_tool("azure-cli", "2.9.1")
    assert old is not None and old.is_adal


def test_library_for_tool_refuses_to_guess() -> None:
    assert library_for_tool("azure-cli", "2.33.0") is None  # msal was a range then
    assert library_for_tool("azure-cli", "2.100.0") is None  # newer than the table
    assert library_for_tool("azure-powershell", "5.2.0") is None  # changelog names no MSAL.NET
    with pytest.raises(VersionError):
        library_for_tool("terraform", "1.9.0")


def test_round_trip_tool_to_library_to_band_contains_the_release() -> None:
    for release in cli_releases():
        lib = library_for_tool("azure-cli", release.text)
        if lib is None or lib.is_adal:
            continue
        band = tool_band_for_library(lib.library, lib.version)
        assert release.text in band.releases, release.text
    for accounts in ("2.10.2", "5.3.4", "5.5.0", "5.5.3"):
        lib = library_for_tool("azure-powershell", accounts, sku="MSAL.Desktop")
        assert lib is not None and lib.library == "MSAL.Desktop"
        assert accounts in tool_band_for_library(lib.library, lib.version).releases


def test_az_rollup_versions_map_to_az_accounts() -> None:
    assert az_to_az_accounts()["14.3.0"] == "5.2.0"


def test_every_mapping_row_names_its_source() -> None:
    for name in ("azure_cli_msal.csv", "az_accounts_msal.csv"):
        with data_file(name).open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows
        assert all(r["source"].strip() for r in rows), name


def test_cli_table_facts_from_the_domain_reference() -> None:
    pins = {r.text: str(r.msal) for r in cli_releases() if r.msal is not None}
    assert pins["2.75.0"] == pins["2.76.0"] == "1.33.0b1"
    assert cli_releases()[0].kind == "adal_era"
    assert min(r.version for r in cli_releases() if r.kind != "adal_era") == parse_version("2.30.0")
