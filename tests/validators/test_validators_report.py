from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from validators import CheckResult, ValidationReport
from validators.html_report import write_report
from validators.report import make_check


def _report(*checks: CheckResult) -> ValidationReport:
    return ValidationReport(
        checks=list(checks),
        real_rows=100,
        synthetic_rows=1_000,
        evaluated_rows=500,
        sample_seed=7,
        thresholds={"quality_min": 0.7},
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        gx_result={"frames": [{"rows": 1_000, "result": {"success": False}}]},
    )


QUALITY_LOW = CheckResult(
    name="quality.overall",
    category="fidelity",
    value=0.5,
    threshold=0.7,
    comparison=">=",
    passed=False,
    data={"properties": {"Column Shapes": 0.6, "Column Pair Trends": None}},
)
VALIDITY_OK = CheckResult(
    name="diagnostic.data_validity",
    category="diagnostic",
    value=0.99,
    threshold=0.95,
    comparison=">=",
    passed=True,
)
GX_FAILED = CheckResult(
    name="gx.expect_column_values_to_be_between:alcohol",
    category="schema",
    value=5.6,
    threshold=0.0,
    comparison="<=",
    passed=False,
    detail="alcohol: 10 of 178 values (5.62%) outside [10.8, 15]",
)
GX_PASSED = CheckResult(
    name="gx.expect_column_values_to_not_be_null:alcohol",
    category="schema",
    value=0.0,
    threshold=5.0,
    comparison="<=",
    passed=True,
)


def test_validation_report_json_round_trip():
    # Setup
    report = _report(QUALITY_LOW, VALIDITY_OK, GX_FAILED, GX_PASSED)

    # Run
    restored = ValidationReport.from_json(report.to_json())

    # Assert
    assert restored == report
    assert restored.created_at.tzinfo is not None


def test_validation_report_failed_checks_lists_failed_gates_in_order():
    # Setup
    report = _report(QUALITY_LOW, VALIDITY_OK, GX_FAILED, GX_PASSED)

    # Run
    failed = report.failed_checks

    # Assert
    assert report.passed is False
    assert failed == ["quality.overall", "gx.expect_column_values_to_be_between:alcohol"]


def test_validation_report_advisory_failure_does_not_fail():
    # Setup
    advisory = GX_FAILED.model_copy(update={"gate": False})

    # Run
    report = _report(VALIDITY_OK, advisory)

    # Assert
    assert report.passed is True
    assert report.failed_checks == []
    assert "| `diagnostic.data_validity` | 0.99 | >= 0.95 | — | pass |" in report.to_markdown()


def test_validation_report_to_markdown_shows_verdicts_and_gx_counts():
    # Setup
    report = _report(QUALITY_LOW, VALIDITY_OK, GX_FAILED, GX_PASSED)

    # Run
    markdown = report.to_markdown()

    # Assert
    assert markdown.splitlines()[0] == (
        "**Validation FAILED**: 2 gates failed: quality.overall, "
        "gx.expect_column_values_to_be_between:alcohol."
    )
    assert "| `quality.overall` | 0.5 | >= 0.7 | — | **FAIL** |" in markdown
    assert "| `diagnostic.data_validity` | 0.99 | >= 0.95 | — | pass |" in markdown
    assert "Great Expectations: 1 passed, 1 failed of 2." in markdown
    assert f"- `{GX_FAILED.name}`: {GX_FAILED.detail}" in markdown
    assert GX_PASSED.name not in markdown  # per-expectation rows are listed only when failed


def test_validation_report_check_unknown_name_raises():
    # Setup
    report = _report(VALIDITY_OK)

    # Run / Assert
    with pytest.raises(KeyError, match=re.escape("No check named 'quality.overall'")):
        report.check("quality.overall")


@pytest.mark.parametrize(
    ("value", "comparison", "passed"),
    [(0.8, ">=", True), (0.6, ">=", False), (0.6, "<=", True), (0.8, "<=", False)],
)
def test_make_check_compares_value_with_limit_as_a_gate(value, comparison, passed):
    # Run
    check = make_check("x.score", "fidelity", value, "d", limit=0.7, comparison=comparison)

    # Assert
    assert (check.passed, check.gate) == (passed, True)
    assert (check.threshold, check.comparison) == (0.7, comparison)


def test_make_check_advisory_keeps_its_verdict_but_does_not_gate():
    # Run
    check = make_check("privacy.nndr", "privacy", 0.2, "d", limit=0.5, gate=False)

    # Assert
    assert (check.passed, check.gate) == (False, False)
    assert "| `privacy.nndr` | 0.2 | >= 0.5 | — | fail (advisory) |" in _report(check).to_markdown()


def test_make_check_without_limit_is_a_measurement_that_never_fails():
    # Run
    check = make_check("uplift.accuracy", "utility", -0.3, "d", {"k": 1}, gate=True)

    # Assert
    assert (check.passed, check.gate, check.comparison, check.threshold) == (
        True,
        False,
        None,
        None,
    )
    assert check.data == {"k": 1}


