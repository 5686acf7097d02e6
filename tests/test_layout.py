"""The package's shape: no import cycles, imports at the top, every subpackage in the wheel.

Imports inside functions hide cycles and slow code paths nobody sees; one is allowed only where a
heavy or optional dependency is deferred on purpose, and it says so with a ``deferred:`` comment.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "kitlib"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(module: str) -> set[str]:
    """The kitlib modules ``module`` imports anywhere in its body (type-checking-only imports aside)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "kitlib")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kitlib":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return {m for m in found if m in MODULES and m != module}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_among_kitlib_modules() -> None:
    graph = {module: imports_of(module) for module in MODULES}
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def _deferred(lines: list[str], node: ast.stmt) -> bool:
    if "deferred:" in lines[node.lineno - 1]:
        return True
    above = node.lineno - 2
    while above >= 0 and lines[above].strip().startswith("#"):
        if "deferred:" in lines[above]:
            return True
        above -= 1
    return False


def test_imports_inside_functions_are_deliberate_deferrals() -> None:
    offenders = []
    for path in MODULES.values():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for function in ast.walk(ast.parse(text)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not _deferred(lines, node):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert offenders == [], "move these imports to the top, or say why they are deferred (# deferred: ...)"


def test_every_subpackage_ships_in_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, f"add to pyproject.toml's packages: {sorted(packages - listed)}"
    assert {"kitlib._bundled.queries", "kitlib._bundled.notebooks"} <= listed


def test_notebooks_import_only_the_documented_surface() -> None:
    import json

    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        imports = {
            line.strip() for line in source.splitlines() if line.startswith(("import ", "from ")) and "kitlib" in line
        }
        assert imports <= {"import kitlib.notebook as kn", "from kitlib.notebook import figures"}, path.name


def test_every_path_the_readme_names_exists() -> None:
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:kitlib|queries|notebooks|tools|bench|tests)/[^`*\s]*)`", readme))
    for row in re.findall(r"^\| `(kitlib/[a-z_]+/)` \| (.+) \|$", readme, re.M):
        folder, text = row
        named.update(folder + name for name in re.findall(r"`([a-z_]+\.py)`", text))
    built = {"kitlib/_bundled/"}  # exists only inside a built wheel
    missing = sorted(p for p in named - built if not (REPO / p.rstrip("/")).exists())
    assert len(named) > 30 and missing == []
