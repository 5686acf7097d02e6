"""Tool versions from the MSAL library string in sign-in logs, and back, as version *bands*.

Neither Azure CLI nor Az PowerShell puts its own version into any log a tenant can query. What
the sign-in logs do carry is the authentication library that asked for the token
(``AuthenticationProcessingDetails`` -> ``"Azure AD App Authentication Library"``, e.g.
``Family: MSAL Library: MSAL.Python 1.31.0 Platform: Python``). Azure CLI pins an exact ``msal``
per release and Az.Accounts records its MSAL.NET upgrades, so a library version narrows the tool
to a range of releases. This module owns that mapping (``kitlib/data/*.csv``, each row with its
source) and answers with a band and a confidence, never with an invented exact release:

* ``tool_band_for_library("MSAL.Python", "1.31.0")`` -> Azure CLI 2.65.0-2.67.0, claims-challenge
  ready: no, confidence high.
* a pin shared by releases on both sides of the threshold (``1.33.0b1``: 2.66.2, 2.75.0 and
  2.76.0) -> ready: unknown.
* a library newer than every mapped pin -> "at least the newest mapped release".

Versions are compared as versions (``packaging.version``), never as strings: 2.9.1 < 2.75.0 <
2.76.0 < 2.100.0, and 1.33.0b1 < 1.33.0.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from packaging.version import InvalidVersion, Version

from kitlib.domain.apps import AZURE_CLI, AZURE_POWERSHELL
from kitlib.errors import VersionError
from kitlib.resources import data_file

#: First release whose client turns ARM's MFA claims challenge into a usable re-login
#: (Azure CLI: ``az login --claims-challenge``; Az.Accounts 5.2.0 = Az 14.3.0:
#: ``Connect-AzAccount -ClaimsChallenge``). For azure-powershell the version is Az.Accounts'.
CLAIMS_THRESHOLD: dict[str, str] = {AZURE_CLI: "2.76.0", AZURE_POWERSHELL: "5.2.0"}

#: MSAL.NET SKU names (x-client-sku): Windows PowerShell 5.1 runs MSAL.Desktop, PowerShell 7 MSAL.NetCore.
MSAL_NET_LIBRARIES = frozenset({"MSAL.NetCore", "MSAL.Desktop", "MSAL.CoreCLR", "MSAL.NET"})

VersionOk = Literal["yes", "no", "unknown"]
Confidence = Literal["high", "medium", "low", "none"]

_LIBRARY_RE = re.compile(
    r"^\s*(?:Family:\s*(?P<family>\S+)\s*)?"
    r"Library:\s*(?P<library>\S+)(?:\s+(?P<version>\d[0-9A-Za-z.\-+]*))?"
    r"(?:\s+Platform:\s*(?P<platform>.*?))?\s*$",
    re.IGNORECASE,
)


def parse_version(text: str) -> Version:
    """``text`` as a comparable version; raises VersionError for anything that is not one."""
    try:
        return Version(str(text).strip().lstrip("vV"))
    except InvalidVersion:
        raise VersionError(str(text)) from None


def is_version(text: str | None) -> bool:
    """True when ``text`` reads as a version (for filtering log values without raising)."""
    if not text:
        return False
    try:
        parse_version(text)
    except VersionError:
        return False
    return True


def sort_versions(versions: list[str]) -> list[str]:
    """Ascending version order; strings that are not versions go last, in their own order."""
    good = [v for v in versions if is_version(v)]
    bad = [v for v in versions if not is_version(v)]
    return sorted(good, key=parse_version) + bad


@dataclass(frozen=True)
class LibraryString:
    """The ``Azure AD App Authentication Library`` value, split into its parts."""

    family: str  # "MSAL", "ADAL", or "" when the value had no family
    library: str  # "MSAL.Python", "MSAL.NetCore", "MSAL.Go", ...
    version: str  # "1.31.0"; "" when absent
    platform: str = ""
    raw: str = ""

    def render(self) -> str:
        """The string as the sign-in log writes it."""
        parts = [f"Family: {self.family}"] if self.family else []
        parts.append(f"Library: {self.library}" + (f" {self.version}" if self.version else ""))
        if self.platform:
            parts.append(f"Platform: {self.platform}")
        return " ".join(parts)

    @property
    def is_adal(self) -> bool:
        return self.family.upper() == "ADAL" or self.library.upper().startswith("ADAL")


def parse_library_string(text: str | None) -> LibraryString | None:
    """Split a library value; None for an empty one.

    A value that does not follow the ``Family: .. Library: <name> <version> Platform: ..`` shape
    is kept whole (``library`` is the raw text, ``version`` empty) so nothing is silently lost.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    m = _LIBRARY_RE.match(raw)
    if not m:
        return LibraryString(family="", library=raw, version="", platform="", raw=raw)
    family = m.group("family") or ""
    library = m.group("library")
    if not family and library.upper().startswith(("MSAL", "ADAL")):
        family = library.split(".")[0].upper()
    return LibraryString(
        family=family,
        library=library,
        version=m.group("version") or "",
        platform=(m.group("platform") or "").strip(),
        raw=raw,
    )


