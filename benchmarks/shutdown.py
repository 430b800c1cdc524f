"""How fast `synth run` stops on SIGTERM / SIGINT during a fit, in each mode.

    python benchmarks/shutdown.py [--modes local prefect] [--signals SIGTERM SIGINT]

Each run is this checkout's `python -m synthpipe.cli run` on a CTGAN job that would fit for
hours; once its fit phase starts ("fit … ctgan") the signal is sent, and the table shows the
seconds from the signal to the process's exit, its exit code, and whether any child process
(the temporary Prefect server) or staging directory is left. Target: exit within 5 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]


def stop_during_fit(mode: str, sig: signal.Signals, work: Path) -> dict:
    root, log = work / "store", work / "run.log"
    job = work / "job.yaml"
    job.write_text(
        yaml.safe_dump(
            {
                "dataset": "wine-stop",
                "source": {"builtin": "wine"},
                "generator": {"name": "ctgan", "params": {"epochs": 100_000}},
                "rows": 100,
                "root": str(root),
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "synthpipe.cli", "run", str(job), "--mode", mode],
            cwd=PROJECT_DIR,
            env={**env, "OMP_NUM_THREADS": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    while "fit … ctgan" not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise SystemExit(f"{mode}: exited before the fit:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    to_fit = time.perf_counter() - started
    children = psutil.Process(process.pid).children(recursive=True)
    signalled = time.perf_counter()
    process.send_signal(sig)
    code = process.wait()
    exit_s = time.perf_counter() - signalled
    _, alive = psutil.wait_procs(children, timeout=1)
    return {
        "to_fit_s": to_fit,
        "exit_s": exit_s,
        "code": code,
        "children": len(children),
        "left": len(alive),
        "staging_left": len(list((root / ".staging").glob("*"))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["local", "prefect"])
    parser.add_argument("--signals", nargs="+", default=["SIGTERM", "SIGINT"])
    args = parser.parse_args()
    rows = []
    for mode in args.modes:
        for name in args.signals:
            with tempfile.TemporaryDirectory(prefix="synthpipe-stop-") as tmp:
                rows.append((mode, name, stop_during_fit(mode, signal.Signals[name], Path(tmp))))
    print(f"\n{os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.1f}\n")
    print(
        "| mode | signal | start to fit s | signal to exit s | exit code | children | "
        "left: processes / staging dirs |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode, name, r in rows:
        print(
            f"| {mode} | {name} | {r['to_fit_s']:.1f} | {r['exit_s']:.2f} | {r['code']} | "
            f"{r['children']} | {r['left']} / {r['staging_left']} |"
        )


if __name__ == "__main__":
    main()
