"""Side by side on the same data and seed: SDV used directly vs `synth run`.

    python benchmarks/tabular.py [--generator gaussian_copula] [--rows 50000] [--big-rows 1000000]

Each side runs in its own subprocess so peak RSS is measured per side (ru_maxrss of the child).
`synth run` times come from the version's lineage (fit / sample / validate); its wall time also
includes Prefect's embedded server start and Great Expectations + SDMetrics validation.
Quality is SDMetrics' overall quality score: SDV side on all sampled rows, Synthpipe side on its
seeded validation subsample (validators.Thresholds.max_rows_for_metrics rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SDV_CLASSES = {
    "gaussian_copula": "GaussianCopulaSynthesizer",
    "ctgan": "CTGANSynthesizer",
    "tvae": "TVAESynthesizer",
    "copulagan": "CopulaGANSynthesizer",
}

SDV_DIRECT = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from sdv.metadata import Metadata
import sdv.single_table
from sdv.evaluation import evaluate_quality
from sources.tables import load_builtin
cls_name, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
params = json.loads(sys.argv[4])
import numpy as np, torch
np.random.seed(seed); torch.manual_seed(seed)
real = load_builtin("fair")
metadata = Metadata.detect_from_dataframes({"t": real})
synth = getattr(sdv.single_table, cls_name)(metadata, **params)
t0 = time.perf_counter(); synth.fit({"t": real}); t1 = time.perf_counter()
out = synth.sample(num_rows=rows); t2 = time.perf_counter()
fake = out["t"] if isinstance(out, dict) else out
score = None
if rows <= 100_000:
    score = evaluate_quality({"t": real}, {"t": fake}, metadata, verbose=False).get_score()
print(json.dumps({"fit_s": t1 - t0, "sample_s": t2 - t1, "quality": score, "rows": len(fake)}))
"""


def _run_child(cmd: list[str]) -> tuple[str, float, float]:
    """Run a child to completion; returns stdout, wall seconds and that child's peak RSS (MiB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # rusage of this child alone
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"{cmd[:3]} failed:\n{err.read()[-3000:]}")
        return out.read(), wall, usage.ru_maxrss / 1024


def sdv_direct(generator: str, rows: int, seed: int, params: dict) -> dict:
    stdout, wall, rss = _run_child(
        [
            sys.executable,
            "-c",
            SDV_DIRECT,
            SDV_CLASSES[generator],
            str(rows),
            str(seed),
            json.dumps(params),
        ]
    )
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall, "peak_rss_mib": rss}


def synth_run(generator: str, rows: int, seed: int, params: dict, root: Path, shard_rows: int):
    job = {
        "dataset": f"bench-{generator.replace('_', '-')}-{rows}",
        "source": {"builtin": "fair"},
        "generator": {"name": generator, "params": params},
        "rows": rows,
        "seed": seed,
        "shard_rows": shard_rows,
        "root": str(root),
        "validation": {"quality_min": 0.0, "column_shapes_min": 0.0, "column_pair_trends_min": 0.0},
    }
    job_file = root / f"{job['dataset']}.yaml"
    job_file.write_text(yaml.safe_dump(job))
    synth = str(Path(sys.executable).with_name("synth"))
    _, wall, rss = _run_child([synth, "run", str(job_file)])
    version_dir = max((root / job["dataset"]).glob("v*"), key=lambda p: int(p.name[1:]))
    lineage = json.loads((version_dir / "lineage.json").read_text())
    report = json.loads((version_dir / "validation.json").read_text())
    quality = next(c["value"] for c in report["checks"] if c["name"] == "quality.overall")
    timings = lineage["timings_s"]
    return {
        "fit_s": timings["fit"],
        "sample_s": timings["sample"],
        "validate_s": timings["validate"],
        "quality": quality,
        "rows": rows,
        "wall_s": wall,
        "peak_rss_mib": rss,
    }


def _fmt(value, digits=2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="gaussian_copula", choices=sorted(SDV_CLASSES))
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--shard-rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=50, help="for ctgan / tvae / copulagan")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = {} if args.generator == "gaussian_copula" else {"epochs": args.epochs}

    with tempfile.TemporaryDirectory(prefix="synthpipe-bench-") as tmp:
        root = Path(tmp)
        rows = [
            ("SDV direct", args.rows, sdv_direct(args.generator, args.rows, args.seed, params)),
            (
                "synth run",
                args.rows,
                synth_run(args.generator, args.rows, args.seed, params, root, args.shard_rows),
            ),
        ]
        if args.big_rows:
            rows.append(
                (
                    "SDV direct",
                    args.big_rows,
                    sdv_direct(args.generator, args.big_rows, args.seed, params),
                )
            )
            rows.append(
                (
                    "synth run (sharded)",
                    args.big_rows,
                    synth_run(
                        args.generator, args.big_rows, args.seed, params, root, args.shard_rows
                    ),
                )
            )

    print(
        f"\nfair (6,366 real rows), generator={args.generator}, seed={args.seed}, "
        f"shard_rows={args.shard_rows}, {os.cpu_count()} cores\n"
    )
    print("| path | rows | fit s | sample s | validate s | wall s | peak RSS MiB | quality |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, r in rows:
        print(
            f"| {name} | {n:,} | {_fmt(r['fit_s'])} | {_fmt(r['sample_s'])} | "
            f"{_fmt(r.get('validate_s'))} | {_fmt(r['wall_s'], 1)} | {r['peak_rss_mib']:.0f} | "
            f"{_fmt(r['quality'], 3)} |"
        )


if __name__ == "__main__":
    main()
