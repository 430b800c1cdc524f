"""What a validation report says, in the order a person reads it. The Markdown (`validation.md`,
`synth validate`, the Prefect artifact) and the HTML page (`validators.html_report`) both render
this one view, so they say the same:

1. the verdict, failed gates counted as a reader counts them (`ValidationReport.failed_gates`);
2. the headline figures (quality, detection, privacy, utility), each beside its gate and its
   real-vs-real baseline, with a one-line meaning;
3. every check but the expectations: value, threshold and baseline in one form;
4. the Great Expectations expectations, grouped per column.

A figure that does not exist reads `—` (a dtype check has no number); a number is never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from validators.report import GX_PREFIX, ROLLUP, CheckResult, ValidationReport

NONE = "—"
TABLE_GROUP = "table"  # expectations on the whole table (row count, column order)
Status = Literal["pass", "fail", "advisory", "info"]

# Check name -> (headline title, what its value means). The first of these a report has lead it,
# in this order; table and image checks have distinct names, so one list serves both kinds.
HEADLINES: dict[str, tuple[str, str]] = {
    "quality.overall": (
        "Quality",
        "How closely column shapes and column-pair trends match the real rows (1 = the same).",
    ),
    "detection.c2st_auc": (
        "Detection",
        "How well a classifier tells synthetic from real rows: 0.5 = it cannot; the baseline is "
        "the same classifier on two real samples.",
    ),
    "privacy.dcr_share": (
        "Privacy: nearer training",
        "Share of synthetic rows whose closest real row is a training row, size-balanced: 0.5 = "
        "no closer to training than unseen real rows are.",
    ),
    "privacy.exact_copy_rate": (
        "Privacy: exact copies",
        "Share of synthetic rows equal to a training row; the baseline is the share of real "
        "holdout rows that are.",
    ),
    "utility.tstr_ratio": (
        "Utility",
        "A model trained on synthetic rows and scored on the real holdout, as a share of the "
        "same model trained on real rows (1 = as good).",
    ),
    "image.fd_cnn": (
        "Quality",
        "Fréchet distance of image features to half of the real holdout, which no generator saw "
        "(lower is closer); the baseline is the floor: the other half against it.",
    ),
    "image.recall": (
        "Diversity",
        "Share of real holdout images with a synthetic image among their nearest neighbours; "
        "the baseline is the same share for the holdout's other half.",
    ),
    "image.memorised_feature": (
        "Privacy",
        "Share of synthetic images nearer a training image than real holdout images usually "
        "are; the baseline is the holdout's own share.",
    ),
    "image.cas": (
        "Utility",
        "A CNN trained on synthetic images and scored on the real holdout, as a share of one "
        "trained on real images (1 = as good).",
    ),
}


@dataclass(frozen=True)
class Row:
    """One check as every report shows it; `status` styles it (pass, gate failed, advisory
    failure, a measurement or a check that does not apply), `gate` says whether its threshold
    decides the verdict."""

    name: str
    value: str
    threshold: str
    baseline: str
    verdict: str
    status: Status
    detail: str
    gate: bool


@dataclass(frozen=True)
class Headline:
    title: str
    meaning: str
    row: Row


@dataclass(frozen=True)
class ExpectationGroup:
    """The expectations on one column (or on the whole table), failed ones first."""

    column: str
    rows: list[Row]

    @property
    def failed(self) -> int:
        return sum(row.status in ("fail", "advisory") for row in self.rows)


@dataclass(frozen=True)
class ReportView:
    passed: bool
    verdict: str  # "PASSED" or "FAILED"
    summary: str  # which gates failed, or how many passed
    sizes: str
    headlines: list[Headline]
    checks: list[Row]
    expectations: list[ExpectationGroup]

    @property
    def expectations_summary(self) -> str:
        total = sum(len(group.rows) for group in self.expectations)
        failed = sum(group.failed for group in self.expectations)
        return f"Great Expectations: {total - failed} passed, {failed} failed of {total}."


def report_view(report: ValidationReport) -> ReportView:
    """The view of `report` (see the module docstring)."""
    members = report.expectation_checks
    member_names = {member.name for member in members}
    others = [c for c in report.checks if c.name not in member_names]
    failed = report.failed_gates
    if failed:
        summary = f"{len(failed)} gate{'s' if len(failed) != 1 else ''} failed: " + ", ".join(
            failed
        )
    else:
        gates = sum(check.gate for check in others)
        summary = f"every gate passed ({gates} gate{'s' if gates != 1 else ''})"
    by_name = {check.name: check for check in others}
    headlines = [
        Headline(title, meaning, row(by_name[name]))
        for name, (title, meaning) in HEADLINES.items()
        if name in by_name
    ]
    return ReportView(
        passed=report.passed,
        verdict="PASSED" if report.passed else "FAILED",
        summary=summary,
        sizes=report.sizes(),
        headlines=headlines,
        checks=[row(check) for check in others],
        expectations=_groups(members),
    )


def headline_text(report: ValidationReport) -> str:
    """The report's headline as plain text (what `synth validate` prints before its verdict):
    the sizes and the headline figures, one line each; every check and expectation stays in
    the report files."""
    view = report_view(report)
    width = max((len(h.title) for h in view.headlines), default=0)
    lines = [view.sizes]
    for h in view.headlines:
        baseline = f", real-vs-real {h.row.baseline}" if h.row.baseline != NONE else ""
        lines.append(
            f"  {h.title.ljust(width)}  {h.row.value} (threshold {h.row.threshold}{baseline}): "
            f"{h.row.verdict}"
        )
    return "\n".join(lines)


def failing_lines(report: ValidationReport) -> list[str]:
    """One line per failed gate check, `name  value  threshold` (a failed expectations roll-up
    as its failed members, each a check of its own), for the end of a command's output."""
    failing = [
        row(check)
        for check in report.checks
        if check.gate and not check.passed and check.name != ROLLUP
    ]
    width = max((len(r.name) for r in failing), default=0)
    return [
        f"{r.name.ljust(width)}  value {r.value}, threshold {r.threshold}"
        + (f", real-vs-real {r.baseline}" if r.baseline != NONE else "")
        for r in failing
    ]


