"""Where `synth run` runs (`--mode`, a configured or recorded server), and `synth server
start|status|stop`."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from flows.launch import Mode, plan
from job.config import load_job
from synthpipe.cli import app

runner = CliRunner()


def _job(tmp_path, **overrides):
    job = {
        "dataset": "wine-mode",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 100,
        "root": str(tmp_path / "store"),
        **overrides,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


@pytest.fixture
def no_server(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("SYNTHPIPE_CONFIG_DIR", str(tmp_path / "config"))


@pytest.mark.usefixtures("no_server")
@pytest.mark.parametrize(
    ("mode", "runner_kind", "local"),
    [
        (Mode.AUTO, "threads", True),
        (Mode.AUTO, "dask", False),  # the Dask runner is a Prefect task runner
        (Mode.LOCAL, "dask", True),
        (Mode.PREFECT, "threads", False),
    ],
)
def test_plan_without_a_server(tmp_path, mode, runner_kind, local):
    # Setup
    job = load_job(_job(tmp_path, runner={"kind": runner_kind}))

    # Run
    chosen = plan(job, mode)

    # Assert: a flow without a server gets a temporary one (api_url None).
    assert chosen.local is local
    assert chosen.api_url is None


@pytest.mark.usefixtures("no_server")
def test_plan_auto_reports_to_a_configured_server(tmp_path, monkeypatch):
    # Setup
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    job = load_job(_job(tmp_path))

    # Run
    chosen, local = plan(job, Mode.AUTO), plan(job, Mode.LOCAL)

    # Assert
    assert not chosen.local and chosen.api_url == "http://127.0.0.1:9/api"
    assert local.local


@pytest.mark.usefixtures("no_server")
def test_run_without_a_server_runs_locally(tmp_path):
    # Run
    result = runner.invoke(app, ["run", str(_job(tmp_path))])

    # Assert
    assert result.exit_code == 0, result.output
    assert "Running locally: no Prefect server configured" in result.output
    assert "Published wine-mode@1 (100 rows)" in result.output


@pytest.mark.slow
@pytest.mark.usefixtures("no_server")
def test_server_start_is_reused_by_run_and_deploy_then_stopped(tmp_path):
    import socket

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])

    # Run
    started = runner.invoke(app, ["server", "start", "--port", port])
    try:
        again = runner.invoke(app, ["server", "start", "--port", port])
        status = runner.invoke(app, ["server", "status"])
        ran = runner.invoke(app, ["run", str(_job(tmp_path))])
        # Prefect's own settings name no server either (another test may have set them).
        with temporary_settings(restore_defaults={PREFECT_API_URL}):
            deployed = runner.invoke(app, ["deploy", str(_job(tmp_path)), "--cron", "0 3 * * *"])
    finally:
        stopped = runner.invoke(app, ["server", "stop"])
    after = runner.invoke(app, ["server", "status"])

    # Assert
    url = f"http://127.0.0.1:{port}/api"
    assert started.exit_code == 0, started.output
    assert f"Starting a Prefect server on 127.0.0.1:{port}" in started.output  # before the wait
    assert f"Prefect server at {url}" in again.output  # the running one, not a second one
    assert "Starting" not in again.output
    assert status.exit_code == 0 and f"Running: {url}" in status.output
    assert ran.exit_code == 0, ran.output
    assert f"Running as a Prefect flow: Prefect server at {url}" in ran.output
    assert deployed.exit_code == 0, deployed.output  # to the recorded server, not refused
    assert "Deployed synthpipe-job/wine-mode to work pool 'cpu'" in deployed.output
    assert f"Stopped the Prefect server at {url}" in stopped.output
    assert after.exit_code == 1 and "`synth run` runs locally" in after.output
