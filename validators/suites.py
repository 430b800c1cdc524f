"""The check registry: one suite of checks per kind of data validated (`ValidationReport.kind`).
A new modality registers its suite here; its thresholds model names the kind
(`validators.thresholds.CheckSelection.kind`)."""

from __future__ import annotations

from typing import Any

from validators.check import Suite
from validators.image_checks import IMAGE_SUITE, PROMPTED_IMAGE_SUITE
from validators.relational_checks import RELATIONAL_SUITE
from validators.report import Kind
from validators.table_checks import TABLE_SUITE

SUITES: dict[Kind, Suite[Any, Any, Any]] = {
    "table": TABLE_SUITE,
    "image": IMAGE_SUITE,
    "prompted_image": PROMPTED_IMAGE_SUITE,
    "relational": RELATIONAL_SUITE,
    # A sequential table's rows run the table suite; `validators.sequences` adds the checks
    # of whole sequences beside it (their thresholds: `SequenceThresholds`).
    "sequence": Suite("sequence", TABLE_SUITE.checks),
}
