"""A Great Expectations 1.x suite derived from the real data, run on synthetic frames.

The suite is kept as a plain spec list (`{"type": ..., "kwargs": ...}` entries, GX's own names)
so it can be stored next to a dataset, read by a person and rebuilt later. `run_expectations`
runs it on any number of frames (e.g. Parquet part files read one at a time) with one ephemeral,
in-memory GX context: nothing is written to disk and nothing goes over the network.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.constraints import Constraint
from core.errors import ConfigError, DataError
from validators._frames import numpy_backed
from validators.constraint_checks import (
    MULTICOLUMN_SUM,
    PAIR_GREATER,
    PAIR_IN_SET,
    constraint_expectations,
)
from validators.report import GX_PREFIX, ROLLUP, CheckResult, make_check
from validators.thresholds import Thresholds

EXPECTED_ROWS_PARAMETER = "expected_rows"
ROW_COUNT = "expect_table_row_count_to_equal"
COLUMNS = "expect_table_columns_to_match_ordered_list"
TYPES = "expect_column_values_to_be_in_type_list"
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"

# Type names GX resolves for a numeric column; "int" / "float" also match Python numbers held in
# an object column, so a generator returning floats for an integer column still passes.
NUMERIC_TYPES = [
    *("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
    *("float16", "float32", "float64", "int", "float"),
]
DATETIME_TYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"]
JSON_SCALARS = (str, bool, int, float)
EXAMPLES = 5
# Every row is still checked and every verdict and count is the same; BASIC only skips what GX's
# default SUMMARY adds: each failing row's index (a copy of the frame per expectation, ≈ 40 % of
# GX's time on 200k rows) and counts of the first 20 unexpected values, which `_Tally` counts
# itself from the same 20 (`partial_unexpected_list`).
RESULT_FORMAT = "BASIC"


def derive_expectations(
    real: pd.DataFrame,
    thresholds: Thresholds,
    key_columns: Sequence[str] = (),
    constraints: Sequence[Constraint] = (),
) -> list[dict[str, Any]]:
    """The expectation spec that synthetic data of `real` must meet.

    - the same columns in the same order;
    - the row count equals the suite parameter `expected_rows` (given per frame when run);
    - per column: a compatible type (any int/float for numeric columns, the real value types for
      object/categorical columns), a null fraction at most `real + null_fraction_tolerance`,
      and numeric values within the real [min, max] widened by `range_tolerance` of the range
      (all but a `range_outside_max` share of them), or categorical / object / boolean values
      within the real distinct values; `key_columns` get no range or value set, since
      generators draw fresh keys outside the real ones;
    - per declared constraint GX can express (`validators.constraint_checks`): the pair, range,
      one-hot sum or combination expectation meaning the same, on every row.

    Extension dtypes (category, string, nullable ints) are compared as their NumPy / object
    equivalent, the same way `run_expectations` reads synthetic frames.
    """
    frame = numpy_backed(real)
    spec: list[dict[str, Any]] = [
        {"type": COLUMNS, "kwargs": {"column_list": list(frame.columns)}},
        {"type": ROW_COUNT, "kwargs": {"value": {"$PARAMETER": EXPECTED_ROWS_PARAMETER}}},
    ]
    for name, column in frame.items():
        values = column.dropna()
        kind = column.dtype.kind
        type_list = _type_list(column.dtype, values)
        if type_list:
            spec.append({"type": TYPES, "kwargs": {"column": name, "type_list": type_list}})
        mostly = 1.0 - (float(column.isna().mean()) + thresholds.null_fraction_tolerance)
        mostly = round(min(max(mostly, 0.0), 1.0), 6)
        spec.append({"type": NOT_NULL, "kwargs": {"column": name, "mostly": mostly}})
        if values.empty or name in key_columns:
            continue  # no range or category set to hold to (none known, or fresh keys)
        if kind in "iuf":
            low, high = float(values.min()), float(values.max())
            margin = (high - low) * thresholds.range_tolerance
            kwargs = {
                "column": name,
                "min_value": low - margin,
                "max_value": high + margin,
                # Unseen real rows fall outside the training range too (small tables most).
                "mostly": round(1.0 - thresholds.range_outside_max, 6),
            }
            spec.append({"type": BETWEEN, "kwargs": kwargs})
        elif kind in "bO":
            value_set = [_json_scalar(v) for v in pd.unique(values)]
            # A set GX can check and a JSON file can hold needs plain scalars (not e.g. Timestamps).
            if all(isinstance(v, JSON_SCALARS) for v in value_set):
                value_set.sort(key=lambda v: (type(v).__name__, v))
                spec.append({"type": IN_SET, "kwargs": {"column": name, "value_set": value_set}})
    return spec + constraint_expectations(constraints)


def run_expectations(
    spec: list[dict[str, Any]], frames: Iterable[tuple[pd.DataFrame, int]]
) -> tuple[list[CheckResult], dict[str, Any]]:
    """Run `spec` on each `(frame, expected_rows)` pair; one CheckResult per expectation.

    Frames are consumed one at a time, so a caller can stream part files without holding all
    rows. A check passes only if its expectation passed on every frame; `value` is the worst
    `unexpected_percent` across frames (threshold: the percent `mostly` allows), the summed row
    count for the row-count expectation, or None for type / column-list checks. Also returns the
    raw GX validation results (result format `RESULT_FORMAT`):
    `{"spec": spec, "frames": [{"expected_rows", "rows", "result"}]}`.

    Raises ConfigError for a spec entry GX does not accept and DataError when `frames` is empty.
    """
    context = _ephemeral_context()
    validation, ids = _build_validation(context, spec)
    tallies = [_Tally() for _ in spec]
    raw_frames = []
    for frame, expected_rows in frames:
        result = validation.run(
            batch_parameters={"dataframe": numpy_backed(frame)},
            expectation_parameters={EXPECTED_ROWS_PARAMETER: expected_rows},
            result_format=RESULT_FORMAT,
        ).to_json_dict()
        raw_frames.append({"expected_rows": expected_rows, "rows": len(frame), "result": result})
        for outcome in result["results"]:
            tallies[ids[outcome["expectation_config"]["id"]]].add(
                len(raw_frames) - 1, outcome, expected_rows
            )
    if not raw_frames:
        raise DataError("run_expectations got no frames to validate; pass at least one.")
    checks = [
        _check(entry, tally, len(raw_frames)) for entry, tally in zip(spec, tallies, strict=True)
    ]
    return checks, {"spec": spec, "frames": raw_frames}


def _type_list(dtype: np.dtype, values: pd.Series) -> list[str]:
    if dtype.kind in "iuf":
        return list(NUMERIC_TYPES)
    if dtype.kind == "M":
        return list(DATETIME_TYPES)
    if dtype.kind == "O":
        # GX checks object columns value by value, so the allowed types are the real values' types.
        return sorted({type(v).__name__ for v in values})
    return [dtype.name]  # bool, timedelta64[ns], ...: the real dtype itself


def _json_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _ephemeral_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX says at INFO where it put a docs site nobody builds; not a line for the user.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    # tqdm bars per validation would flood flow logs and CI output.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _build_validation(context: Any, spec: list[dict[str, Any]]) -> tuple[Any, dict[str, int]]:
    """A validation definition over a whole-dataframe batch; maps expectation id -> spec index."""
    import great_expectations as gx
    from great_expectations.exceptions import GreatExpectationsError
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    batch = (
        context.data_sources.add_pandas("synthetic")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    expectations = []
    for index, entry in enumerate(spec):
        try:
            config = ExpectationConfiguration(type=entry["type"], kwargs=dict(entry["kwargs"]))
            expectations.append(config.to_domain_obj())
        # GX reports a bad entry as its own error or as a pydantic (v1) ValueError.
        except (KeyError, TypeError, ValueError, GreatExpectationsError) as exc:
            raise ConfigError(
                f"Expectation spec entry {index} ({entry!r}) is not valid for GX: {exc}. Each "
                "entry needs 'type' (a GX expectation name) and matching 'kwargs'."
            ) from exc
    # Adding the suite whole is ~50x faster than suite.add_expectation one by one.
    suite = gx.ExpectationSuite(name="derived-from-real", expectations=expectations)
    suite = context.suites.add(suite)
    ids = {expectation.id: index for index, expectation in enumerate(suite.expectations)}
    definition = gx.ValidationDefinition(name="synthetic", data=batch, suite=suite)
    return context.validation_definitions.add(definition), ids


@dataclass
class _Tally:
    """One expectation's outcomes accumulated over frames."""

    failed_frames: list[int] = field(default_factory=list)
    worst_percent: float | None = None
    unexpected_count: int = 0
    element_count: int = 0
    examples: Counter = field(default_factory=Counter)
    observed_rows: int = 0
    expected_rows: int = 0
    observed: Any = None
    errors: list[str] = field(default_factory=list)

    def add(self, frame: int, outcome: dict[str, Any], expected_rows: int) -> None:
        result = outcome["result"]
        if not outcome["success"]:
            self.failed_frames.append(frame)
            # Report the observation of the first failing frame, not of a later passing one.
            if len(self.failed_frames) == 1:
                self.observed = result.get("observed_value")
        elif self.observed is None:
            self.observed = result.get("observed_value")
        percent = result.get("unexpected_percent")
        if percent is not None:
            self.worst_percent = max(percent, self.worst_percent or 0.0)
            self.unexpected_count += result.get("unexpected_count") or 0
            self.element_count += result.get("element_count") or 0
            self.examples.update(map(_hashable, result.get("partial_unexpected_list") or []))
        if outcome["expectation_config"]["type"] == ROW_COUNT:
            self.observed_rows += result.get("observed_value") or 0
            self.expected_rows += expected_rows
        self.errors += _exception_messages(outcome["exception_info"])


