"""Typed validation results: one `CheckResult` per check, gathered in a `ValidationReport`.

Check names are stable and machine-friendly so flows, manifests, dashboards and a job's
`validation.drop` / `add` / `checks` can refer to them; each is a `Check` of its modality's suite
(`validators.check`, `validators.table_checks`, `validators.image_checks`):

| name                                  | category   | what |
|---------------------------------------|------------|------|
| `quality.overall`                     | fidelity   | SDMetrics quality score |
| `quality.column_shapes`               | fidelity   | SDMetrics Column Shapes |
| `quality.column_pair_trends`          | fidelity   | SDMetrics Column Pair Trends |
| `quality.pair_trends_retained`        | fidelity   | pair trends: shuffled real 0, holdout 1 |
| `diagnostic.data_validity`            | diagnostic | SDMetrics Data Validity |
| `diagnostic.data_structure`           | diagnostic | SDMetrics Data Structure |
| `expectations.success`                | schema     | every schema check below passed |
| `rows.total`                          | schema     | total rows of part files == planned rows |
| `gx.<expectation_type>[:<column>]`    | schema     | one Great Expectations expectation |
| `columns.summary`                     | fidelity   | advisory: per-column statistics |
| `detection.c2st_auc`                  | detection  | C2ST ROC AUC (+ real-vs-real baseline) |
| `detection.c2st_copies`               | detection  | C2ST ROC AUC not far below 0.5 (copies) |
| `utility.tstr_ratio`                  | utility    | TSTR / TRTR score on the real holdout |
| `privacy.dcr_share`                   | privacy    | size-balanced DCR share closer to train |
| `privacy.exact_copy_rate`             | privacy    | synthetic rows equal to a training row |
| `privacy.nndr`                        | privacy    | advisory: median NN distance ratio |
"""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["schema", "fidelity", "diagnostic", "detection", "utility", "privacy"]
Comparison = Literal[">=", "<=", "=="]
Kind = str  # what was validated: a modality name, as in a version manifest ("table", "image")
# How a report of a kind counts its records, and what its sampled fidelity checks saw.
_WORDING = {
    "table": ("rows", "rows scored by SDMetrics"),
    "image": ("images", "synthetic images evaluated by the image-quality checks"),
    "prompted_image": ("images", "synthetic images evaluated by the image-quality checks"),
    "relational": ("rows", "synthetic rows of every table scored by SDMetrics"),
}

GX_PREFIX = "gx."
ROLLUP = "expectations.success"  # passes when every schema check (its members) passed
COMPARE = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


