"""Sequence generators on the built-in sequential tables: one run, one table of figures.

    python benchmarks/sequences.py [--tables grunfeld macrodata] [--models par] [--epochs 128]

Each table is split by entity (80/20, seed 0, `modalities.sequence`); each model fits on the
training entities and samples as many sequences. Reported: fit CPU and wall seconds with the
load average beside them (a shared machine: CPU seconds are the comparable figure), SDMetrics
quality of the rows (key column left out), and the sequence checks (`validators.sequences`):
length KS, largest lag-1 autocorrelation error, per-step marginals, per-entity detection AUC.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd

from core.metadata import TABLE_NAME, detect_metadata
from generators import create_generator
from modalities import get_modality
from modalities.sequence import spec_of
from sources.config import SourceConfig
from validators.sequences import sequence_checks


def quality(train: pd.DataFrame, synthetic: pd.DataFrame, key: str) -> float:
    from sdmetrics.reports.single_table import QualityReport

    real, fake = train.drop(columns=[key]), synthetic.drop(columns=[key])
    metadata = detect_metadata(real).to_dict()["tables"][TABLE_NAME]
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, fake[real.columns], metadata, verbose=False)
    return float(report.get_score())


def run(table: str, model: str, epochs: int, seed: int) -> dict:
    modality = get_modality("sequence")
    data, _ = modality.load(SourceConfig(builtin=table), ".")
    train, _, _ = modality.split(data, 0.2, seed)
    spec = spec_of(train)
    params = {"sequence_key": spec.key, "sequence_index": spec.index, "epochs": epochs}
    wall, cpu = time.perf_counter(), time.process_time()
    generator = create_generator(model, params).fit(train, seed=seed)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    load = os.getloadavg()[0]
    synthetic = generator.sample(int(train[spec.key].nunique()), seed=seed)
    checks = {c.name: c.value for c in sequence_checks(train, synthetic, spec, seed=seed)}
    return {
        "table": table,
        "model": f"{model} ({epochs} epochs)",
        "fit_cpu_s": fit_cpu,
        "fit_wall_s": fit_wall,
        "load": load,
        "quality": quality(train, synthetic, spec.key),
        **checks,
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=["grunfeld", "macrodata"])
    parser.add_argument("--models", nargs="+", default=["par"])
    parser.add_argument("--epochs", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        "| table | model | fit CPU s | fit wall s | load | quality | length KS | lag-1 error "
        "| step marginals | detection AUC |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for table in args.tables:
        for model in args.models:
            r = run(table, model, args.epochs, args.seed)
            print(
                f"| {r['table']} | {r['model']} | {r['fit_cpu_s']:.1f} | {r['fit_wall_s']:.1f} "
                f"| {r['load']:.1f} | {_fmt(r['quality'])} | {_fmt(r['sequence.length_ks'])} "
                f"| {_fmt(r['sequence.lag1_autocorr_error'])} "
                f"| {_fmt(r['sequence.step_marginals'])} "
                f"| {_fmt(r['sequence.detection_auc'])} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
