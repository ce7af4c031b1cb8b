"""The import layers of DESIGN.md §1 (pyproject.toml's import-linter contracts) can fail.

`make lint` checks the real tree; these tests check the same contracts against a copy of the
tree with one wrong-way import (or one unplaced module) added, and show lint-imports refuses it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("controltower", "integrations", "exceptions")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the three packages and pyproject.toml, to add a module to without touching ours."""
    base = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, base / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", base / "pyproject.toml")
    return base


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def added_module(tree):
    """Write one module into the copied tree; removed again after the test."""
    written: list[Path] = []

    def add(dotted: str, source: str) -> None:
        path = tree.joinpath(*dotted.split(".")).with_suffix(".py")
        path.write_text(source)
        written.append(path)

    yield add
    for path in written:
        path.unlink()


def test_the_copied_tree_keeps_both_contracts(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_way_import"),
    [
        # integrations may not reach up into traces, and the ground may not reach up into integrations
        ("integrations.wrong_way", "from controltower.traces import selectors"),
        ("controltower.accounts.wrong_way", "import integrations.services.intake"),
        # nothing below the roof imports the roof (live views, pages, urls)
        ("controltower.traces.wrong_way", "from controltower.web.live import hub"),
        ("exceptions.wrong_way", "import controltower.urls"),
        # a lazy import inside a function counts too
        ("controltower.health.wrong_way", "def f():\n    from controltower.web import views\n"),
    ],
)
def test_a_wrong_way_import_breaks_the_floors(tree, added_module, module, wrong_way_import):
    added_module(module, wrong_way_import + "\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout
    assert "BROKEN" in result.stdout
    assert module in result.stdout


def test_a_new_controltower_module_without_a_floor_is_refused(tree, added_module):
    added_module("controltower.unplaced", "from controltower import changes\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout
    assert "controltower.unplaced" in result.stdout
    assert "not listed as layers" in result.stdout


def _layer_modules(layers: list[str]) -> set[str]:
    return {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}


def test_both_contracts_name_the_same_controltower_modules():
    contracts = {
        contract["id"]: contract
        for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
            "contracts"
        ]
    }
    across_packages = {
        name.removeprefix("controltower.")
        for name in _layer_modules(contracts["floors"]["layers"])
        if name.startswith("controltower.")
    }
    assert across_packages == _layer_modules(contracts["controltower-floors"]["layers"])
