"""The conda and pip paths install the same pins, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib

from conftest import REPO


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements" / "lock.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"lock line without an exact pin: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_installs_exactly_the_lock() -> None:
    text = (REPO / "environment.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M)
    listed = [m.group(1).strip() for m in re.finditer(r"^\s{6}- (.+?)\s*$", text, re.M)]
    assert "-e ." in listed, "environment.yml must install the kit itself"
    conda_pins = {}
    for item in listed:
        if "==" in item:
            name, _, version = item.partition("==")
            conda_pins[name.lower().replace("_", "-")] = version
    assert conda_pins == lock_pins()


def test_every_direct_dependency_is_pinned_to_the_locked_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    direct = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        direct.extend(extra)
    locked = lock_pins()
    for requirement in direct:
        name, sep, version = requirement.partition("==")
        assert sep, f"{requirement} is not an exact pin"
        assert locked.get(name.lower()) == version, f"{requirement} disagrees with requirements/lock.txt"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test\s*$", ci, re.M)
    assert "make test" in (REPO / "README.md").read_text(encoding="utf-8")
