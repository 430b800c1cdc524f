"""Validators: pure checks `(real, synthetic, thresholds) -> ValidationReport` with pass/fail gates.

Importing this package is cheap: Great Expectations and SDMetrics load inside the calls that use
them.
"""

from validators.expectations import derive_expectations, run_expectations
from validators.report import CheckResult, ValidationReport
from validators.tabular import validate_table
from validators.thresholds import Thresholds

__all__ = [
    "CheckResult",
    "Thresholds",
    "ValidationReport",
    "derive_expectations",
    "run_expectations",
    "validate_table",
]
