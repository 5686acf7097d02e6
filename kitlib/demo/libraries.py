"""Tool release -> what its token requests carry: the library value, and the HTTP stack in the user agent.

The library values come from :mod:`kitlib.domain.versions`, the mapping the analysis reads them
back with, so the demo and the kit cannot drift apart; only where that mapping has no exact answer
does the demo invent one (:func:`fallback_auth_library`).
"""

from __future__ import annotations

from kitlib.domain import versions
from kitlib.domain.apps import AZURE_CLI, AZURE_POWERSHELL
from kitlib.errors import UsageError


def _vkey(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def auth_library(tool: str, version: str, *, sku: str = "MSAL.NetCore") -> str:
    """The ``Azure AD App Authentication Library`` value a tool release sends.

    Asks :func:`kitlib.domain.versions.library_for_tool`; where the mapping has no exact answer, the
    demo's stand-in comes from :func:`fallback_auth_library` (the only invented library values
    in the demo).
    """
    known = versions.library_for_tool(tool, version, sku=sku)
    if known is not None:
        return str(known.render())
    return fallback_auth_library(tool, version, sku=sku)


def fallback_auth_library(tool: str, version: str, *, sku: str = "MSAL.NetCore") -> str:
    """Library values for releases the versions mapping cannot name exactly.

    * Azure CLI newer than the newest mapped release (the 2.100.0 trap): an msal one minor
      version above the newest mapped pin, so it sorts after every known one.
    * Azure CLI with a ranged msal requirement (2.30-2.36): the range's floor is unknown here, so
      the lowest exact pin minus one minor (not used by the demo's version lists).
    * Az.Accounts releases whose changelog names no MSAL.NET version: the version of the nearest
      lower release that names one (exact, derived or lower bound): a pin holds until changed.
    """
    if tool == AZURE_CLI:
        pins = [r.msal for r in versions.cli_releases() if r.msal is not None]
        newest, oldest = max(pins), min(pins)
        if versions.parse_version(version) > versions.cli_releases()[-1].version:
            return f"Family: MSAL Library: MSAL.Python {newest.major}.{newest.minor + 1}.0 Platform: Python"
        return f"Family: MSAL Library: MSAL.Python {oldest.major}.{max(oldest.minor - 1, 0)}.0 Platform: Python"
    if tool == AZURE_POWERSHELL:
        wanted = versions.parse_version(version)
        named = [r for r in versions.powershell_releases() if r.msal is not None and r.version <= wanted]
        msal = str(named[-1].msal) if named else "4.30.1"
        return f"Family: MSAL Library: {sku} {msal} Platform: .NET"
    raise UsageError(f"no library for tool {tool!r}")


def requests_version(cli: str) -> str:
    """python-requests bundled with an Azure CLI release (approximate; shows only in UserAgent)."""
    v = _vkey(cli)
    for bound, req in (((2, 30), "2.25.1"), ((2, 50), "2.28.1"), ((2, 63), "2.31.0"), ((2, 80), "2.32.3")):
        if v[:2] < bound:
            return req
    return "2.32.4" if v[:2] < (2, 95) else "2.33.1"


def identity_net_version(az_accounts: str) -> str:
    v = _vkey(az_accounts)
    for bound, ident in (((3, 0), "1.10.4"), ((4, 0), "1.11.4"), ((5, 0), "1.13.0"), ((5, 3), "1.14.2")):
        if v[:2] < bound:
            return ident
    return "1.17.2"
