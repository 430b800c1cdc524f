"""The check protocol: every gate and measurement of a validation report is a `Check` in the
suite of its modality (`validators.table_checks.TABLE_SUITE`, `validators.image_checks.
IMAGE_SUITE`, registered by kind in `validators.suites.SUITES`).

A check declares

- its `name` (what reports, jobs and dashboards call it) and `category`;
- what it `needs` (real, synthetic, holdout, target, labels): the suite leaves a check out when
  its inputs lack one, or reports it as passing "not applicable" when the check says so;
- its `thresholds`: each a key a job may set by name (`validation.checks.<name>.<key>`) and the
  field of the modality's thresholds model holding its type and default;
- the `measure` computing its verdict, a `CheckResult`: one computation several checks judge
  (the SDMetrics reports, one C2ST run, one DCR run) runs once, and only if a selected check
  needs it;
- how it renders: every check is a row of the report (`validators.report_view`, rendered by
  `ValidationReport.to_markdown` and `validators.html_report`) showing its value, threshold and
  real-vs-real `baseline`, and a check with a `render` also draws a figure of its own.

A job selects checks by name: `validation.drop` leaves checks out, `validation.add` makes a
thresholded advisory check a gate (`validators.thresholds.CheckSelection`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from core import progress
from validators.report import Category, CheckResult, Comparison, Kind, ValidationReport, make_check

if TYPE_CHECKING:
    from validators.html_report import Figure
    from validators.thresholds import CheckSelection

Need = Literal["real", "synthetic", "holdout", "target", "labels", "constraints"]
NEEDS: dict[Need, str] = {  # in the order the suite names a missing one
    "real": "the real data",
    "synthetic": "the synthetic data",
    "holdout": "a real holdout",
    "target": "a target column",
    "labels": "synthetic labels among the real label names",
    "constraints": "constraints declared by the job",
}
REAL_AND_SYNTHETIC: frozenset[Need] = frozenset({"real", "synthetic"})
WITH_HOLDOUT: frozenset[Need] = REAL_AND_SYNTHETIC | {"holdout"}


class SuiteInputs(Protocol):
    """What a modality hands its suite: its data plus which of the `NEEDS` it holds."""

    @property
    def available(self) -> frozenset[Need]: ...


InputsT = TypeVar("InputsT", bound=SuiteInputs)
ThresholdsT = TypeVar("ThresholdsT", bound="CheckSelection")
EvidenceT = TypeVar("EvidenceT")


@dataclass(frozen=True)
class Measurement:
    """What a measure found: the results each check reports, by check name (a check may report
    details after its own result, e.g. `expectations.success` then every `gx.*` expectation),
    and the Great Expectations run, if the measure made one (kept whole in the report)."""

    results: Mapping[str, list[CheckResult]]
    gx_result: dict[str, Any] | None = None

    @classmethod
    def of(cls, results: list[CheckResult]) -> Measurement:
        """Each result reported by the check of its own name."""
        return cls({result.name: [result] for result in results})


@dataclass(frozen=True)
class Measure(Generic[InputsT, ThresholdsT]):
    """One computation whose figures one or more checks judge. `label` names it as a step of
    the validate phase (`core.progress`); a measure without one reports its own steps, or is
    too quick to be worth a line."""

    name: str
    run: Callable[[SuiteRun[InputsT, ThresholdsT]], Measurement]
    label: str = ""


@dataclass(frozen=True)
class Threshold:
    """A threshold of a check. `key` is its name under `validation.checks.<check>` in a job;
    `field` the thresholds model field holding its type, default and description. `comparison`
    is set when the value is compared with the threshold itself (`min`: `>=`, `max`: `<=`) and
    None when the limit derives from it (a margin over, or a ratio of, a real baseline)."""

    key: str
    field: str
    comparison: Comparison | None = None


@dataclass(frozen=True)
class Check(Generic[InputsT, ThresholdsT, EvidenceT]):
    """One named check of a suite (see the module docstring). `missing` says what the suite does
    when the inputs lack one of `needs`: leave the check out, or report it as passing "not
    applicable" against the limit it would have been held to."""

    name: str
    category: Category
    needs: frozenset[Need]
    measure: Measure[InputsT, ThresholdsT]
    thresholds: tuple[Threshold, ...] = ()
    render: Callable[[CheckResult, ValidationReport, EvidenceT], Figure | None] | None = None
    missing: Literal["omit", "not_applicable"] = "omit"

    def threshold(self, key: str) -> Threshold:
        """The threshold called `key`; ValueError naming the check's keys if there is none."""
        for threshold in self.thresholds:
            if threshold.key == key:
                return threshold
        keys = [t.key for t in self.thresholds]
        raise ValueError(
            f"check {self.name!r} has no threshold {key!r}; "
            + (f"its thresholds: {keys}" if keys else "it is a measurement without thresholds")
        )

    def not_applicable(self, need: Need, thresholds: ThresholdsT) -> CheckResult:
        """The passing result of this check when the inputs lack `need`."""
        detail = f"not applicable: needs {NEEDS[need]}"
        for threshold in self.thresholds:
            if threshold.comparison is not None:
                limit = getattr(thresholds, threshold.field)
                return make_check(
                    self.name,
                    self.category,
                    None,
                    detail,
                    limit=limit,
                    comparison=threshold.comparison,
                    none_passes=True,
                )
        return make_check(self.name, self.category, None, detail)