def row(check: CheckResult) -> Row:
    """`check` in the one form every report shows."""
    verdict, status = _verdict(check)
    return Row(
        name=check.name,
        value=_value(check),
        threshold=_threshold(check),
        baseline=number(check.baseline),
        verdict=verdict,
        status=status,
        detail=check.detail,
        gate=check.gate,
    )


def number(value: float | None) -> str:
    if value is None:
        return NONE
    if float(value).is_integer():
        return f"{int(value):,}"  # counts such as rows.total, not 1e+04
    return f"{value:.4g}"


def _value(check: CheckResult) -> str:
    observed = check.data.get("observed_value")
    if check.value is None and isinstance(observed, str):
        return observed  # a dtype: what the type check saw
    return number(check.value)


def _threshold(check: CheckResult) -> str:
    if check.threshold is not None:
        return f"{check.comparison} {number(check.threshold)}"
    kwargs = check.data.get("kwargs", {})
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if check.value is not None and (low is not None or high is not None):
        return f"within [{number(low) if low is not None else '-inf'}, " + (
            f"{number(high) if high is not None else 'inf'}]"
        )
    if "type_list" in kwargs:
        return f"one of {len(kwargs['type_list'])} types"
    return NONE


def _verdict(check: CheckResult) -> tuple[str, Status]:
    if check.value is None and check.detail.startswith("not applicable"):
        return "not applicable", "info"
    if check.threshold is None and not check.gate:
        return "measured", "info"  # a figure reported for reading (e.g. an uplift)
    if check.passed:
        return ("pass", "pass") if check.gate else ("pass (advisory)", "pass")
    return ("FAIL", "fail") if check.gate else ("fail (advisory)", "advisory")


def _groups(members: list[CheckResult]) -> list[ExpectationGroup]:
    groups: dict[str, list[Row]] = {}
    for check in members:
        _, _, column = check.name.removeprefix(GX_PREFIX).partition(":")
        groups.setdefault(column or TABLE_GROUP, []).append(row(check))
    order = {"fail": 0, "advisory": 1}
    return [
        ExpectationGroup(column, sorted(rows, key=lambda r: order.get(r.status, 2)))
        for column, rows in groups.items()
    ]


def short_name(name: str) -> str:
    """An expectation's name without the `gx.expect_` prefix and its column:
    `gx.expect_column_values_to_not_be_null:hue` -> `column_values_to_not_be_null`."""
    return name.removeprefix(GX_PREFIX).removeprefix("expect_").partition(":")[0]


def render_markdown(report: ValidationReport) -> str:
    """The view as Markdown (the text of `ValidationReport.to_markdown`)."""
    view = report_view(report)
    lines = [f"**Validation {view.verdict}**: {view.summary}.", "", view.sizes]
    if view.headlines:
        lines += [
            "",
            "| headline | value | threshold | real-vs-real | verdict | what it means |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {h.title} (`{h.row.name}`) | {h.row.value} | {h.row.threshold} | "
            f"{h.row.baseline} | {_md_verdict(h.row)} | {_cell(h.meaning)} |"
            for h in view.headlines
        ]
    lines += [
        "",
        "| check | value | threshold | baseline | verdict | detail |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{r.name}` | {r.value} | {r.threshold} | {r.baseline} | {_md_verdict(r)} | "
        f"{_cell(r.detail)} |"
        for r in view.checks
    ]
    if view.expectations:
        lines += ["", view.expectations_summary]
        clean = [group.column for group in view.expectations if not group.failed]
        for group in view.expectations:
            if group.failed:
                lines.append(f"- `{group.column}`: {group.failed} of {len(group.rows)} failed")
                lines += [
                    f"  - `{r.name}`: {r.detail} (value {r.value}, threshold {r.threshold}; "
                    f"{r.verdict})"
                    for r in group.rows
                    if r.status in ("fail", "advisory")
                ]
        if clean:
            lines.append("- every expectation passed on: " + ", ".join(f"`{c}`" for c in clean))
    return "\n".join(lines) + "\n"


def _md_verdict(row: Row) -> str:
    return f"**{row.verdict}**" if row.status == "fail" else row.verdict


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