def _check(entry: dict[str, Any], tally: _Tally, frames: int) -> CheckResult:
    kind, kwargs = entry["type"], entry["kwargs"]
    column = _subject(kind, kwargs)
    # A declared constraint's expectation is named apart from the one derived from the data.
    suffix = " (constraint)" if "constraint" in entry else ""
    name = f"{GX_PREFIX}{kind}" + (f":{column}{suffix}" if column is not None else "")
    passed = not tally.failed_frames
    data: dict[str, Any] = {"kwargs": kwargs, "frames": frames}
    data["failed_frames"] = tally.failed_frames
    value = threshold = comparison = None
    if kind == ROW_COUNT:
        value, threshold, comparison = tally.observed_rows, tally.expected_rows, "=="
        detail = f"{tally.observed_rows:,} rows, expected {tally.expected_rows:,}"
    elif tally.worst_percent is not None:
        value, comparison = tally.worst_percent, "<="
        threshold = round((1 - kwargs.get("mostly", 1.0)) * 100, 6)
        data |= {"unexpected_count": tally.unexpected_count, "element_count": tally.element_count}
        data["unexpected_examples"] = [
            {"value": v, "count": n} for v, n in tally.examples.most_common(EXAMPLES)
        ]
        detail = (
            f"{column}: {tally.unexpected_count:,} of {tally.element_count:,} values "
            f"({tally.unexpected_count / max(tally.element_count, 1):.2%}) {_what(kind, kwargs)}"
        )
        if tally.examples and kind != NOT_NULL:
            examples = tally.examples.most_common(EXAMPLES)
            detail += "; e.g. " + ", ".join(repr(v) for v, _ in examples)
    elif kind == TYPES:
        detail = f"{column}: dtype {tally.observed}, expected one of {kwargs['type_list']}"
    elif kind == COLUMNS and passed:
        detail = f"{len(kwargs['column_list'])} columns in the real order"
    elif kind == COLUMNS:
        detail = f"columns {tally.observed}, expected {kwargs['column_list']}"
    elif _is_number(tally.observed):
        # A column statistic (e.g. a mean) judged against a range: the statistic is the value.
        value = float(tally.observed)
        detail = f"{column}: observed {value:.4g}{_range(kwargs)}"
    else:
        detail = f"observed {tally.observed!r}" if tally.observed is not None else ""
    if tally.observed is not None and kind != ROW_COUNT:
        data["observed_value"] = value if value is not None else tally.observed
    if tally.errors:
        data["errors"] = tally.errors
        detail = f"GX could not evaluate it: {tally.errors[0]}"
    if frames > 1 and tally.failed_frames:
        detail += f" (failed on {len(tally.failed_frames)} of {frames} frames)"
    return CheckResult(
        name=name,
        category="schema",
        value=value,
        threshold=threshold,
        comparison=comparison,
        passed=passed,
        detail=detail,
        data=data,
    )


