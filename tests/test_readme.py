"""README's two commands are the contract with users and CI: keep them true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text.split("---")[0])


def test_readme_starts_with_demo_and_test_commands():
    # Run
    demo, tests = _readme_commands()

    # Assert
    assert demo.endswith("synth run jobs/demo.yaml")
    assert (ROOT / "jobs" / "demo.yaml").is_file()
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command():
    # Setup
    _, tests = _readme_commands()

    # Run
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()

    # Assert
    assert tests in ci_lines


def test_setup_installs_torch_before_the_project():
    # Run
    setup = (ROOT / "scripts" / "setup.sh").read_text()

    # Assert
    assert setup.index("torch==2.13.0") < setup.index('-e ".[dev]"')
