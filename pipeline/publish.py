"""The one publish path: stage -> write -> verify -> commit, or abort; a failed gate quarantines.

Generation, augmentation and `synth validate --publish` all publish through here:

    with staging(store, dataset) as staged:    # aborted if anything in the block fails
        staged.write_part(0, frame)            # ... parts, views, model, report files
        version = commit(staged, report, rows_expected=..., lineage=...)
    raise_if_quarantined(version, report)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core import progress
from core.errors import ValidationFailedError
from datastore import DatasetStore, DatasetVersion, StagedVersion
from pipeline.report import REPORT_DIR
from validators import ValidationReport
from validators.html_report import REPORT_HTML
from validators.report_view import failing_lines, report_view


@contextmanager
def staging(store: DatasetStore, dataset: str) -> Iterator[StagedVersion]:
    """A new staged version of `dataset`; any failure (or interrupt) in the block aborts it, so a
    run never leaves a half-written version."""
    store.clean_staging()  # leftovers of killed runs (older than a day); never a live one
    staged = store.begin(dataset)
    try:
        yield staged
    except BaseException:
        staged.abort()
        raise


def commit(
    staged: StagedVersion,
    report: ValidationReport,
    *,
    rows_expected: int | None,
    lineage: dict[str, Any],
) -> DatasetVersion:
    """Verify the staged files and publish them atomically with the report; a failed gate
    publishes the version as quarantined (never `latest`). The manifest's `kind` is the
    report's: the modality whose suite validated the records."""
    with progress.phase("publish") as phase:
        version = staged.commit(
            rows_expected=rows_expected,
            lineage=lineage,
            report_json=report.to_json(),
            report_markdown=report.to_markdown(),
            passed=report.passed,
            failed_checks=report.failed_checks,
            kind=report.kind,
        )
        status = "published" if report.passed else "QUARANTINED"
        phase.detail = f"{version.ref} {status} at {version.path}"
    return version


def raise_if_quarantined(version: DatasetVersion, report: ValidationReport) -> None:
    """After publishing: a failed gate is the run's failure, naming the checks and the version."""
    if not report.passed:
        files = {entry.path for entry in version.manifest.files}
        shown = next(
            (f for f in (f"{REPORT_DIR}/{REPORT_HTML}", "validation.md") if f in files), None
        )
        raise ValidationFailedError(
            f"{version.ref} failed its validation gates {report.failed_checks} and was "
            f"quarantined at {version.path}.",
            failed_checks=report.failed_checks,
            version=version.ref,
            summary=report_view(report).summary,
            failures=failing_lines(report),
            report=str(version.path / shown) if shown else None,
        )
