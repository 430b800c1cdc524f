"""Deployments of the generation flow: `synth deploy` (work pool) and `synth serve` (this process).

A deployment runs `run_job` with the resolved job as its one JSON parameter: the deployment is
self-contained and the Prefect UI shows (and can edit) the job. Prefect's own server, scheduler,
work pools and workers do the rest; nothing here schedules or queues.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from prefect import flow, serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings
from pydantic import ValidationError

from core.errors import ConfigError
from flows.generate import generate_dataset
from flows.server import running_server
from job.config import JobConfig, parse_job

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENTRYPOINT = "flows/deploy.py:run_job"
INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@flow(name="synthpipe-job")
def run_job(job: dict[str, Any]) -> str:
    """Deployment entry point: validate the job like a job file (the image or table job type and
    its defaults, readable errors), then run the generation flow on it as a subflow."""
    return generate_dataset(parse_job(job, origin="The deployment's `job` parameter"))


FLOW_NAME = run_job.name


@dataclass(frozen=True)
class Schedule:
    """At most one of a cron string (server time zone: UTC) or an interval."""

    cron: str | None = None
    interval: timedelta | None = None

    def __post_init__(self) -> None:
        if self.cron is not None and self.interval is not None:
            raise ConfigError("Give either --cron or --interval, not both.")
        if self.cron is not None:
            try:
                CronSchedule(cron=self.cron)
            except ValidationError:
                raise ConfigError(
                    f"--cron {self.cron!r} is not a valid cron string; use five fields "
                    "'minute hour day-of-month month day-of-week', e.g. '0 3 * * *' (03:00 daily)."
                ) from None

    @classmethod
    def parse(cls, cron: str | None, interval: str | None) -> Schedule:
        return cls(cron=cron, interval=parse_interval(interval) if interval is not None else None)

    def as_kwargs(self) -> dict[str, Any]:
        """The `cron=` / `interval=` arguments of Prefect's deploy and to_deployment."""
        return {k: v for k, v in {"cron": self.cron, "interval": self.interval}.items() if v}

    def describe(self) -> str:
        if self.cron:
            return f"cron {self.cron!r} (UTC)"
        return f"every {self.interval}" if self.interval else "no schedule (runs on demand)"


def parse_interval(text: str) -> timedelta:
    """`90`, `90s`, `15m`, `6h` or `1d` -> a positive timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    seconds = float(match[1]) * INTERVAL_UNITS[match[2] or "s"] if match else 0.0
    if seconds <= 0:
        raise ConfigError(
            f"--interval {text!r} is not a positive duration; give seconds or a number with "
            "a unit s, m, h or d, e.g. 3600 or 6h."
        )
    return timedelta(seconds=seconds)


def deployment_name(job: JobConfig) -> str:
    return job.dataset


def job_parameters(job: JobConfig) -> dict[str, Any]:
    return {"job": job.model_dump(mode="json")}


@contextmanager
def on_server(command: str = "synth deploy") -> Iterator[str]:
    """Prefect's client settings pointed at the server deployments go to, yielding its API URL:
    the one Prefect is configured with (PREFECT_API_URL, or a Prefect profile), else the one
    `synth server start` recorded and that still answers. Deployments need a server that outlives
    this process and runs the scheduler: the embedded server Prefect starts per process runs no
    scheduler (measured with Prefect 3.8: a served interval deployment never got a run), so
    schedules would not fire and no other server is started here.

    Raises ConfigError, saying how to start one, when there is neither."""
    url = get_current_settings().api.url
    if url:
        yield url
        return
    recorded = running_server()
    if recorded is None:
        raise ConfigError(
            f"{command} needs a Prefect server (the embedded per-process one has no scheduler): "
            "start one with `synth server start` (or `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api)."
        )
    # Set, not just used here: the flow runs `synth serve` starts inherit set settings.
    with temporary_settings({PREFECT_API_URL: recorded.url}):
        yield recorded.url


def ensure_pool(pool: str | None, resource: str) -> tuple[str, bool]:
    """The work pool a deployment goes to, and whether it was created here. A pool named with
    --pool must exist (a typo must not create one); the default pool, named after the job's
    resource (`cpu`, `gpu`), is created as a process pool when the server has none."""
    url = get_current_settings().api.url
    name = pool or resource
    try:
        with get_client(sync_client=True) as client:
            try:
                client.read_work_pool(name)
                return name, False
            except ObjectNotFound:
                if pool is None:
                    client.create_work_pool(WorkPoolCreate(name=name, type="process"))
                    return name, True
                known = sorted(p.name for p in client.read_work_pools())
                raise ConfigError(
                    f"Work pool {name!r} does not exist on the Prefect server at {url} (pools: "
                    f"{known}). Create it with `prefect work-pool create {name} --type process` "
                    "or pick one with --pool."
                ) from None
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"Cannot reach the Prefect server at {url} ({exc}); start it with "
            "`prefect server start` or fix PREFECT_API_URL."
        ) from None


@dataclass(frozen=True)
class Deployed:
    id: UUID
    pool: str
    created_pool: bool  # the default pool did not exist and was created as a process pool


def deploy_job(job: JobConfig, schedule: Schedule, pool: str | None = None) -> Deployed:
    """Create or update the job's deployment in a work pool (default: the pool named after the
    job's resource, `cpu` or `gpu`, created if missing). Workers of that pool run it from
    PROJECT_DIR. The server is the one `on_server` finds."""
    with on_server():
        return _deploy(job, schedule, pool)


def _deploy(job: JobConfig, schedule: Schedule, pool: str | None) -> Deployed:
    name, created = ensure_pool(pool, job.resource)
    source_flow = run_job.from_source(source=str(PROJECT_DIR), entrypoint=ENTRYPOINT)
    deployment_id = source_flow.deploy(
        name=deployment_name(job),
        work_pool_name=name,
        parameters=job_parameters(job),
        tags=[f"resource:{job.resource}"],
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,  # a process pool is the intended setup, not a local-dev fallback
        **schedule.as_kwargs(),
    )
    return Deployed(id=deployment_id, pool=name, created_pool=created)


def serve_jobs(jobs: list[JobConfig], schedule: Schedule) -> None:
    """Serve one deployment per job from this process until interrupted (Prefect's `serve`), on
    the server `on_server` finds."""
    names = [deployment_name(job) for job in jobs]
    if len(set(names)) != len(names):
        raise ConfigError(f"Each served job needs its own dataset name; got {names}.")
    with on_server("synth serve"):
        deployments = [
            run_job.to_deployment(
                name=deployment_name(job),
                parameters=job_parameters(job),
                tags=[f"resource:{job.resource}"],
                **schedule.as_kwargs(),
            )
            for job in jobs
        ]
        serve(*deployments)
