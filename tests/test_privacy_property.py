"""Planted identities never reach a shared page: the scrubber removes them, or the leak check refuses.

A hostile tenant controls operation names, resource names, user agents: anything in the logs.
Each example plants one identity of a generated person, spelled one of many ways, into a random
text column of a frame. The frame goes through the same protection a pseudonymised run applies,
is rendered the way pages and exports render it, and is leak-checked. Two properties:

- never published with the identity in it: if the check passes, the identity is not in the output
  (checked by an oracle that shares no code with either: every letter and digit of the output,
  run together, must not contain the identity's);
- the check on its own sees the planted spelling in the unprotected output (it does not lean on
  the scrubber).
"""

from __future__ import annotations

import html
import unicodedata
import uuid
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kitlib.privacy.leakcheck import find_leaks
from kitlib.privacy.protect import protect_frame
from kitlib.privacy.pseudonyms import Pseudonymizer
from kitlib.render.html import table

KEY = b"property-test-key-0123456789"
FIRST = ["sven", "maria", "liam", "aiko", "jonas", "fatima", "oskar", "chloe", "mateo", "ingrid"]
LAST = ["martin", "novak", "tanaka", "berg", "haddad", "larsen", "moreau", "silva", "keller", "quist"]
SEPARATORS = ["-", "_", ".", "+", " ", ", ", "%2E", "%2D", "&#46;", "%252E", "/"]
PREFIXES = ["", "run-by-", "svc_", "app-", "rg-", "Microsoft.Web/sites/", "deployed by "]
SUFFIXES = ["", "_adm", "-prod", "/write", " did it", ".example"]
COLUMNS = ["OperationNameValue", "ResourceId", "UserAgent", "AppDisplayName", "Detail"]


@st.composite
def person(draw: st.DrawFn) -> dict[str, str]:
    first, last = draw(st.sampled_from(FIRST)), draw(st.sampled_from(LAST))
    style = draw(st.sampled_from(["{f}.{l}", "{f}_{l}", "{f}{l}", "{f}", "{f0}{l}"]))
    local = style.format(f=first, l=last, f0=first[0])
    octets = draw(st.lists(st.integers(1, 254), min_size=4, max_size=4))
    return {
        "upn": f"{local}@contoso.example",
        "local": local,
        "name": f"{first.title()} {last.title()}",
        "first": first,
        "last": last,
        "ip": ".".join(map(str, octets)),
        "id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
    }


def _case(text: str, how: str) -> str:
    return {"lower": text.lower(), "upper": text.upper(), "title": text.title()}[how]


@st.composite
def planted(draw: st.DrawFn, who: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """A spelling of one of ``who``'s identifiers, and the tokens the oracle looks for."""
    kind = draw(st.sampled_from(["local", "upn", "name", "reversed", "ip", "id"]))
    sep = draw(st.sampled_from(SEPARATORS))
    how = draw(st.sampled_from(["lower", "upper", "title"]))
    parts: tuple[str, ...]
    if kind == "local":
        parts = tuple(p for p in who["local"].replace("_", ".").split(".") if p)
        text = sep.join(_case(p, how) for p in parts)
    elif kind == "upn":
        parts = (*[p for p in who["local"].replace("_", ".").split(".") if p], "contoso", "example")
        at = draw(st.sampled_from(["@", "%40", "&#64;"]))
        text = _case(who["local"], how) + at + "contoso" + sep + "example"
    elif kind == "name":
        parts = (who["first"], who["last"])
        text = _case(who["first"], how) + sep + _case(who["last"], how)
    elif kind == "reversed":
        parts = (who["last"], who["first"])
        text = _case(who["last"], how) + draw(st.sampled_from([", ", " ", "_"])) + _case(who["first"], how)
    elif kind == "ip":
        parts = tuple(who["ip"].split("."))
        text = sep.join(parts)
    else:
        parts = tuple(who["id"].split("-"))
        text = draw(st.sampled_from(["-", ""])).join(parts)
        text = text.upper() if how == "upper" else text
    context = draw(st.sampled_from(PREFIXES)) + text + draw(st.sampled_from(SUFFIXES))
    return context, parts


def _oracle(output: str, parts: tuple[str, ...]) -> bool:
    """Is the identity readable in ``output``? Every letter and digit run together, decoded, folded."""
    text = output
    for _ in range(4):
        text = unquote(html.unescape(text))
    text = unicodedata.normalize("NFKC", text).casefold()
    letters = "".join(ch for ch in text if ch.isalnum())
    return "".join(parts).casefold() in letters


def _render(frame: pd.DataFrame, folder: Path, name: str) -> list[Path]:
    page = folder / f"{name}.html"
    page.write_text(table(frame, max_rows=100).html, encoding="utf-8")
    data = folder / f"{name}.csv"
    frame.to_csv(data, index=False)
    return [page, data]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_planted_identity_is_scrubbed_or_refused_never_published(tmp_path_factory, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    who = data.draw(person())
    text, parts = data.draw(planted(who))
    column = data.draw(st.sampled_from(COLUMNS))
    row = data.draw(st.integers(0, 2))
    frame = pd.DataFrame(
        {
            "Caller": [who["upn"], "someone.else@contoso.example", "other.person@contoso.example"],
            "UserDisplayName": [who["name"], "Someone Else", "Other Person"],
            "CallerIpAddress": [who["ip"], "203.0.113.7", "203.0.113.8"],
            "UserId": [who["id"], str(uuid.UUID(int=1)), str(uuid.UUID(int=2))],
            **{
                c: ["Microsoft.Compute/virtualMachines/write", "/subscriptions/x/resourceGroups/rg-web", "ok"]
                for c in COLUMNS
            },
        }
    )
    frame.loc[row, column] = text
    roles = {"Caller": "user", "UserDisplayName": "name", "CallerIpAddress": "ip", "UserId": "id"}
    originals = [who["upn"], who["name"], who["ip"], who["id"]]
    folder = tmp_path_factory.mktemp("planted")

    raw_files = _render(frame.drop(columns=list(roles)), folder, "raw")
    assert find_leaks(raw_files, originals), f"the leak check missed {text!r}"

    protected = protect_frame(Pseudonymizer(KEY), frame, roles)
    files = _render(protected, folder, "protected")
    refused = bool(find_leaks(files, originals))
    readable = any(_oracle(f.read_text(encoding="utf-8"), parts) for f in files)
    assert refused or not readable, f"{text!r} in {column} would have been published"
    assert not refused, f"{text!r} in {column}: refused"


def test_the_scrubber_removes_the_attacks_seen_in_the_wild() -> None:
    p = Pseudonymizer(KEY)
    user = p.pseudonym("sven.martin@contoso.example", "user")
    name = p.pseudonym("Sven Martin", "name")
    ip = p.pseudonym("192.0.2.59", "ip")
    short = p.pseudonym("svm@contoso.example", "user")
    assert p.scrub_text("run-by-sven.martin") == f"run-by-{user}"
    assert p.scrub_text("svc_sven.martin_adm") == f"svc_{user}_adm"
    assert p.scrub_text("/sites/app-sven.martin/write") == f"/sites/app-{user}/write"
    assert p.scrub_text("sven%2Emartin") == user
    assert p.scrub_text("ip-192-0-2-59") == f"ip-{ip}"
    assert p.scrub_text("Martin, Sven approved") == f"{name} approved"
    assert p.scrub_text("by svm at night") == f"by {short} at night"
    assert p.scrub_text("svmlight and msvm") == "svmlight and msvm"
    assert p.scrub_text("Microsoft.Compute/virtualMachines/write") == "Microsoft.Compute/virtualMachines/write"
