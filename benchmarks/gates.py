"""Calibration of the default tabular gates: real rows must pass, known-bad sets must fail.

    python benchmarks/gates.py [--tables fair breast_cancer wine diabetes] [--seeds 1]
                               [--generator gaussian_copula]

Each real table is split 60 / 20 / 20 (seeded) into train, holdout and fresh rows
(`validators.baselines`); every case of `validators.baselines.CASES` is validated with
`validate_table(train, case, holdout=holdout)` and default thresholds, and one Markdown row per
(table, case) gives each gate's value, a * where it failed, and the verdict. The tables are
built-ins (`sources.tables`). With `--generator NAME` a fitted generator's output
(as many rows as train, seed 0) is validated as the case `<NAME>`: it must pass. With more than
one seed, a last table counts per (table, case) in how many splits the verdict was the expected
one.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from datetime import UTC, datetime

import pandas as pd

from sources.tables import load_builtin
from validators import ValidationReport, validate_table
from validators.baselines import CALIBRATION_SEED, CASES, build_case, calibration_split

GATES = [
    "quality.overall",
    "quality.column_shapes",
    "quality.column_pair_trends",
    "quality.pair_trends_retained",
    "diagnostic.data_validity",
    "detection.c2st_copies",
    "privacy.dcr_share",
    "privacy.exact_copy_rate",
    "expectations.success",
]
TABLES = ("fair", "breast_cancer", "wine", "diabetes")
SHORT = {
    "quality.overall": "quality",
    "quality.column_shapes": "shapes",
    "quality.column_pair_trends": "pairs",
    "quality.pair_trends_retained": "pairs kept",
    "diagnostic.data_validity": "validity",
    "detection.c2st_copies": "C2ST AUC",
    "privacy.dcr_share": "DCR share",
    "privacy.exact_copy_rate": "exact copies",
    "expectations.success": "GX",
}


def generated(name: str, train: pd.DataFrame) -> pd.DataFrame:
    """`len(train)` rows of generator `name` fitted on `train` (seed 0)."""
    from generators import create_generator

    return create_generator(name).fit(train, seed=0).sample(len(train), seed=0)


def row(table: str, case: str, report: ValidationReport, expected: bool, seconds: float) -> str:
    cells = []
    for name in GATES:
        check = report.check(name)
        value = "n/a" if check.value is None else f"{check.value:.3f}"
        cells.append(value if check.passed else f"{value}*")
    verdict = "pass" if report.passed else "FAIL"
    mark = "" if report.passed is expected else " (unexpected)"
    return f"| {table} | {case} | {' | '.join(cells)} | {verdict}{mark} | {seconds:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[CALIBRATION_SEED])
    parser.add_argument("--generator", help="also validate this generator's output (must pass)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # SDMetrics / GX deprecation chatter
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; split 60/20/20, seeds {args.seeds}"
    )
    print(f"| table | case | {' | '.join(SHORT[g] for g in GATES)} | verdict | s |")
    print(f"|{'---|' * (len(GATES) + 4)}")
    agreed: dict[tuple[str, str], int] = {}
    for seed in args.seeds:
        for table in args.tables:
            split = calibration_split(load_builtin(table), seed)
            expected_by_case = {name: ok for name, (_, ok) in CASES.items()}
            if args.generator:
                expected_by_case[args.generator] = True
            for case, expected in expected_by_case.items():
                synthetic = (
                    build_case(case, split) if case in CASES else generated(case, split.train)
                )
                started = time.perf_counter()
                report = validate_table(split.train, synthetic, holdout=split.holdout, seed=seed)
                seconds = time.perf_counter() - started
                agreed[table, case] = agreed.get((table, case), 0) + (report.passed is expected)
                if seed == args.seeds[0]:
                    print(row(table, case, report, expected, seconds), flush=True)
    if len(args.seeds) > 1:
        print(f"\nExpected verdict in how many of {len(args.seeds)} splits:\n")
        print("| table | " + " | ".join(dict.fromkeys(c for _, c in agreed)) + " |")
        print(f"|---|{'---|' * len(dict.fromkeys(c for _, c in agreed))}")
        for table in args.tables:
            counts = [str(agreed[t, c]) for t, c in agreed if t == table]
            print(f"| {table} | {' | '.join(counts)} |")


if __name__ == "__main__":
    main()
