"""Writing a validation report's files: into a folder (`synth validate --out`) or into a staged
version (`report/`, so the manifest lists them). Rendering is `validators.html_report`'s."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from datastore import StagedVersion
from validators import ValidationReport
from validators.html_report import Figure, write_report

REPORT_DIR = "report"  # where a dataset version keeps report.html and its plots
REPORT_JSON, REPORT_MD = "report.json", "report.md"


def write_report_dir(
    out: Path, report: ValidationReport, figures: Sequence[Figure], title: str
) -> Path:
    """`report.json`, `report.md`, `report.html` and `plots/` under `out`; the HTML's path.

    (A version gets its JSON and Markdown from the commit, as `validation.json` / `.md`.)
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(report.to_json())
    (out / REPORT_MD).write_text(report.to_markdown())
    return write_report(out, report, figures, title)


def stage_report(
    staged: StagedVersion, report: ValidationReport, figures: Sequence[Figure], title: str
) -> str:
    """The HTML report and its plots in the staged version's `report/`; its path there."""
    # Written locally, then copied in: the same path for local and object-store roots.
    with tempfile.TemporaryDirectory() as scratch:
        path = write_report(Path(scratch), report, figures, title)
        staged.copy_in(scratch, REPORT_DIR)
    return f"{REPORT_DIR}/{path.name}"
