"""Long tables in the offline reports can be searched, filtered by column and paged, with no network.

The rows are escaped by :func:`kitlib.render.html.table` as always; the script in ``kit.js`` only
reads their text and hides rows. Checked in headless Chromium on a page built like a report.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from chromium import Chromium, find_chromium

from kitlib.render.html import table
from kitlib.resources import templates_dir

pytestmark = pytest.mark.slow
HOSTILE = '<img src=x onerror="window.pwned=1">'


def _page(folder: Path, frame: pd.DataFrame) -> Path:
    static = templates_dir() / "offline" / "static"
    page = folder / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
        + (static / "kit.css").read_text(encoding="utf-8")
        + "</style></head><body>"
        + table(frame, caption="identities", max_rows=1000, sortable=True).html
        + "<script>"
        + (static / "kit.js").read_text(encoding="utf-8")
        + "</script></body></html>",
        encoding="utf-8",
    )
    return page


def test_a_long_table_is_marked_searchable_and_keeps_every_row() -> None:
    frame = pd.DataFrame({"identity": [f"u{i}@contoso.example" for i in range(60)]})
    html = table(frame, max_rows=1000).html
    assert "kit-searchable" in html and html.count("<tr>") == 61
    assert "kit-searchable" not in table(frame.head(10)).html


def test_search_filter_and_pages_work_offline_in_a_browser(tmp_path: Path) -> None:
    browser = find_chromium()
    frame = pd.DataFrame(
        {
            "identity": [f"user{i:03d}@contoso.example" for i in range(120)],
            "verdict": ["would break" if i % 3 == 0 else "at risk" for i in range(120)],
            "why": [HOSTILE if i == 7 else f"note {i}" for i in range(120)],
            "writes": list(range(120)),
        }
    )
    page = _page(tmp_path, frame)
    visible = "Array.from(document.querySelectorAll('table.kit-table tbody tr')).filter(r => !r.hidden).length"
    status = "document.querySelector('.kit-page-status').textContent"

    def search(text: str, column: int = -1) -> None:
        chrome.evaluate(
            f"(() => {{ const c = document.querySelector('.kit-search-column'); c.value = '{column}';"
            " c.dispatchEvent(new Event('change'));"
            f" const s = document.querySelector('.kit-search'); s.value = {text!r};"
            " s.dispatchEvent(new Event('input')); })()"
        )

    with Chromium(browser) as chrome:
        chrome.navigate(page.as_uri())
        chrome.wait_for("!!document.querySelector('.kit-page-status')")
        assert chrome.evaluate(visible) == 25
        assert chrome.evaluate(status) == "rows 1\u201325 of 120"
        chrome.evaluate("document.querySelectorAll('.kit-page')[1].click()")
        assert chrome.evaluate(status) == "rows 26\u201350 of 120"
        search("user01")  # user010..user019
        assert chrome.evaluate(visible) == 10
        assert chrome.evaluate(status) == "rows 1\u201310 of 10 (filtered from 120)"
        search("would break", column=1)
        assert chrome.evaluate(status) == "rows 1\u201325 of 40 (filtered from 120)"
        search("would break", column=0)  # not in the identity column
        assert chrome.evaluate(visible) == 0
        search("onerror")  # the hostile text is text: found as words, never run
        assert chrome.evaluate(visible) == 1
        assert chrome.evaluate("window.pwned === undefined && !document.querySelector('tbody img')")
        search("")
        chrome.evaluate("document.querySelectorAll('thead th')[3].click()")  # sort by writes, descending
        assert chrome.evaluate("document.querySelector('tbody tr:not([hidden]) td:last-child').textContent") == "119"
        outside = [u for u in chrome.requests if urlsplit(u).scheme not in ("file", "data", "about")]
    assert outside == []