@dataclass(frozen=True)
class ToolBand:
    """The tool releases a library version is consistent with, and what that means for Phase 2."""

    tool: str  # "azure-cli", "azure-powershell", or "" when the library maps to no tool
    min_version: str | None  # lowest consistent release; None when unbounded below
    max_version: str | None  # highest consistent release; None when open-ended ("or newer")
    version_ok: VersionOk  # every consistent release >= the claims-challenge threshold?
    confidence: Confidence
    evidence: str  # plain words: "MSAL.Python 1.31.0 -> Azure CLI 2.65.0-2.67.0 (exact pin)"
    releases: tuple[str, ...] = ()  # the mapped releases behind the band, ascending

    @property
    def label(self) -> str:
        """Short band text for tables: "2.65.0-2.67.0", ">=2.91.0", "<2.30.0"."""
        if self.min_version and self.max_version:
            if self.min_version == self.max_version:
                return self.min_version
            return f"{self.min_version}-{self.max_version}"
        if self.min_version:
            return f">={self.min_version}"
        if self.max_version:
            return f"<={self.max_version}"
        return "unknown"


@dataclass(frozen=True)
class _Release:
    version: Version
    text: str
    library: str  # "MSAL.Python", "MSAL.NET", "ADAL"
    msal: Version | None  # exact library version when known
    kind: str  # azure-cli: exact/range/adal_era; powershell: exact/derived/at_least/unknown/adal_era
    source: str


def _read_csv(name: str) -> list[dict[str, str]]:
    with data_file(name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=1)
def cli_releases() -> tuple[_Release, ...]:
    """Azure CLI releases with their msal requirement (kitlib/data/azure_cli_msal.csv), ascending."""
    rows = []
    for r in _read_csv("azure_cli_msal.csv"):
        msal = parse_version(r["msal_version"]) if r["msal_version"] else None
        rows.append(
            _Release(parse_version(r["cli_version"]), r["cli_version"], r["auth_library"], msal, r["pin"], r["source"])
        )
    return tuple(sorted(rows, key=lambda x: x.version))


@lru_cache(maxsize=1)
def powershell_releases() -> tuple[_Release, ...]:
    """Az.Accounts releases with what is known of their MSAL.NET (kitlib/data/az_accounts_msal.csv)."""
    rows = []
    for r in _read_csv("az_accounts_msal.csv"):
        msal = parse_version(r["msal_net_version"]) if r["msal_net_version"] else None
        library = "ADAL" if r["msal_kind"] == "adal_era" else "MSAL.NET"
        rows.append(
            _Release(
                parse_version(r["az_accounts_version"]),
                r["az_accounts_version"],
                library,
                msal,
                r["msal_kind"],
                r["source"],
            )
        )
    return tuple(sorted(rows, key=lambda x: x.version))


@lru_cache(maxsize=1)
def az_to_az_accounts() -> dict[str, str]:
    """Az (rollup module) release -> Az.Accounts release, for the rows the changelog names."""
    return {r["az_version"]: r["az_accounts_version"] for r in _read_csv("az_accounts_msal.csv") if r["az_version"]}


def _ok(tool: str, releases: list[Version]) -> VersionOk:
    threshold = parse_version(CLAIMS_THRESHOLD[tool])
    if releases and all(v >= threshold for v in releases):
        return "yes"
    if releases and all(v < threshold for v in releases):
        return "no"
    return "unknown"


