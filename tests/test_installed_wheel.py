"""A wheel built from the checkout works anywhere: installed into a fresh venv outside the checkout.

It proves the wheel carries what the kit finds at run time (the query catalog, the notebooks,
the templates, the mapping tables) and that nothing reaches back into the repository. The fresh
venv gets the kit only from the wheel; its third-party packages are the test environment's own,
made visible through a ``.pth`` line (installing ~150 pinned packages again would add minutes
and a network dependency without testing anything about the kit).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import NOW, REPO

pytestmark = pytest.mark.slow

SHIPPED = ("pyproject.toml", "README.md", "kitlib", "queries", "notebooks")


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv (outside the checkout) with the kit installed from a wheel built from a copy of it."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SHIPPED:
        item = REPO / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(item, source / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITLIB_", "PYTHON", "JUPYTER"))}
    dist = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), "."], source, env)
    wheel = next(dist.glob("kitlib-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], root, env)
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env))
    purelib = Path(str(purelib).strip())
    (purelib / "shared-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    # nbconvert's templates are data files its own install puts under the venv's share/jupyter
    shared_data = Path(sys.prefix) / "share" / "jupyter" / "nbconvert"
    (venv / "share" / "jupyter").mkdir(parents=True, exist_ok=True)
    (venv / "share" / "jupyter" / "nbconvert").symlink_to(shared_data, target_is_directory=True)
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], root, env)
    _run([str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", "kitlib"], root, env)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = root / "elsewhere"
    work.mkdir()
    return work, env


def test_the_wheel_carries_queries_notebooks_templates_and_data(installed: tuple[Path, dict[str, str]]) -> None:
    work, env = installed
    probe = (
        "import kitlib, kitlib.resources as r; "
        "print(kitlib.__file__); print(r.queries_dir()); print(r.notebooks_dir()); "
        "print(len(list(r.queries_dir().glob('*.kql'))), len(list(r.notebooks_dir().glob('*.ipynb')))); "
        "print(r.templates_dir().is_dir(), r.data_file('azure_cli_msal.csv').is_file())"
    )
    lines = _run(["python", "-c", probe], work, env).split("\n")
    package, queries, notebooks = (Path(line) for line in lines[:3])
    assert REPO not in package.parents and "site-packages" in package.parts
    assert queries.parts[-2:] == ("_bundled", "queries") and notebooks.parts[-2:] == ("_bundled", "notebooks")
    assert lines[3].split() == [str(len(list((REPO / "queries").glob("*.kql")))), "5"]
    assert lines[4] == "True True"


def test_the_installed_kit_runs_demo_analyze_report_and_papermill(installed: tuple[Path, dict[str, str]]) -> None:
    work, env = installed
    now = NOW.isoformat().replace("+00:00", "Z")
    _run(["kitlib", "demo", "--out", "tenant", "--users", "60", "--days", "5", "--now", now], work, env)
    _run(["kitlib", "analyze", "--workspace", "tenant", "--out", "analysis", "--now", now], work, env)
    assert (work / "analysis" / "identities.csv").stat().st_size > 0
    _run(["kitlib", "report", "--workspace", "tenant", "--out", "report", "--now", now, "--no-progress"], work, env)
    assert {p.name for p in (work / "report").glob("*.html")} >= {"index.html", "readiness_overview.html"}
    installed_notebook = Path(
        _run(["python", "-c", "import kitlib.resources as r; print(r.notebooks_dir())"], work, env).strip()
    )
    _run(
        [
            "python",
            "-m",
            "papermill",
            str(installed_notebook / "identities_at_risk.ipynb"),
            "executed.ipynb",
            "-k",
            "kitlib",
            "-p",
            "workspace",
            "tenant",
            "-p",
            "now",
            now,
        ],
        work,
        env,
    )
    assert (work / "executed.ipynb").stat().st_size > 0
