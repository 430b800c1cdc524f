"""Every package of the project is under the import-linter contracts in pyproject.toml, so a new
package cannot dodge `lint-imports` (the contracts only check packages they name)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Scripts, not a layer of the application: their own forbidden contract keeps them off flows/.
SCRIPTS = {"benchmarks", "scripts"}


def _importlinter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _code_folders() -> set[str]:
    """Top-level folders holding Python code, except the tests."""
    return {
        path.parent.name
        for path in ROOT.glob("*/*.py")
        if not path.parent.name.startswith(".") and path.parent.name != "tests"
    }


def _layered(contract: dict) -> set[str]:
    names = set()
    for layer in contract["layers"]:
        for delimiter in "|:":
            layer = layer.replace(delimiter, " ")
        names.update(name.strip("()") for name in layer.split())
    return names


def test_every_code_folder_is_a_root_package_of_the_contracts():
    # Run
    roots = set(_importlinter()["root_packages"])

    # Assert
    assert _code_folders() == roots


def test_every_package_but_the_scripts_sits_in_the_layers_contract():
    # Setup
    config = _importlinter()
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers" and "containers" not in c]

    # Assert
    assert _layered(layers) == set(config["root_packages"]) - SCRIPTS