@pytest.mark.parametrize(("none_passes", "passed"), [(False, False), (True, True)])
def test_make_check_missing_value_fails_unless_not_applicable(none_passes, passed):
    # Run
    check = make_check("u.ratio", "utility", None, "d", limit=0.8, none_passes=none_passes)

    # Assert
    assert check.passed is passed
    assert check.gate is True


def test_validation_report_sizes_name_rows_for_tables_and_images_for_images(tmp_path):
    # Setup
    table = _report(QUALITY_LOW, VALIDITY_OK)
    image = table.model_copy(update={"kind": "image"})

    # Run
    table_markdown, image_markdown = table.to_markdown(), image.to_markdown()
    html = write_report(tmp_path, image, [], "digits").read_text()

    # Assert
    assert (
        "Real rows: 100; synthetic rows: 1,000; rows scored by SDMetrics: 500 (seed 7)."
        in table_markdown
    )
    expected = (
        "Real images: 100; synthetic images: 1,000; synthetic images evaluated by the "
        "image-quality checks: 500 (seed 7)."
    )
    assert expected in image_markdown and "SDMetrics" not in image_markdown
    assert expected in html


def test_validation_report_sizes_without_fidelity_checks_give_counts_only():
    # Setup
    image = _report(VALIDITY_OK).model_copy(update={"kind": "image"})

    # Run
    markdown = image.to_markdown()

    # Assert
    assert markdown.splitlines()[2] == "Real images: 100; synthetic images: 1,000."


def test_validation_report_states_its_privacy_in_markdown_and_html(tmp_path):
    # Setup
    report = _report(VALIDITY_OK).model_copy(update={"privacy": "no formal privacy guarantee"})

    # Run
    markdown = report.to_markdown()
    html = write_report(tmp_path, report, [], "t").read_text()

    # Assert
    assert "Privacy: no formal privacy guarantee." in markdown.splitlines()[2]
    assert "Privacy: no formal privacy guarantee." in html


def _gated(*members: CheckResult) -> list[CheckResult]:
    from validators.expectations import gated

    return gated(list(members), gate=True)


DCR_HIGH = make_check(
    "privacy.dcr_share", "privacy", 0.594, "d", limit=0.55, comparison="<=", baseline=0.5
)


def test_failed_gates_count_the_expectations_roll_up_and_its_members_as_one_gate():
    # Setup: 2 of 3 expectations fail, so the roll-up fails too; and one other gate
    failed_null = GX_FAILED.model_copy(update={"name": "gx.expect_column_values_to_be_in_set:x"})
    report = _report(*_gated(GX_FAILED, failed_null, GX_PASSED), DCR_HIGH)

    # Run
    markdown = report.to_markdown()

    # Assert
    assert len(report.failed_checks) == 4  # the machine view keeps every failed check
    assert report.failed_gates == ["expectations (2 of 3)", "privacy.dcr_share"]
    assert markdown.splitlines()[0] == (
        "**Validation FAILED**: 2 gates failed: expectations (2 of 3), privacy.dcr_share."
    )


def test_markdown_leads_with_headlines_beside_gate_and_real_baseline():
    # Setup
    report = _report(VALIDITY_OK, DCR_HIGH, *_gated(GX_FAILED, GX_PASSED))

    # Run
    lines = report.to_markdown().splitlines()

    # Assert: the headline table comes before the per-check table, which comes before the GX list
    headline = next(i for i, line in enumerate(lines) if line.startswith("| headline |"))
    checks = next(i for i, line in enumerate(lines) if line.startswith("| check |"))
    assert headline < checks
    assert lines[headline + 2].startswith(
        "| Privacy: nearer training (`privacy.dcr_share`) | 0.594 | <= 0.55 | 0.5 | **FAIL** |"
    )
    assert "| `privacy.dcr_share` | 0.594 | <= 0.55 | 0.5 | **FAIL** | d |" in lines
    assert lines.index("Great Expectations: 1 passed, 1 failed of 2.") > checks
    assert "- `alcohol`: 1 of 2 failed" in lines
    assert "n/a" not in "\n".join(lines)


def test_html_orders_verdict_headlines_figures_checks_then_expectations_per_column():
    # Setup
    from validators.html_report import Figure, render_html

    report = _report(VALIDITY_OK, DCR_HIGH, *_gated(GX_FAILED, GX_PASSED))
    figure = Figure("dcr", "Privacy", "Distance to closest record", b"\x89PNG", "caption")

    # Run
    page = render_html(report, [figure], "demo")

    # Assert
    order = [
        page.index("2 gates failed: privacy.dcr_share, expectations (1 of 2)."),
        page.index("class='headlines'"),
        page.index("<figure id='dcr'>"),
        page.index("<h2>Checks</h2>"),
        page.index("<details class='failed' open><summary><code>alcohol</code>"),
    ]
    assert order == sorted(order)
    # both alcohol expectations sit in the alcohol group, by their short names
    group = page[order[-1] :]
    assert ">column_values_to_be_between</code>" in group
    assert ">column_values_to_not_be_null</code>" in group
    assert "max-width: 560px" not in page and "n/a" not in page
