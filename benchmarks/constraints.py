"""Constraints: violation rate and cost per generator, ours vs SDV's CAG on the same set.

    OMP_NUM_THREADS=1 python benchmarks/constraints.py [--rows 5000]
        [--generators gaussian_copula ctgan tvae argn tabddpm] [--epochs 100]

On the built-in `diabetes` table (442 patients; s1 total cholesterol, s2 LDL, s3 HDL) plus its
non-HDL cholesterol (`non_hdl = s1 - s3`, a clinical measure, computed here), with one
constraint set that SDV's CAG (sdv.cag, SDV 2.0) also expresses: `s2 < non_hdl < s1` (a range
between two columns: LDL is part of non-HDL, a tight bound), `s3 < s1` (overlapping the range on
s1) and whole-year `age` (fixed increments of 1). Per generator it fits
and samples `--rows` rows three ways: unconstrained, with Synthpipe's constraints
(`generators.constraint_plan`: transforms, reject sampling for what overlaps), and, for the SDV
families, with the same constraints through CAG (`add_constraints`). Then it samples again with
conditions (`sex = 2`). Columns: fit and sample CPU seconds (process time: the machine may be
shared), the share of sampled rows breaking any constraint, and SDMetrics quality against the
real rows. A failed run prints its error in place of the figures.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd

from core.constraints import parse_constraints, violation_counts
from core.metadata import TABLE_NAME, detect_metadata
from generators import create_generator
from sources.tables import load_builtin

CONSTRAINTS = [
    {"kind": "range", "column": "non_hdl", "low": "s2", "high": "s1", "strict": True},
    {"kind": "inequality", "low": "s3", "high": "s1", "strict": True},
    {"kind": "fixed_increments", "column": "age", "increment": 1},
]
CONDITIONS = {"sex": 2.0}
SDV_CLASSES = {
    "gaussian_copula": "GaussianCopulaSynthesizer",
    "ctgan": "CTGANSynthesizer",
    "tvae": "TVAESynthesizer",
    "copulagan": "CopulaGANSynthesizer",
}


def params_for(name: str, epochs: int) -> dict[str, Any]:
    if name in ("ctgan", "tvae", "copulagan"):
        return {"epochs": epochs, "verbose": False}
    if name in ("argn", "tabddpm"):  # conditioning on `sex` needs it as a conditional column
        return {"conditional_columns": list(CONDITIONS), "cpu_threads": 1, "verbose": False}
    return {}


def cpu(run: Callable[[], Any]) -> tuple[Any, float]:
    started = time.process_time()
    result = run()
    return result, time.process_time() - started


def quality(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    metadata = detect_metadata(real, {}).to_dict()["tables"][TABLE_NAME]
    report.generate(real, synthetic[real.columns], metadata, verbose=False)
    return float(report.get_score())


class Ours:
    """A Synthpipe generator, with or without the constraints."""

    def __init__(self, name: str, params: dict[str, Any], constrained: bool):
        extra = {"constraints": CONSTRAINTS} if constrained else {}
        self.generator = create_generator(name, {**params, **extra})

    def fit(self, real: pd.DataFrame) -> None:
        self.generator.fit(real, seed=0)

    def sample(self, rows: int, conditions: dict[str, Any] | None) -> pd.DataFrame:
        return self.generator.sample(rows, seed=1, conditions=conditions)


class SDVCag:
    """The SDV synthesizer of a family with the same constraints as CAG constraints."""

    def __init__(self, name: str, params: dict[str, Any]):
        import sdv.single_table
        from sdv.cag import FixedIncrements, Inequality, Range

        self.name, self.params = name, params
        self.klass = getattr(sdv.single_table, SDV_CLASSES[name])
        self.constraints = [
            Range("s2", "non_hdl", "s1", strict_boundaries=True),
            Inequality("s3", "s1", strict_boundaries=True),
            FixedIncrements("age", 1),
        ]

    def fit(self, real: pd.DataFrame) -> None:
        self.synthesizer = self.klass(detect_metadata(real, {}), **self.params)
        self.synthesizer.add_constraints(self.constraints)
        self.synthesizer.fit({TABLE_NAME: real})

    def sample(self, rows: int, conditions: dict[str, Any] | None) -> pd.DataFrame:
        from sdv.sampling import Condition

        if conditions is None:
            return _table(self.synthesizer.sample(num_rows=rows))
        condition = Condition(conditions, num_rows=rows)
        return _table(self.synthesizer.sample_from_conditions([condition]))


def _table(out: Any) -> pd.DataFrame:
    return out[TABLE_NAME] if isinstance(out, dict) else out


def measure(model: Any, real: pd.DataFrame, rows: int, checked: Any) -> dict[str, str]:
    row: dict[str, str] = {}
    try:
        _, fit_s = cpu(lambda: model.fit(real))
        row["fit CPU s"] = f"{fit_s:.1f}"
        for label, conditions in (("", None), ("cond. ", CONDITIONS)):
            frame, sample_s = cpu(lambda c=conditions: model.sample(rows, c))
            broken = violation_counts(frame, checked).any(axis=1).mean()
            row[f"{label}sample CPU s"] = f"{sample_s:.2f}"
            row[f"{label}violations"] = f"{broken:.2%}"
            if conditions is None:
                row["quality"] = f"{quality(real, frame):.3f}"
            else:
                kept = (frame["sex"] == CONDITIONS["sex"]).mean()
                row["cond. kept"] = f"{kept:.0%} of {len(frame):,}"
    except Exception as exc:  # a peer's failure is a result to print, not a crash
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
    return row


COLUMNS = [
    "fit CPU s",
    "sample CPU s",
    "violations",
    "quality",
    "cond. sample CPU s",
    "cond. violations",
    "cond. kept",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument(
        "--generators", nargs="+", default=["gaussian_copula", "ctgan", "tvae", "argn", "tabddpm"]
    )
    parser.add_argument("--epochs", type=int, default=100, help="ctgan / tvae / copulagan")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    real = load_builtin("diabetes")
    real.insert(real.columns.get_loc("s3") + 1, "non_hdl", real["s1"] - real["s3"])
    checked = parse_constraints(CONSTRAINTS)
    print(f"diabetes, {len(real)} rows; constraints: {[c.describe() for c in checked]}")
    print(f"{args.rows:,} rows sampled per run; conditions {CONDITIONS}\n")
    print("| generator | constraints | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for name in args.generators:
        params = params_for(name, args.epochs)
        runs: list[tuple[str, Any]] = [
            ("none", Ours(name, params, constrained=False)),
            ("synthpipe", Ours(name, params, constrained=True)),
        ]
        if name in SDV_CLASSES:
            runs.append(("SDV CAG", SDVCag(name, params)))
        for label, model in runs:
            row = measure(model, real, args.rows, checked)
            cells = [row.get(column, "") for column in COLUMNS]
            if "error" in row:
                cells[-1] = row["error"]
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
