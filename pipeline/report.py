"""Writing a validation report's files: into a folder (`synth validate --out`) or into a staged
version (`report/`, so the manifest lists them). Rendering is `validators.html_report`'s."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from core import progress
from datastore import StagedVersion
from validators import ValidationReport
from validators.html_report import Figure, write_report

REPORT_DIR = "report"  # where a dataset version keeps report.html and its plots
REPORT_JSON, REPORT_MD = "report.json", "report.md"


Figures = Callable[[], Sequence[Figure]]  # drawn inside the report phase, which they dominate


def write_report_dir(out: Path, report: ValidationReport, figures: Figures, title: str) -> Path:
    """`report.json`, `report.md`, `report.html` and `plots/` under `out`; the HTML's path.

    (A version gets its JSON and Markdown from the commit, as `validation.json` / `.md`.)
    """
    with progress.phase("report") as phase:
        out.mkdir(parents=True, exist_ok=True)
        (out / REPORT_JSON).write_text(report.to_json())
        (out / REPORT_MD).write_text(report.to_markdown())
        path = write_report(out, report, figures(), title)
        phase.detail = str(path)
    return path


def stage_report(
    staged: StagedVersion, report: ValidationReport, figures: Figures, title: str
) -> str:
    """The HTML report and its plots in the staged version's `report/`; its path there."""
    with progress.phase("report") as phase:
        # Written locally, then copied in: the same path for local and object-store roots.
        with tempfile.TemporaryDirectory() as scratch:
            path = write_report(Path(scratch), report, figures(), title)
            staged.copy_in(scratch, REPORT_DIR)
        phase.detail = f"{REPORT_DIR}/{path.name} in the version"
    return f"{REPORT_DIR}/{path.name}"
