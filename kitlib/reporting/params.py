"""The notebooks a report runs and the parameters they declare (papermill's ``parameters`` cell)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import papermill

from kitlib.errors import NotebookError, UsageError
from kitlib.resources import notebooks_dir

KERNEL_NAME = "kitlib"


#: The parameters every kit notebook declares; the runner passes them to each notebook.
SHARED_PARAMETERS = ("workspace", "now", "lookback", "breakglass", "pseudonymize")


#: Reading order in index.html; other notebooks follow alphabetically.
ORDER = ("readiness_overview", "identities_at_risk", "automation_accounts", "tools_and_versions", "identity_drilldown")


@dataclass(frozen=True)
class NotebookParameter:
    """One entry of a notebook's ``parameters`` cell, as papermill reads it."""

    name: str
    type: str
    default: str
    help: str


def notebook_parameters(path: Path | str) -> list[NotebookParameter]:
    """The typed parameters a notebook declares (what ``kitlib params NOTEBOOK`` prints)."""
    source = resolve_notebook(path)
    try:
        found = papermill.inspect_notebook(str(source))
    except Exception as exc:  # papermill raises plain exceptions for unreadable notebooks
        raise NotebookError(f"cannot read the parameters of {source}: {exc}") from None
    return [
        NotebookParameter(
            p["name"], str(p.get("inferred_type_name", "None")), str(p.get("default", "")), str(p.get("help", ""))
        )
        for p in found.values()
    ]


def format_parameters(params: Sequence[NotebookParameter]) -> str:
    """A plain-text table of parameters for the CLI."""
    if not params:
        return "(no parameters cell)"
    width = max(len(f"{p.name}: {p.type} = {p.default}") for p in params)
    return "\n".join(f"{f'{p.name}: {p.type} = {p.default}':<{width}}  {p.help}".rstrip() for p in params)


def resolve_notebook(name: Path | str) -> Path:
    """A notebook by path, or by name in the notebooks folder (``readiness_overview``)."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    candidate = notebooks_dir() / f"{path.stem}.ipynb"
    if candidate.is_file():
        return candidate.resolve()
    known = ", ".join(p.stem for p in available_notebooks())
    raise UsageError(f"no notebook named {str(name)!r}; known notebooks: {known or '(none)'}")


def available_notebooks() -> list[Path]:
    """The kit's notebooks in reading order."""
    found = {p.stem: p for p in notebooks_dir().glob("*.ipynb")}
    ordered = [found.pop(n) for n in ORDER if n in found]
    return ordered + [found[n] for n in sorted(found)]


def validate_parameters(sources: Sequence[Path], extra: Mapping[str, Any], pseudonymize: bool) -> dict[Path, set[str]]:
    declared = {src: {p.name for p in notebook_parameters(src)} for src in sources}
    for src, names in declared.items():
        missing = [p for p in SHARED_PARAMETERS if p not in names]
        if missing:
            raise UsageError(
                f"notebook {src.stem} does not declare {', '.join(missing)} in its parameters cell; "
                f"every report notebook must (pseudonymisation and the window depend on it)"
            )
    everything = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(extra) - everything)
    if unknown:
        raise UsageError(
            f"unknown notebook parameter(s): {', '.join(unknown)}; "
            f"the selected notebooks take: {', '.join(sorted(everything))}"
        )
    shadowing = sorted(set(extra) & {*SHARED_PARAMETERS, "history"})
    if shadowing:
        raise UsageError(f"pass {', '.join(shadowing)} with their own options, not as extra parameters")
    return declared
