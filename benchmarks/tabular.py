"""Side by side on the same data and seed: SDV used directly vs `synth run` (each mode).

    python benchmarks/tabular.py [--generator gaussian_copula] [--rows 50000] [--big-rows 1000000]
                                 [--modes local prefect]

Each side runs in its own subprocess so peak RSS and CPU seconds are measured per side (rusage of
the child, which includes the temporary Prefect server it starts and waits for). `synth run`
(this checkout's code, `python -m synthpipe.cli`) step times come from the version's lineage
(load / fit / sample / validate); orchestration is the process wall minus those steps: interpreter
and import start-up, any Prefect server start, flow / task-run bookkeeping, the publish and the
exit. Targets: orchestration <= 10 % of the wall; `synth run` wall <= 2x SDV direct at --rows and
<= 1.1x at --big-rows (default validation, which SDV direct does not do).
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

PROJECT_DIR = Path(__file__).resolve().parents[1]
TARGET_ORCHESTRATION = 0.10
TARGET_RATIO = {"rows": 2.0, "big-rows": 1.1}

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


def _run_child(cmd: list[str], ok: tuple[int, ...] = (0,)) -> tuple[str, float, float, float]:
    """Run a child to completion (exit code in `ok`); returns stdout, wall seconds, CPU seconds
    (user + system) and peak RSS (MiB) of that child."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=PROJECT_DIR)
        _, status, usage = os.wait4(child.pid, 0)  # rusage of this child alone
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode not in ok:
            raise SystemExit(f"{cmd[:3]} failed:\n{err.read()[-3000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return out.read(), wall, cpu, usage.ru_maxrss / 1024


def sdv_direct(generator: str, rows: int, seed: int, params: dict) -> dict:
    stdout, wall, cpu, rss = _run_child(
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
    return {**result, "wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss}


def synth_run(
    generator: str, rows: int, seed: int, params: dict, root: Path, shard_rows: int, mode: str
) -> dict:
    job = {
        "dataset": f"bench-{generator.replace('_', '-')}-{rows}",
        "source": {"builtin": "fair"},
        "generator": {"name": generator, "params": params},
        "rows": rows,
        "seed": seed,
        "shard_rows": shard_rows,
        "root": str(root),
    }
    job_file = root / f"{job['dataset']}.yaml"
    job_file.write_text(yaml.safe_dump(job))
    cli = [sys.executable, "-m", "synthpipe.cli", "run", str(job_file), "--mode", mode]
    # Default validation; exit 1 (a failed gate, version quarantined) still times the whole run.
    _, wall, cpu, rss = _run_child(cli, ok=(0, 1))
    version_dir = max((root / job["dataset"]).glob("v*"), key=lambda p: int(p.name[1:]))
    lineage = json.loads((version_dir / "lineage.json").read_text())
    report = json.loads((version_dir / "validation.json").read_text())
    quality = next(c["value"] for c in report["checks"] if c["name"] == "quality.overall")
    timings = lineage["timings_s"]
    steps_s = sum(timings[step] for step in ("load", "fit", "sample", "validate"))
    return {
        "load_s": timings["load"],
        "fit_s": timings["fit"],
        "sample_s": timings["sample"],
        "validate_s": timings["validate"],
        "quality": quality,
        "rows": rows,
        "wall_s": wall,
        "cpu_s": cpu,
        "orchestration_s": wall - steps_s,
        "peak_rss_mib": rss,
    }


def _fmt(value, digits=2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="gaussian_copula", choices=sorted(SDV_CLASSES))
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="0 skips the big size")
    parser.add_argument("--shard-rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=50, help="for ctgan / tvae / copulagan")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--modes", nargs="+", default=["local", "prefect"], choices=["local", "prefect"]
    )
    args = parser.parse_args()
    params = {} if args.generator == "gaussian_copula" else {"epochs": args.epochs}
    sizes = [("rows", args.rows)] + ([("big-rows", args.big_rows)] if args.big_rows else [])

    results = []  # (path, size name, rows, result, SDV direct's result at that size)
    with tempfile.TemporaryDirectory(prefix="synthpipe-bench-") as tmp:
        root = Path(tmp)
        for size, n in sizes:
            direct = sdv_direct(args.generator, n, args.seed, params)
            results.append(("SDV direct", size, n, direct, None))
            for mode in args.modes:
                # One root per mode: each mode fits at the first size, the big size reuses it.
                (root / mode).mkdir(exist_ok=True)
                run = synth_run(
                    args.generator, n, args.seed, params, root / mode, args.shard_rows, mode
                )
                results.append((f"synth run --mode {mode}", size, n, run, direct))

    print(
        f"\nfair (6,366 real rows), generator={args.generator}, seed={args.seed}, "
        f"shard_rows={args.shard_rows}, {os.cpu_count()} cores, "
        f"load average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| path | rows | load s | fit s | sample s | validate s | wall s | CPU s | "
        "orchestration s (% of wall) | wall vs SDV | peak RSS MiB | quality |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _, n, r, direct in results:
        orchestration = (
            f"{r['orchestration_s']:.1f} ({r['orchestration_s'] / r['wall_s']:.0%})"
            if direct
            else "—"
        )
        ratio = f"{r['wall_s'] / direct['wall_s']:.2f}x" if direct else "—"
        print(
            f"| {name} | {n:,} | {_fmt(r.get('load_s'))} | {_fmt(r['fit_s'])} | "
            f"{_fmt(r['sample_s'])} | {_fmt(r.get('validate_s'))} | {_fmt(r['wall_s'], 1)} | "
            f"{_fmt(r['cpu_s'], 1)} | {orchestration} | {ratio} | {r['peak_rss_mib']:.0f} | "
            f"{_fmt(r['quality'], 3)} |"
        )
    print()
    for name, size, n, r, direct in results:
        if direct is None:
            continue
        share, ratio = r["orchestration_s"] / r["wall_s"], r["wall_s"] / direct["wall_s"]
        print(
            f"{name} at {n:,} rows: orchestration {share:.0%} of the wall "
            f"({_verdict(share, TARGET_ORCHESTRATION, '%')}), wall {ratio:.2f}x SDV direct "
            f"({_verdict(ratio, TARGET_RATIO[size], 'x')})"
        )


def _verdict(value: float, target: float, unit: str) -> str:
    shown = (lambda v: f"{v:.0%}") if unit == "%" else (lambda v: f"{v:.2f}x")
    if value <= target:
        return f"target <= {shown(target)} met"
    over = f"{value - target:.0%} points" if unit == "%" else f"{value / target:.2f}x the target"
    return f"target <= {shown(target)} missed by {over}"


if __name__ == "__main__":
    main()