class CheckResult(BaseModel):
    """The outcome of one check.

    `value` is compared with `threshold` by `comparison` where a check has a numeric verdict
    (None otherwise, e.g. a dtype check); `detail` is a one-line human explanation and `data`
    holds JSON-able specifics (per-column scores, offending values).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    category: Category
    value: float | None
    threshold: float | None
    comparison: Comparison | None
    passed: bool
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    gate: bool = Field(
        True,
        description="Whether this check decides the report's verdict; false keeps it advisory "
        "(schema checks when `expectations_must_pass` is false).",
    )
    baseline: float | None = Field(
        None,
        description="The same measure on real data only (the real holdout against the training "
        "rows), on the scale of `value`; None where the check has no real-vs-real reference.",
    )


def make_check(
    name: str,
    category: Category,
    value: float | None,
    detail: str,
    data: dict[str, Any] | None = None,
    *,
    limit: float | None = None,
    comparison: Comparison = ">=",
    gate: bool = True,
    none_passes: bool = False,
    baseline: float | None = None,
) -> CheckResult:
    """The one way validators build a thresholded check.

    With a `limit` the check passes when `value <comparison> limit` and decides the report's
    verdict unless `gate` is false (then it is advisory: still marked pass/fail). Without a
    `limit` it is an advisory measurement that never fails. A missing `value` fails a limit
    unless `none_passes` (the check does not apply, e.g. nothing to score). `baseline` is what
    real data scores on the same measure (shown beside `value` in every report).
    """
    if limit is None:
        passed = True
    elif value is None:
        passed = none_passes
    else:
        passed = bool(COMPARE[comparison](value, limit))
    return CheckResult(
        name=name,
        category=category,
        value=value,
        threshold=limit,
        comparison=comparison if limit is not None else None,
        passed=passed,
        detail=detail,
        data=data or {},
        gate=gate and limit is not None,
        baseline=baseline,
    )


class ValidationReport(BaseModel):
    """Every check of one validation run plus what it ran on.

    `evaluated_rows` is the number of synthetic rows the sampled SDMetrics scores saw (at most
    `max_rows_for_metrics`), for images the synthetic images the image-quality checks sampled
    (at most `max_images`); expectations always see every synthetic row.
    """

    model_config = ConfigDict(frozen=True)

    checks: list[CheckResult]
    real_rows: int
    synthetic_rows: int
    evaluated_rows: int
    sample_seed: int
    thresholds: dict[str, Any]
    created_at: datetime
    gx_result: dict[str, Any] | None = None
    kind: Kind = Field(
        "table", description="what was validated: table rows or images (sets the wording)"
    )
    privacy: str | None = Field(
        None,
        description="the formal privacy of the generator's fit, e.g. 'no formal privacy "
        "guarantee' (set by a job's run; None for user-supplied files)",
    )

    @property
    def passed(self) -> bool:
        """True when every gate check passed."""
        return all(check.passed for check in self.checks if check.gate)

    @property
    def failed_checks(self) -> list[str]:
        """Names of the failed gate checks, in report order (empty when `passed`)."""
        return [check.name for check in self.checks if check.gate and not check.passed]

    @property
    def expectation_checks(self) -> list[CheckResult]:
        """The schema checks `expectations.success` rolls up: `rows.total` and every `gx.*`."""
        return [c for c in self.checks if c.category == "schema" and c.name != ROLLUP]

    @property
    def failed_gates(self) -> list[str]:
        """The failed gates as a reader counts them: the expectations roll-up and its failed
        members are one gate, `expectations (2 of 40)`; other failed gates by name."""
        rolled_up = any(check.name == ROLLUP for check in self.checks)
        members = self.expectation_checks if rolled_up else []
        member_names = {member.name for member in members}
        failed = []
        for check in self.checks:
            if not check.gate or check.passed or check.name in member_names:
                continue
            if check.name == ROLLUP:
                bad = sum(not member.passed for member in members)
                failed.append(f"expectations ({bad} of {len(members)})")
            else:
                failed.append(check.name)
        return failed

    def check(self, name: str) -> CheckResult:
        """The check called `name`; KeyError naming the available checks if there is none."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"No check named {name!r}; checks: {[c.name for c in self.checks]}")

    def to_json(self) -> str:
        """The full report as JSON (what `from_json` reads back)."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> ValidationReport:
        """Read a report written by `to_json`."""
        return cls.model_validate_json(text)

    def sizes(self) -> str:
        """One sentence: how much real and synthetic data was validated and how much of it the
        sampled fidelity checks saw (left out when none ran)."""
        unit, sampled = _WORDING.get(self.kind, ("records", "records scored"))
        text = f"Real {unit}: {self.real_rows:,}; synthetic {unit}: {self.synthetic_rows:,}"
        privacy = "" if self.privacy is None else f" Privacy: {self.privacy}."
        if not any(check.category == "fidelity" for check in self.checks):
            return text + "." + privacy
        return f"{text}; {sampled}: {self.evaluated_rows:,} (seed {self.sample_seed}).{privacy}"

    def to_markdown(self) -> str:
        """The report as Markdown: verdict, headline figures, every check, the expectations by
        column (`validators.report_view`, the same content as the HTML report)."""
        from validators.report_view import render_markdown  # it renders this module's models

        return render_markdown(self)