def _subject(kind: str, kwargs: dict[str, Any]) -> str | None:
    """The column(s) an expectation is about: `a`, `a,b` for a pair or a multicolumn sum; None
    for the table (its column list included)."""
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if kind == MULTICOLUMN_SUM:
        return ",".join(kwargs["column_list"])
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _range(kwargs: dict[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        return ""
    low_text = "-inf" if low is None else f"{low:.4g}"
    high_text = "inf" if high is None else f"{high:.4g}"
    return f", expected within [{low_text}, {high_text}]"


def _what(kind: str, kwargs: dict[str, Any]) -> str:
    if kind == BETWEEN:
        low, high = kwargs.get("min_value", -np.inf), kwargs.get("max_value", np.inf)
        allowed = 1 - kwargs.get("mostly", 1.0)
        return f"outside [{low:.6g}, {high:.6g}] (at most {allowed:.2%} allowed)"
    if kind == IN_SET:
        return f"not among the {len(kwargs['value_set'])} real values"
    if kind == NOT_NULL:
        return f"null (at most {1 - kwargs.get('mostly', 1.0):.2%} allowed)"
    if kind == TYPES:
        return f"not of a type in {kwargs['type_list']}"
    if kind == PAIR_GREATER:
        sign = ">=" if kwargs.get("or_equal") else ">"
        return f"not {kwargs['column_A']} {sign} {kwargs['column_B']}"
    if kind == MULTICOLUMN_SUM:
        return f"rows not summing to {kwargs['sum_total']}"
    if kind == PAIR_IN_SET:
        return f"pairs not among the {len(kwargs['value_pairs_set'])} real combinations"
    return "unexpected"


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):  # a pair expectation's unexpected value: the pair
        return repr([_json_scalar(v) for v in value])
    return value if isinstance(value, JSON_SCALARS) or value is None else repr(value)


def _exception_messages(info: dict[str, Any]) -> list[str]:
    """GX reports either one exception or a dict of them keyed by metric; collect the messages."""
    entries = info.values() if "raised_exception" not in info else [info]
    return [
        str(entry.get("exception_message")).partition("\n")[0][:300]
        for entry in entries
        if isinstance(entry, dict) and entry.get("raised_exception")
    ]


def gated(checks: list[CheckResult], gate: bool) -> list[CheckResult]:
    """Schema checks preceded by their roll-up `expectations.success` (every check passed); with
    `gate` false they are advisory and do not decide the report's verdict."""
    failed = [check.name for check in checks if not check.passed]
    rolled_up = make_check(
        ROLLUP,
        "schema",
        (len(checks) - len(failed)) / len(checks),  # 1.0 exactly only when none failed
        f"{len(checks) - len(failed)} of {len(checks)} schema checks passed"
        + (f"; failed: {failed}" if failed else ""),
        {"failed": failed},
        limit=1.0,
        gate=gate,
    )
    return [rolled_up, *(check.model_copy(update={"gate": gate}) for check in checks)]
