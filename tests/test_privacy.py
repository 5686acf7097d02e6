"""Keyed pseudonyms and the leak check that guards shared reports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kitlib.environment import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_ORIGIN_ENV, PSEUDONYM_LEDGER_ENV
from kitlib.errors import LeakError, UsageError
from kitlib.privacy.leakcheck import LeakHit, check_folder, find_leaks, leak_terms, raise_on_leaks
from kitlib.privacy.pseudonyms import Pseudonymizer, is_pseudonym, load_key, read_ledger, write_mapping

KEY = b"k" * 32


def test_same_key_same_identity_gives_the_same_pseudonym_whatever_the_case() -> None:
    one, two = Pseudonymizer(KEY), Pseudonymizer(KEY)
    assert one.pseudonym("Alice@Contoso.com") == two.pseudonym(" alice@contoso.com ")
    assert is_pseudonym(one.pseudonym("alice@contoso.com"))
    assert one.pseudonym("alice@contoso.com").startswith("user-")


def test_a_different_key_gives_unlinkable_pseudonyms() -> None:
    assert Pseudonymizer(KEY).pseudonym("alice@contoso.com") != Pseudonymizer(b"x" * 32).pseudonym("alice@contoso.com")


def test_kinds_are_separate_namespaces() -> None:
    p = Pseudonymizer(KEY)
    assert p.pseudonym("10.0.0.1", "ip").startswith("ip-")
    assert p.pseudonym("10.0.0.1", "ip")[3:] != p.pseudonym("10.0.0.1", "host")[5:]


def test_unknown_kind_and_short_keys_are_refused() -> None:
    with pytest.raises(UsageError):
        Pseudonymizer(KEY).pseudonym("x", "passport")
    with pytest.raises(UsageError):
        Pseudonymizer(b"short")
    with pytest.raises(UsageError):
        load_key({PSEUDONYM_KEY_ENV: "tooshort"})


def test_key_from_environment_is_stable_and_unset_key_is_one_off() -> None:
    key, ephemeral = load_key({PSEUDONYM_KEY_ENV: "a-long-enough-secret-key"})
    assert key == b"a-long-enough-secret-key" and not ephemeral
    first, one_off = load_key({})
    second, _ = load_key({})
    assert one_off and first != second
    _, marked = load_key({PSEUDONYM_KEY_ENV: "a-long-enough-secret-key", PSEUDONYM_KEY_ORIGIN_ENV: "run"})
    assert marked


def test_frame_pseudonymises_role_columns_lists_and_free_text_without_touching_the_input() -> None:
    frame = pd.DataFrame(
        {
            "identity": ["alice@contoso.com", "bob@contoso.com", None],
            "ips": [["10.0.0.1", "10.0.0.2"], [], None],
            "reasons": ["writes like alice@contoso.com at night", "human", None],
            "writes": [3, 4, 5],
        }
    )
    p = Pseudonymizer(KEY)
    out = p.frame(frame, {"identity": "user", "ips": "ip"}, ["reasons"])
    alice = p.pseudonym("alice@contoso.com")
    assert out["identity"].tolist()[:2] == [alice, p.pseudonym("bob@contoso.com")]
    assert out["identity"].isna().tolist() == [False, False, True]
    assert out["ips"][0] == [p.pseudonym("10.0.0.1", "ip"), p.pseudonym("10.0.0.2", "ip")]
    assert out["reasons"][0] == f"writes like {alice} at night"
    assert out["writes"].tolist() == [3, 4, 5]
    assert frame["identity"][0] == "alice@contoso.com"
    assert {"alice@contoso.com", "10.0.0.2"} <= p.originals


def test_resolve_finds_the_identity_behind_a_pseudonym() -> None:
    p = Pseudonymizer(KEY)
    target = p.pseudonym("carol@contoso.com")
    fresh = Pseudonymizer(KEY)
    assert fresh.resolve(target, ["alice@contoso.com", "carol@contoso.com"]) == "carol@contoso.com"
    assert fresh.resolve(target, ["alice@contoso.com"]) is None


def test_ledger_records_what_the_kernel_saw(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.json"
    p = Pseudonymizer.from_env({PSEUDONYM_KEY_ENV: "a-long-enough-secret-key", PSEUDONYM_LEDGER_ENV: str(ledger)})
    p.series(pd.Series(["Dave@Contoso.com", "10.1.1.1"]), "user")
    assert read_ledger(ledger) == {"dave@contoso.com": "user", "10.1.1.1": "user", "Dave@Contoso.com": "user"}


def found(hits: list[LeakHit]) -> list[tuple[str, str, str]]:
    return [(h.path.name, h.original, h.form) for h in hits]


def test_leak_check_finds_originals_in_any_encoding(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<td>Alice@Contoso.com</td>", encoding="utf-8")
    (tmp_path / "b.ipynb").write_text(json.dumps({"x": "bob\u0040contoso.com"}), encoding="utf-8")
    (tmp_path / "c.csv").write_text("identity\nuser-abcdefghij\n", encoding="utf-8")
    (tmp_path / "d.html").write_text("<td>carol&#64;contoso.com</td>", encoding="utf-8")
    hits = check_folder(tmp_path, ["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"])
    assert {(name, original) for name, original, _ in found(hits)} == {
        ("a.html", "alice@contoso.com"),
        ("b.ipynb", "bob@contoso.com"),
        ("d.html", "carol@contoso.com"),
    }


def test_leak_check_matches_whole_tokens_only(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    page.write_text("10.0.0.12 and 110.0.0.1 and malice@contoso.company and x.eve@contoso.com", encoding="utf-8")
    assert find_leaks([page], ["10.0.0.1", "alice@contoso.com"]) == []
    assert {h.original for h in find_leaks([page], ["eve@contoso.com"])} == {"eve@contoso.com"}


def test_leak_check_finds_the_local_part_of_a_upn_and_display_names(tmp_path: Path) -> None:
    reason = tmp_path / "identities.csv"
    reason.write_text("identity,reasons\nuser-abcdefghij,name 'sa-liam.novak' follows a convention\n", encoding="utf-8")
    named = tmp_path / "page.html"
    named.write_text("<td>Liam Novak</td> wrote 3 times", encoding="utf-8")
    originals = ["sa-liam.novak@contoso.com", "Liam Novak"]
    assert found(check_folder(tmp_path, originals)) == [
        ("identities.csv", "Liam Novak", "identifier"),  # the name is inside the local part too
        ("identities.csv", "sa-liam.novak@contoso.com", "local part"),
        ("page.html", "Liam Novak", "identifier"),
    ]


@pytest.mark.parametrize(
    ("planted", "form"),
    [
        ("run-by-sven.martin", "local part"),  # joined to other text by -, _ or .
        ("svc_sven.martin_adm", "local part"),
        ("app-sven.martin.example-rg", "local part"),
        ("Microsoft.Web/sites/SVEN.MARTIN/write", "local part"),
        ("sven%2Emartin", "local part"),  # URL-encoded
        ("sven%252Emartin", "local part"),  # twice
        ("sven&#46;martin", "local part"),  # an HTML entity
        ("s\u200bven.martin", "local part"),  # a zero-width space inside
        ("ｓｖｅｎ.ｍａｒｔｉｎ", "local part"),  # full-width letters
        ("svenmartin", "local part, run together"),
        ("Martin, Sven", "name, reversed"),  # a display name, last name first
        ("ip-192-0-2-59", "identifier"),  # an IP in another separator form
        ("192_0_2_59", "identifier"),
    ],
)
def test_leak_check_sees_identities_in_any_spelling(tmp_path: Path, planted: str, form: str) -> None:
    page = tmp_path / "r.html"
    page.write_text(f"<td>{planted}</td>", encoding="utf-8")
    originals = ["sven.martin@contoso.example", "Sven Martin", "192.0.2.59"]
    assert form in {h.form for h in find_leaks([page], originals)}


def test_leak_check_scans_short_local_parts_as_whole_tokens(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    page.write_text("deployed by svm at 02:00; svmlight and msvm are other words", encoding="utf-8")
    assert found(find_leaks([page], ["svm@contoso.example"])) == [("r.html", "svm@contoso.example", "local part")]
    page.write_text("svmlight and msvm are other words", encoding="utf-8")
    assert find_leaks([page], ["svm@contoso.example"]) == []


def test_leak_terms_cover_upns_guests_names_and_addresses() -> None:
    terms = {
        (o, form, tokens)
        for o, form, tokens in leak_terms(["bob@contoso.com", "ann.lee_fabrikam.com#ext#@contoso.com"])
    }
    assert ("bob@contoso.com", "local part", ("bob",)) in terms
    guest = "ann.lee_fabrikam.com#ext#@contoso.com"
    assert (guest, "guest home address", ("ann", "lee", "fabrikam", "com")) in terms
    assert (guest, "local part", ("ann", "lee")) in terms
    assert {form for _, form, _ in leak_terms(["Sven Martin"])} >= {"identifier", "name, reversed"}
    assert leak_terms(["x@contoso.com"]) == [
        ("x@contoso.com", "identifier", ("x", "contoso", "com")),
        ("x@contoso.com", "identifier, run together", ("xcontosocom",)),
    ]


def test_leak_check_ignores_static_chunks_and_names_files_not_identities(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    page.write_text("LIBRARY 1.2.3.4 LIBRARY and more", encoding="utf-8")
    assert find_leaks([page], ["1.2.3.4"], ignore=["LIBRARY 1.2.3.4 LIBRARY"]) == []
    hits = find_leaks([page], ["1.2.3.4"])
    with pytest.raises(LeakError) as caught:
        raise_on_leaks(hits, tmp_path)
    assert "1.2.3.4" not in str(caught.value)


def test_mapping_is_never_written_inside_the_report_folder(tmp_path: Path) -> None:
    p = Pseudonymizer(KEY)
    p.pseudonym("alice@contoso.com")
    report = tmp_path / "report"
    report.mkdir()
    with pytest.raises(UsageError):
        write_mapping(p.mapping(), report / "sub" / "map.csv", forbidden=report)
    written = write_mapping(p.mapping(), tmp_path / "secret" / "map.csv", forbidden=report)
    assert pd.read_csv(written).to_dict(orient="records") == [
        {"pseudonym": p.pseudonym("alice@contoso.com"), "kind": "user", "original": "alice@contoso.com"}
    ]
    assert written.stat().st_mode & 0o077 == 0