def library_for_tool(tool: str, tool_version: str, *, sku: str = "MSAL.NetCore") -> LibraryString | None:
    """The library string a release of ``tool`` sends, when the mapping knows it exactly.

    ``tool`` is "azure-cli" or "azure-powershell" (``tool_version`` is then the Az.Accounts
    version; Windows PowerShell 5.1 would send ``sku="MSAL.Desktop"``). Returns None when the
    library version is not known exactly: Azure CLI 2.30.0-2.36.0 (msal was a range, the install
    decides), a release newer than the newest mapped one, or an Az.Accounts release whose MSAL.NET
    version no changelog names. A release between two mapped ones takes the lower one's pin (a pin
    holds until a release changes it). Releases before MSAL return an ADAL string, a stand-in
    whose exact wording is unverified.
    """
    version = parse_version(tool_version)
    if tool == AZURE_CLI:
        releases = cli_releases()
        if version < parse_version("2.30.0"):
            return LibraryString("ADAL", "ADAL.Python", "1.2.7", "Python")
        if version > releases[-1].version:
            return None
        lower = [r for r in releases if r.version <= version]
        current = lower[-1]
        if current.kind != "exact" or current.msal is None:
            return None
        return LibraryString("MSAL", "MSAL.Python", str(current.msal), "Python")
    if tool == AZURE_POWERSHELL:
        if sku not in MSAL_NET_LIBRARIES:
            raise VersionError(sku, "MSAL.NET SKU name")
        releases = powershell_releases()
        if version < parse_version("2.1.0"):
            return LibraryString("ADAL", "ADAL.NET", "", ".NET")
        if version > releases[-1].version:
            return None
        exact = [r for r in releases if r.version == version]
        row = exact[0] if exact else [r for r in releases if r.version <= version][-1]
        if row.msal is None or row.kind not in ("exact", "derived") or (not exact and row.kind != "exact"):
            return None
        return LibraryString("MSAL", sku, str(row.msal), ".NET")
    raise VersionError(tool, "tool name (azure-cli or azure-powershell)")


def _span(tool: str, releases: list[_Release], open_ended: bool) -> tuple[str | None, str | None, list[Version]]:
    versions = sorted(r.version for r in releases)
    return str(versions[0]), (None if open_ended else str(versions[-1])), versions


def _name(tool: str) -> str:
    return "Azure CLI" if tool == AZURE_CLI else "Az.Accounts"


def tool_band_for_library(family_library: str, library_version: str, *, tool: str | None = None) -> ToolBand:
    """Which releases of which tool a library version is consistent with.

    ``family_library`` is the library name ("MSAL.Python", "MSAL.NetCore", "ADAL.Python", ...)
    or a whole library string. ``tool`` restricts the mapping to one tool: an MSAL.Python token
    from an Azure SDK script is not Azure CLI, so the analysis passes the tool it inferred from
    the app id; without it the library family decides (MSAL.Python -> Azure CLI, MSAL.NET ->
    Az PowerShell).
    """
    parsed = parse_library_string(family_library)
    library = parsed.library if parsed else ""
    if parsed and not library_version:
        library_version = parsed.version
    is_adal = bool(parsed and parsed.is_adal)
    if parsed and parsed.family.upper() == "MSAL" and parsed.library.upper().startswith("ADAL"):
        is_adal = True
    lib_upper = library.upper()
    guessed = (
        AZURE_CLI
        if lib_upper.endswith(".PYTHON")
        else AZURE_POWERSHELL
        if library in MSAL_NET_LIBRARIES or lib_upper.startswith("ADAL.NET")
        else None
    )
    target = tool or guessed
    if not library:
        return ToolBand(target or "", None, None, "unknown", "none", "no library string in the sign-in")
    if target not in (AZURE_CLI, AZURE_POWERSHELL) or (guessed and target != guessed):
        return ToolBand(
            target or "",
            None,
            None,
            "unknown",
            "none",
            f"{library} {library_version}".strip() + " maps to no Azure CLI / Az PowerShell release",
        )
    if is_adal:
        table = cli_releases() if target == AZURE_CLI else powershell_releases()
        last_adal = max(r.version for r in table if r.kind == "adal_era")
        first_msal = min(r.version for r in table if r.kind != "adal_era")
        return ToolBand(
            target,
            None,
            str(last_adal),
            "no",
            "high",
            f"{library} (ADAL) -> {_name(target)} {last_adal} or older (MSAL replaced ADAL in {first_msal}); "
            f"far older than the claims-challenge release {CLAIMS_THRESHOLD[target]}",
        )
    if not library_version or not is_version(library_version):
        return ToolBand(
            target, None, None, "unknown", "none", f"{library} without a readable version ({library_version!r})"
        )
    lib_v = parse_version(library_version)
    if target == AZURE_CLI:
        return _cli_band(library, library_version, lib_v)
    return _powershell_band(library, library_version, lib_v)


