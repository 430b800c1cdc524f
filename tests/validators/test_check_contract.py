"""One contract over the whole check registry (`validators.suites.SUITES`): every check declares
a name, its inputs and typed thresholds with defaults, gives a CheckResult on a tiny input and
renders. A check added to a suite is covered here without a line of this file changing, unless
the tiny inputs below cannot produce it (then the test naming it fails)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from core.constraints import parse_constraints
from modalities import available_modalities
from sources.images import load_digits_images, split_holdout
from validators import ValidationReport, validate_table
from validators.check import NEEDS, REAL_AND_SYNTHETIC, Check, Suite
from validators.html_report import Figure, render_html
from validators.image_plots import ImageEvidence
from validators.image_quality import to_uint8
from validators.images import SyntheticImages, validate_images
from validators.relational_checks import RelationalThresholds, validate_relational
from validators.report import Category
from validators.suites import SUITES
from validators.thresholds import (
    CheckSelection,
    ImageThresholds,
    PromptedImageThresholds,
    SequenceThresholds,
    Thresholds,
)

MODELS: dict[str, type[CheckSelection]] = {
    "table": Thresholds,
    "image": ImageThresholds,
    "prompted_image": PromptedImageThresholds,
    "relational": RelationalThresholds,
    "sequence": SequenceThresholds,
}
CHECKS = [(suite, check) for suite in SUITES.values() for check in suite.checks]
IDS = [f"{suite.kind}:{check.name}" for suite, check in CHECKS]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def table_report(wine_real: pd.DataFrame) -> ValidationReport:
    """Every table check's inputs: a holdout, a target and constraints on 178 wine rows."""
    order = np.random.default_rng(0).permutation(len(wine_real))
    train, holdout = wine_real.iloc[order[:130]], wine_real.iloc[order[130:]]
    synthetic = train.sample(frac=1.0, random_state=1).reset_index(drop=True)
    constraints = parse_constraints(
        [
            {"kind": "range", "column": "alcohol", "low": 11, "high": 15},
            {"kind": "fixed_increments", "column": "magnesium", "increment": 1},
        ]
    )
    return validate_table(
        train,
        synthetic,
        holdout=holdout,
        target="target",
        expected_rows=130,
        constraints=constraints,
    )


def _image_reports(cache: Path, prompted: bool) -> tuple[list[ValidationReport], ImageEvidence]:
    train, rest, _ = split_holdout(load_digits_images(), 0.4, seed=0)
    holdout, fresh, _ = split_holdout(rest, 0.5, seed=1)
    images = to_uint8(fresh.images)
    labels = [fresh.label_names[i] for i in fresh.labels]
    ids = [f"s{i}" for i in range(len(images))]
    prompts = [f"a digit {label}" for label in labels] if prompted else None
    synthetic = SyntheticImages(images, labels, ids, prompts)
    counts = pd.Series(prompts).value_counts().to_dict() if prompted else None
    model = PromptedImageThresholds if prompted else ImageThresholds
    thresholds = model(extractor_steps=20, max_images=40, subsets=1)
    reports = [
        validate_images(
            train,
            synthetic,
            real_holdout=real,
            extractor_cache=cache,
            thresholds=thresholds,
            prompt_counts=counts,
        )
        for real in (holdout, None)
    ]
    return reports, ImageEvidence(to_uint8(train.images), synthetic)


@pytest.fixture(scope="module")
def image_reports(tmp_path_factory) -> tuple[list[ValidationReport], ImageEvidence]:
    """The image suite on held-out real digits, with and without a real holdout (the second is
    what reports `image.quality_skipped`); a few extractor steps and one subset keep it fast."""
    return _image_reports(tmp_path_factory.mktemp("extractor"), prompted=False)


@pytest.fixture(scope="module")
def prompted_reports(tmp_path_factory) -> tuple[list[ValidationReport], ImageEvidence]:
    """The same for images drawn for prompts (the prompted_image suite)."""
    return _image_reports(tmp_path_factory.mktemp("extractor"), prompted=True)


@pytest.fixture(scope="module")
def relational_report() -> ValidationReport:
    """The relational suite on SDMetrics' demo users -> sessions against a reshuffled copy."""
    from modalities.relational import keep_tables
    from sources.relational import load_builtin_relational

    real = keep_tables(load_builtin_relational("sdmetrics_demo"), ["users", "sessions"])
    synthetic = {
        name: frame.sample(frac=1.0, random_state=0) for name, frame in real.tables.items()
    }
    return validate_relational(real, synthetic, RelationalThresholds())