@dataclass(frozen=True)
class SuiteOutcome:
    """The results of one suite run, in suite order, and its Great Expectations run."""

    checks: list[CheckResult]
    gx_result: dict[str, Any] | None


class SuiteRun(Generic[InputsT, ThresholdsT]):
    """One validation: its inputs, thresholds and every measure run so far (each runs once)."""

    def __init__(self, inputs: InputsT, thresholds: ThresholdsT):
        self.inputs = inputs
        self.thresholds = thresholds
        self._measured: dict[str, Measurement] = {}

    def measured(self, measure: Measure[InputsT, ThresholdsT]) -> Measurement:
        """`measure`'s measurement, run now if no check asked for it before."""
        if measure.name not in self._measured:
            if measure.label:
                with progress.step(measure.label):
                    self._measured[measure.name] = measure.run(self)
            else:
                self._measured[measure.name] = measure.run(self)
        return self._measured[measure.name]

    def gx_result(self) -> dict[str, Any] | None:
        return next((m.gx_result for m in self._measured.values() if m.gx_result), None)


@dataclass(frozen=True)
class Suite(Generic[InputsT, ThresholdsT, EvidenceT]):
    """The checks of one modality, in report order."""

    kind: Kind
    checks: tuple[Check[InputsT, ThresholdsT, EvidenceT], ...]

    def __post_init__(self) -> None:
        names = self.names()
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"The {self.kind} suite names checks {duplicated} more than once.")

    def names(self) -> list[str]:
        return [check.name for check in self.checks]

    def check(self, name: str) -> Check[InputsT, ThresholdsT, EvidenceT]:
        """The check called `name`; ValueError naming the suite's checks if there is none."""
        for check in self.checks:
            if check.name == name:
                return check
        raise ValueError(
            f"{name!r} is not a check of the {self.kind} suite; checks: {', '.join(self.names())}"
        )

    def run(self, inputs: InputsT, thresholds: ThresholdsT) -> SuiteOutcome:
        """Every check `thresholds` selects, judged on `inputs` (the validate phase)."""
        with progress.phase("validate") as phase:
            outcome = self._run(SuiteRun(inputs, thresholds))
            # Counted as the report counts them: the expectations and their roll-up are one.
            failed = {
                "expectations" if r.category == "schema" else r.name
                for r in outcome.checks
                if r.gate and not r.passed
            }
            phase.detail = f"{self.kind} checks: " + (
                f"{len(failed)} gate(s) failed" if failed else "every gate passed"
            )
        return outcome

    def _run(self, run: SuiteRun[InputsT, ThresholdsT]) -> SuiteOutcome:
        inputs, thresholds = run.inputs, run.thresholds
        results: list[CheckResult] = []
        for check in self.checks:
            if check.name in thresholds.drop:
                continue
            missing = [need for need in NEEDS if need in check.needs - inputs.available]
            if missing:
                if check.missing == "not_applicable":
                    results.append(check.not_applicable(missing[0], thresholds))
                continue
            own = list(run.measured(check.measure).results.get(check.name, []))
            if own and check.name in thresholds.add:
                own[0] = own[0].model_copy(update={"gate": own[0].threshold is not None})
            results += own
        return SuiteOutcome(results, run.gx_result())

    def figures(self, report: ValidationReport, evidence: EvidenceT) -> list[Figure]:
        """The figures of the report's checks that draw one, in suite order."""
        reported = {check.name: check for check in report.checks}
        figures = []
        for check in self.checks:
            if check.render is not None and check.name in reported:
                figure = check.render(reported[check.name], report, evidence)
                if figure is not None:
                    figures.append(figure)
        return figures