def _cli_band(library: str, text: str, lib_v: Version) -> ToolBand:
    releases = [r for r in cli_releases() if r.kind == "exact" and r.msal is not None]
    head = f"{library} {text}"
    same = [r for r in releases if r.msal == lib_v]
    newest_pin = max(r.msal for r in releases if r.msal is not None)
    if same:
        open_ended = lib_v == newest_pin
        lo, hi, versions = _span(AZURE_CLI, same, open_ended)
        ok = _ok(AZURE_CLI, versions)
        band = f"{lo} or newer" if open_ended else (lo if lo == hi else f"{lo}-{hi}")
        why = f"{head} -> Azure CLI {band} (exact msal pin of {', '.join(str(v) for v in versions)})"
        if ok == "unknown":
            why += (
                f"; releases on both sides of {CLAIMS_THRESHOLD[AZURE_CLI]} share this pin, so readiness cannot be told"
            )
        return ToolBand(
            AZURE_CLI, lo, hi, ok, "high" if not open_ended else "medium", why, tuple(str(v) for v in versions)
        )
    if lib_v > newest_pin:
        newest = [r for r in releases if r.msal == newest_pin]
        lo = str(max(r.version for r in newest))
        ok = _ok(AZURE_CLI, [parse_version(lo)])
        return ToolBand(
            AZURE_CLI,
            lo,
            None,
            ok,
            "medium",
            f"{head} is newer than every mapped pin (msal {newest_pin} in Azure CLI {lo}) -> Azure CLI {lo} or newer",
            (lo,),
        )
    first_pin = min(r.msal for r in releases if r.msal is not None)
    ranged = [r for r in cli_releases() if r.kind == "range"]
    if lib_v < first_pin:
        versions = [r.version for r in ranged]
        lo, hi = (str(versions[0]), str(versions[-1])) if versions else (None, None)
        return ToolBand(
            AZURE_CLI,
            lo,
            hi,
            "no",
            "medium",
            f"{head} is older than the first exact pin (msal {first_pin}); "
            f"only Azure CLI {lo}-{hi} (msal given as a range) could carry it",
            tuple(str(v) for v in versions),
        )
    below = max(r.msal for r in releases if r.msal is not None and r.msal < lib_v)
    above = min(r.msal for r in releases if r.msal is not None and r.msal > lib_v)
    around = [r for r in releases if r.msal in (below, above)]
    lo, hi, versions = _span(AZURE_CLI, around, False)
    ok = _ok(AZURE_CLI, versions)
    return ToolBand(
        AZURE_CLI,
        lo,
        hi,
        ok,
        "low",
        f"{head} is pinned by no Azure CLI release (a re-packaged install?); "
        f"interpolated between msal {below} and {above} -> Azure CLI {lo}-{hi}",
        tuple(str(v) for v in versions),
    )


def _powershell_band(library: str, text: str, lib_v: Version) -> ToolBand:
    """Az.Accounts band. MSAL.NET only moves forward, so known versions split the release line.

    Rows give an exact MSAL.NET (``exact``/``derived``) or a lower bound (``at_least``, from the
    Azure.Identity it upgraded to). A library version is consistent with the releases from the
    first one known to carry it (or just after the last one known to carry less) up to just
    before the first one known to carry more.
    """
    head = f"{library} {text}"
    rows = [r for r in powershell_releases() if r.msal is not None]
    exact_rows = [r for r in rows if r.kind in ("exact", "derived")]
    equal = [r for r in exact_rows if r.msal == lib_v]
    lower = [r for r in exact_rows if r.msal is not None and r.msal < lib_v]
    first_above = min((r.version for r in rows if r.msal is not None and r.msal > lib_v), default=None)
    if equal:
        lo: Version | None = min(r.version for r in equal)
        start = f"Az.Accounts {lo}"
    elif lower:
        lo = max(r.version for r in lower)
        start = f"after Az.Accounts {lo}"
    else:
        lo = None
        start = "the first MSAL release of Az.Accounts (2.1.0)"
    end = f" before {first_above}" if first_above is not None else ("" if lower and not equal else " or newer")
    threshold = parse_version(CLAIMS_THRESHOLD[AZURE_POWERSHELL])
    ok: VersionOk
    if first_above is not None and first_above <= threshold:
        ok = "no"
    elif lo is not None and lo >= threshold:
        ok = "yes"
    else:
        ok = "unknown"
    consistent = [
        str(r.version)
        for r in powershell_releases()
        if r.kind != "adal_era" and (lo is None or r.version >= lo) and (first_above is None or r.version < first_above)
    ]
    hi = None
    if first_above is not None and consistent:
        hi = consistent[-1]
    why = f"{head} -> {start}{end} (Az.Accounts changelog"
    why += ", exact)" if equal else "; releases in between name no MSAL.NET version)"
    if ok == "unknown":
        why += f"; the band spans the claims-challenge release {CLAIMS_THRESHOLD[AZURE_POWERSHELL]}"
    return ToolBand(
        AZURE_POWERSHELL,
        str(lo) if lo is not None else "2.1.0",
        hi,
        ok,
        "medium" if equal else "low",
        why,
        tuple(consistent),
    )
