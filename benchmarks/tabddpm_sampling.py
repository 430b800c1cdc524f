"""`tabddpm` sampling speed on a wide survey-like table: CPU seconds per sample call.

    OMP_NUM_THREADS=1 python benchmarks/tabddpm_sampling.py [--rows 2000 16000]
        [--samplers ddpm-100 ddim-20]

The table (16,000 rows, built here, seed 0) has what made sampling slow: 25 categorical columns
of 2-7 values, one of 300 values (a region code), and 6 numeric columns with few levels. The
model is fitted for one epoch only (sampling cost does not depend on how well it learnt); each
sampler samples every `--rows` count, timed in process CPU seconds (the machine may be shared).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from generators import create_generator, get_generator_class


def survey_table(rows: int = 16_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for i in range(25):
        levels = [f"v{j}" for j in range(int(rng.integers(2, 8)))]
        columns[f"q{i}"] = rng.choice(levels, rows)
    columns["region"] = rng.choice([f"r{j}" for j in range(300)], rows)
    for i in range(6):
        columns[f"x{i}"] = np.round(rng.gamma(2.0, 3.0, rows), 1)
    return pd.DataFrame(columns)


def sampler_params(label: str) -> dict[str, object]:
    """`ddpm-100` / `ddim-20` as tabddpm run options. A version without the `sampler` option
    (before 2026-12-03) samples ancestrally over its 100 training steps: ddpm-100 only."""
    sampler, steps = label.split("-")
    if "sampler" in get_generator_class("tabddpm").config_class.model_fields:
        return {"sampler": sampler, "sampling_steps": int(steps)}
    if label != "ddpm-100":
        raise SystemExit(f"this tabddpm samples ancestrally over 100 steps only; not {label}")
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=[2_000, 16_000])
    parser.add_argument("--samplers", nargs="+", default=["ddpm-100", "ddim-20"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    table = survey_table()
    params = {"max_epochs": 1, "verbose": False}
    fitted = create_generator("tabddpm", params).fit(table, seed=0)
    print("| sampler | rows | CPU s | rows per CPU s |")
    print("|---|---|---|---|")
    for label in args.samplers:
        generator = fitted.with_run_options(**sampler_params(label))
        for rows in args.rows:
            started = time.process_time()
            generator.sample(rows, seed=0)
            cpu = time.process_time() - started
            print(f"| {label} | {rows:,} | {cpu:.1f} | {rows / cpu:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