@pytest.fixture(scope="module")
def reported(
    table_report, image_reports, prompted_reports, relational_report
) -> dict[str, list[ValidationReport]]:
    return {
        "table": [table_report],
        "image": image_reports[0],
        "prompted_image": prompted_reports[0],
        "relational": [relational_report],
        "sequence": [table_report],  # a sequence's rows run the table suite
    }


def _report_with(reports: list[ValidationReport], name: str) -> ValidationReport:
    found = [report for report in reports if name in {c.name for c in report.checks}]
    assert found, f"no tiny input gives {name}: extend this module's fixtures"
    return found[0]


def test_every_modality_has_a_suite_with_a_thresholds_model():
    # Assert
    assert sorted(SUITES) == sorted(MODELS) == available_modalities()
    assert all(suite.kind == kind for kind, suite in SUITES.items())
    assert all(MODELS[kind].suite() is suite for kind, suite in SUITES.items())


@pytest.mark.parametrize(("suite", "check"), CHECKS, ids=IDS)
def test_every_check_declares_name_inputs_and_typed_thresholds(suite: Suite, check: Check):
    # Setup
    fields = MODELS[suite.kind].model_fields

    # Assert
    assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", check.name)
    assert check.category in typing.get_args(Category)
    assert REAL_AND_SYNTHETIC <= check.needs <= set(NEEDS)
    keys = [threshold.key for threshold in check.thresholds]
    assert len(set(keys)) == len(keys)
    for threshold in check.thresholds:
        info = fields[threshold.field]
        assert info.default is not PydanticUndefined
        assert isinstance(info.default, info.annotation)  # typed: int, float or bool
        assert threshold.comparison == {"min": ">=", "max": "<="}.get(threshold.key)


@pytest.mark.parametrize(("suite", "check"), CHECKS, ids=IDS)
def test_every_check_gives_its_check_result_on_a_tiny_input(suite, check, reported):
    # Run
    report = _report_with(reported[suite.kind], check.name)
    result = report.check(check.name)

    # Assert
    assert result.category == check.category
    # A limit exactly where thresholds are declared, so `add` can make the check a gate.
    assert (result.threshold is not None) == bool(check.thresholds)
    assert not result.gate or result.threshold is not None


@pytest.mark.parametrize(("suite", "check"), CHECKS, ids=IDS)
def test_every_check_renders_as_a_row_and_its_figure(suite, check, reported, image_reports):
    # Setup
    matplotlib.use("Agg")
    report = _report_with(reported[suite.kind], check.name)
    evidence = image_reports[1] if suite.kind not in ("table", "sequence") else None

    # Run
    markdown, page = report.to_markdown(), render_html(report, [], "contract")
    result = report.check(check.name)
    figure = None if check.render is None else check.render(result, report, evidence)

    # Assert
    assert f"| `{check.name}` |" in markdown
    assert f"<td><code title='{check.name}'>{check.name}</code></td>" in page
    assert "n/a" not in markdown and "np.float" not in markdown  # numbers shown, as numbers
    if check.render is not None:
        assert isinstance(figure, Figure) and figure.png.startswith(PNG_MAGIC)


@pytest.mark.parametrize(("suite", "check"), CHECKS, ids=IDS)
def test_every_threshold_can_be_set_by_check_name(suite: Suite, check: Check):
    # Setup
    model = MODELS[suite.kind]
    for threshold in check.thresholds:
        default = model.model_fields[threshold.field].default
        value = default + 1 if isinstance(default, int) else default / 2
        shared = [
            other.name
            for other in suite.checks
            if other is not check and threshold.field in {t.field for t in other.thresholds}
        ]
        by_name = {"checks": {check.name: {threshold.key: value}}}

        # Run / Assert: a field two checks share cannot be set for one of them
        if shared:
            with pytest.raises(ValidationError, match=re.escape(f"set {threshold.field} for all")):
                model.model_validate(by_name)
        else:
            assert getattr(model.model_validate(by_name), threshold.field) == value


def test_fd_figure_draws_only_the_panels_of_checks_left_in_the_report(image_reports):
    # Setup: a job dropping KID and PRDC keeps image.fd_cnn, whose figure also drew them
    matplotlib.use("Agg")
    (report, _), evidence = image_reports
    kept = [c for c in report.checks if c.name not in {"image.kid_cnn", "image.density"}]
    fd_only = [c for c in kept if c.name in {"image.fd_cnn", "image.extractor"}]

    # Run
    figures = {
        name: SUITES["image"].figures(report.model_copy(update={"checks": checks}), evidence)
        for name, checks in (("all", report.checks), ("some", kept), ("fd", fd_only))
    }

    # Assert
    assert [f.name for f in figures["fd"]] == ["quality_vs_floor"]
    assert [f.name for f in figures["some"]] == [f.name for f in figures["all"]]
    assert len({figures[name][0].png for name in figures}) == 3  # three different layouts
