"""Notebook hygiene: notebooks are committed without outputs and with exactly one ``parameters`` cell.

Outputs in a committed notebook leak tenant data (user names, IPs) into git and make diffs
unreadable; papermill injects run values after the single cell tagged ``parameters``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
PARAMETERS_TAG = "parameters"


def hygiene_problems(notebook: dict[str, Any]) -> list[str]:
    """Everything that stops a notebook (as its JSON document) from being committable."""
    problems: list[str] = []
    cells = notebook.get("cells", [])
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has execution count {cell['execution_count']}")
    tagged = [i for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        where = f" (cells {', '.join(map(str, tagged))})" if tagged else ""
        problems.append(f"{len(tagged)} cells tagged '{PARAMETERS_TAG}'{where}; exactly one is required")
    elif cells[tagged[0]].get("cell_type") != "code":
        problems.append(f"the '{PARAMETERS_TAG}' cell (cell {tagged[0]}) is not a code cell")
    return problems


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(reason="notebooks/ holds no .ipynb files yet"))],
    ids=[p.name for p in NOTEBOOKS] or ["no-notebooks"],
)
def test_notebook_is_committed_clean(path: Path) -> None:
    problems = hygiene_problems(json.loads(path.read_text(encoding="utf-8")))
    assert not problems, (
        f"{path.relative_to(REPO)}: "
        + "; ".join(problems)
        + (" (clear outputs before committing: jupyter nbconvert --clear-output --inplace)")
    )


def _notebook(*cells: Any) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return json.loads(nbformat.writes(nb))  # type: ignore[no-any-return]


def _parameters_cell() -> Any:
    return nbformat.v4.new_code_cell("lookback = '30d'", metadata={"tags": [PARAMETERS_TAG]})


def test_a_clean_notebook_has_no_problems() -> None:
    clean = _notebook(nbformat.v4.new_markdown_cell("# Title"), _parameters_cell(), nbformat.v4.new_code_cell("1 + 1"))
    assert hygiene_problems(clean) == []


def test_outputs_and_execution_counts_are_problems() -> None:
    ran = nbformat.v4.new_code_cell("1 + 1", execution_count=3)
    ran.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)]
    assert hygiene_problems(_notebook(_parameters_cell(), ran)) == [
        "cell 1 has 1 output(s)",
        "cell 1 has execution count 3",
    ]


@pytest.mark.parametrize("count", [0, 2])
def test_parameters_cell_must_be_unique(count: int) -> None:
    cells = [_parameters_cell() for _ in range(count)] + [nbformat.v4.new_code_cell("x = 1")]
    [problem] = hygiene_problems(_notebook(*cells))
    assert f"{count} cells tagged 'parameters'" in problem


def test_parameters_tag_on_a_markdown_cell_is_a_problem() -> None:
    tagged_markdown = nbformat.v4.new_markdown_cell("lookback", metadata={"tags": [PARAMETERS_TAG]})
    assert hygiene_problems(_notebook(tagged_markdown)) == ["the 'parameters' cell (cell 0) is not a code cell"]
