"""Time and peak memory of the full tabular validation on 100k and 1M synthetic rows.

    python benchmarks/validate.py [--rows 100000 1000000] [--shard-rows 100000]

Real data: statsmodels `fair` (6,366 rows) split 80 / 20 into train and holdout (seed 0).
Synthetic-like rows are made cheaply, without a generator: training rows drawn with
replacement, `affairs` jittered, and 10 % of every categorical column's values replaced by
values of other rows; they are written as Parquet parts of `--shard-rows` rows, as a job writes
them. Each size runs in its own subprocess, so peak RSS (ru_maxrss) is that run's alone; the
child times `validate_table` on the part files (GX suite on every row, SDMetrics, per-column
details, C2ST, DCR privacy and TSTR utility with target `rate_marriage` on their seeded
subsamples) and then the report's figures (`table_figures`), each in wall and CPU seconds: on a
machine shared with other work, CPU seconds are what the run itself costs (the work is mostly
single-threaded: scikit-learn models are capped at one OpenMP thread).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TARGET = "rate_marriage"


def synthetic_like(train: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """`rows` perturbed training rows (see the module docstring)."""
    rng = np.random.default_rng(seed)
    frame = train.iloc[rng.integers(0, len(train), rows)].reset_index(drop=True)
    for name in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[name]):
            jitter = rng.normal(0, 0.1 * frame[name].std(), rows)
            frame[name] = (frame[name] + jitter).clip(train[name].min(), train[name].max())
        else:
            swap = rng.random(rows) < 0.1
            frame.loc[swap, name] = train[name].to_numpy()[rng.integers(0, len(train), swap.sum())]
    return frame


def child(rows: int, shard_rows: int) -> dict[str, float]:
    from sources.tables import load_builtin, split_table
    from validators import validate_table
    from validators.table_plots import table_figures

    train, holdout, _ = split_table(load_builtin("fair"), 0.2, seed=0)
    schema = pa.Schema.from_pandas(train, preserve_index=False)
    with tempfile.TemporaryDirectory() as folder:
        parts = []
        for index, start in enumerate(range(0, rows, shard_rows)):
            frame = synthetic_like(train, min(shard_rows, rows - start), seed=index)
            path = Path(folder) / f"part-{index:05d}.parquet"
            pq.write_table(pa.Table.from_pandas(frame, schema, preserve_index=False), path)
            parts.append(str(path))
        started = _clocks()
        report = validate_table(
            train, parts, expected_rows=rows, holdout=holdout, target=TARGET, seed=0
        )
        validated = _clocks()
        table_figures(report, train, parts, seed=0)
        plotted = _clocks()
    return {
        "rows": rows,
        "validate_s": validated[0] - started[0],
        "validate_cpu_s": validated[1] - started[1],
        "figures_s": plotted[0] - validated[0],
        "figures_cpu_s": plotted[1] - validated[1],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "passed": report.passed,
        "detection_auc": report.check("detection.c2st_auc").value,
        "dcr_share": report.check("privacy.dcr_share").value,
        "evaluated_rows": report.evaluated_rows,
    }


def _clocks() -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--shard-rows", type=int, default=100_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rows[0], args.shard_rows)))
        return
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(
        "| rows | validate wall s | validate CPU s | figures wall s | figures CPU s "
        "| peak RSS MiB | C2ST AUC |"
    )
    print("|---|---|---|---|---|---|---|")
    for rows in args.rows:
        command = [sys.executable, __file__, "--child", "--rows", str(rows)]
        command += ["--shard-rows", str(args.shard_rows)]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {rows:,} | {result['validate_s']:.1f} | {result['validate_cpu_s']:.1f} "
            f"| {result['figures_s']:.1f} | {result['figures_cpu_s']:.1f} "
            f"| {result['peak_rss_mib']:.0f} | {result['detection_auc']:.3f} |"
        )
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
