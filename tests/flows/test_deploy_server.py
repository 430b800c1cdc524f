"""Deployments against a real `prefect server start`: a process work pool and worker run a deployed
job; a cron deployment and a served interval deployment get their next runs planned."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from datastore import open_dataset
from synthpipe.cli import app

pytestmark = pytest.mark.slow

PROJECT_DIR = Path(__file__).resolve().parents[2]
runner = CliRunner()


@dataclass(frozen=True)
class Server:
    url: str
    env: dict[str, str]
    logs: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Own process group, so teardown stops the children (uvicorn, flow runs) too.
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (Prefect's graceful stop), then SIGTERM and SIGKILL to the whole group: a worker or
    `serve` sometimes outlived a SIGINT here (measured: still up 20 s later)."""
    for sig, grace in ((signal.SIGINT, 10), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for(check: Callable[[], Any], timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}. Log {log}:\n{tail}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path_factory.mktemp("prefect-server")
    url = f"http://127.0.0.1:{_free_port()}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    port = url.rsplit(":", 1)[1].removesuffix("/api")
    log = home / "server.log"
    args = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", port]
    process = _start(args, env, log)

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"prefect server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait_for(healthy, 180, "the Prefect server's health endpoint", log)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield Server(url=url, env=env, logs=home)
    finally:
        _stop(process)


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _write_job(path: Path, dataset: str, root: Path) -> Path:
    job = {
        "dataset": dataset,
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 300,
        "root": str(root),
    }
    path.write_text(yaml.safe_dump(job))
    return path


def _create_pool(name: str) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate

    with _client() as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def _scheduled_runs(deployment_id: Any) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with _client() as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )


def test_deploy_to_process_pool_worker_runs_the_job(server, tmp_path):
    from prefect.deployments import run_deployment

    # Setup: on a fresh server, deploying creates the `cpu` pool (a table job's resource).
    job = _write_job(tmp_path / "wine.yaml", "wine-deployed", tmp_path / "store")
    deployed = runner.invoke(app, ["deploy", str(job)])
    assert deployed.exit_code == 0, deployed.output
    assert "Created work pool 'cpu' (process)" in deployed.output
    assert "synthpipe-job/wine-deployed to work pool 'cpu'" in deployed.output
    again = runner.invoke(app, ["deploy", str(job)])
    assert again.exit_code == 0 and "Created work pool" not in again.output
    worker = _start(["prefect", "worker", "start", "--pool", "cpu"], server.env, tmp_path / "w.log")

    try:
        # Run
        flow_run = run_deployment("synthpipe-job/wine-deployed", timeout=0)

        def finished() -> Any:
            with _client() as client:
                state = client.read_flow_run(flow_run.id).state
            return state if state is not None and state.is_final() else None

        state = _wait_for(finished, 300, "the deployed flow run", tmp_path / "w.log")
    finally:
        _stop(worker)

    # Assert
    assert state.type.value == "COMPLETED", state.message
    version = open_dataset("wine-deployed@latest", root=tmp_path / "store")
    assert version.manifest.rows == 300
    assert version.manifest.status == "published"


def test_deploy_unknown_pool_names_the_existing_ones(server, tmp_path):
    # Setup
    _create_pool("known-pool")
    job = _write_job(tmp_path / "wine.yaml", "wine-nowhere", tmp_path)

    # Run
    result = runner.invoke(app, ["deploy", str(job), "--pool", "no-such-pool"])

    # Assert
    assert result.exit_code == 2
    assert "Work pool 'no-such-pool' does not exist" in result.output
    assert "'known-pool'" in result.output
    with _client() as client:
        assert [d.name for d in client.read_deployments()].count("wine-nowhere") == 0


def test_deploy_with_cron_plans_the_next_runs(server, tmp_path):
    # Setup
    _create_pool("nightly")
    job = _write_job(tmp_path / "wine.yaml", "wine-nightly", tmp_path)

    # Run
    result = runner.invoke(app, ["deploy", str(job), "--cron", "0 3 * * *", "--pool", "nightly"])

    # Assert
    assert result.exit_code == 0, result.output
    with _client() as client:
        deployment = client.read_deployment_by_name("synthpipe-job/wine-nightly")
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
    assert deployment.work_pool_name == "nightly"
    runs = _wait_for(
        lambda: _scheduled_runs(deployment.id), 90, "scheduled runs", server.logs / "server.log"
    )
    starts = sorted(run.expected_start_time.astimezone(UTC) for run in runs)
    assert all((t.hour, t.minute) == (3, 0) for t in starts)
    assert starts[0] > datetime.now(UTC)


def test_serve_registers_an_interval_deployment_with_planned_runs(server, tmp_path):
    # Setup
    job = _write_job(tmp_path / "wine.yaml", "wine-served", tmp_path)
    log = tmp_path / "serve.log"

    def served() -> Any:
        from prefect.exceptions import ObjectNotFound

        with _client() as client:
            try:
                return client.read_deployment_by_name("synthpipe-job/wine-served")
            except ObjectNotFound:
                return None

    # Run
    serving = _start(["synthpipe.cli", "serve", str(job), "--interval", "6h"], server.env, log)
    try:
        deployment = _wait_for(served, 120, "the served deployment", log)
        runs = _wait_for(lambda: _scheduled_runs(deployment.id), 90, "scheduled runs", log)
        still_serving = serving.poll() is None
    finally:
        _stop(serving)

    # Assert
    assert still_serving
    assert [s.schedule.interval for s in deployment.schedules] == [timedelta(hours=6)]
    assert deployment.work_pool_name is None  # served from the process, not a pool
    starts = sorted(run.expected_start_time for run in runs)
    assert all(b - a == timedelta(hours=6) for a, b in pairwise(starts))
